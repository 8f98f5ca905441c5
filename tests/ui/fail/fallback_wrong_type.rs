use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// A fallback gets why the task failed, `&TaskError<WalletError>`, not the bare error.
fn no_balance(_error: &WalletError) -> u64 {
    0
}

#[task(critical, fallback = no_balance)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
