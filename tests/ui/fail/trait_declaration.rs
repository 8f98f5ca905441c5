use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

trait Wallet {
    #[task(critical)]
    async fn balance(&self, user_id: u64) -> Result<u64, WalletError>;
}

fn main() {}
