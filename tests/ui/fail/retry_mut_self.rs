use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

struct Wallet {
    calls: u64,
}

impl Wallet {
    // Each attempt runs the body anew, and hedged attempts run at once: they can share
    // `&self`, not `&mut self`.
    #[task(critical, retry(attempts = 3))]
    async fn get_balance(&mut self, user_id: u64) -> Result<u64, WalletError> {
        self.calls += 1;
        Ok(user_id)
    }
}

fn main() {}
