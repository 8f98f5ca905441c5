use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// A mistake in the arguments still expands the fn, so its callers see a task: the unknown
// key is the only error, not also "not a task" at the `fan_out!` below.
#[task(critical, retries = 3)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

async fn caller() -> Result<u64, runner_core::FanOutError> {
    let (balance,) = fan_out!(get_balance(1)).await?;
    Ok(balance)
}

fn main() {
    let _ = caller();
}
