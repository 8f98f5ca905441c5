use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
    Ok(user_id)
}

#[task(best_effort)]
async fn get_scratch_card(user_id: u64) -> Result<String, Unavailable> {
    Ok(user_id.to_string())
}

async fn handler() {
    let token = 5_u8;
    let _ = fan_out!(cancel = token; get_balance(1)).await;
}

fn main() {}
