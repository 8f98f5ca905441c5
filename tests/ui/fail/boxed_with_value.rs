use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(critical, boxed = true)]
async fn balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
