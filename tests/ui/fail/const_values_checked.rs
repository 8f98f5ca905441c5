use std::time::Duration;

use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

const NO_TIME: Duration = Duration::ZERO;
const NO_ATTEMPTS: u32 = 0;

#[task(critical, timeout = NO_TIME)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

#[task(critical, retry(attempts = NO_ATTEMPTS))]
async fn get_card(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {
    let _ = get_balance(1);
    let _ = get_card(1);
}
