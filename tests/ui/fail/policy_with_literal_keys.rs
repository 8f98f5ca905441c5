use std::sync::LazyLock;

use runner_core::{Policy, task};

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

static WALLET: LazyLock<Policy> = LazyLock::new(|| Policy::builder().build().unwrap());

#[task(critical, policy = WALLET, retry(attempts = 3), limit = 8)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    Ok(user_id)
}

fn main() {
    let _ = get_balance(1);
}
