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
    let _ = fan_out!(
        get_balance(1), get_balance(2), get_balance(3), get_balance(4), get_balance(5),
        get_balance(6), get_balance(7), get_balance(8), get_balance(9), get_balance(10),
        get_balance(11), get_balance(12), get_balance(13), get_balance(14), get_balance(15),
        get_balance(16), get_balance(17),
    )
    .await;
}

fn main() {}
