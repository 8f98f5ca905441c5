use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// The fn is kept as written beside the error, so its callers raise no second error.
#[task(critical, retries = 3)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

async fn caller() -> Result<u64, WalletError> {
    get_balance(1).await
}

fn main() {
    let _ = caller();
}
