use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

const WALLET_TIMEOUT_MS: u64 = 200;

#[task(critical, timeout = WALLET_TIMEOUT_MS)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {
    let _ = get_balance(1);
}
