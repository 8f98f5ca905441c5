use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// The timeout would end the call before its hedge could start.
#[task(critical, timeout = "50ms", hedge = "50ms")]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
