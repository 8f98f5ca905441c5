use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(critical)]
async fn get_balance(user_id: u64) {
    let _ = user_id;
}

fn main() {}
