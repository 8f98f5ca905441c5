use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// `when` gets the task's own error, `&WalletError`.
fn retryable(code: &u16) -> bool {
    *code >= 500
}

#[task(critical, retry(attempts = 3, when = retryable))]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
