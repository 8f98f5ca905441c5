use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

fn retry_after(_: &WalletError) -> Option<std::time::Duration> {
    None
}

#[task(critical, retry(attempts = 3), retry_delay_from = retry_after)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
