use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// A call may start 1 to 8 hedges: each is an attempt held in the task's state.
#[task(critical, hedge(after = "50ms", max = 9))]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {}
