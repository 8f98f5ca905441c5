use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
    Ok(user_id)
}

async fn handler() {
    let _ = fan_out!(deadline = "300ms", get_balance(1)).await;
}

fn main() {}
