use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(best_effort)]
async fn get_balance(user_id: u64) -> Result<u64, String> {
    Ok(user_id)
}

fn main() {}
