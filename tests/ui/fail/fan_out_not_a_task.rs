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

async fn not_annotated(user_id: u64) -> Result<u64, Unavailable> {
    Ok(user_id)
}

async fn handler() {
    let _ = fan_out!(get_balance(1), not_annotated(2)).await;
}

fn main() {}
