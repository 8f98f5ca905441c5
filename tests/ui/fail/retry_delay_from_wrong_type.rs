use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[derive(Debug)]
struct Response;

// Reads a response, not the task's error.
fn retry_after(_: &Response) -> Option<std::time::Duration> {
    None
}

#[task(critical, retry(attempts = 3, delay_from = retry_after))]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
