use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(critical, breaker(failures = 5, window = "10s", cooldown = "5s", threshold = 0.5))]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
