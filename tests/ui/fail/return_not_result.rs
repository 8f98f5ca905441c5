use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(critical)]
async fn get_balance(user_id: u64) -> u64 {
    user_id
}

fn main() {}
