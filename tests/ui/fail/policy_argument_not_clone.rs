use std::sync::Arc;

use runner_core::{Policy, task};

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

struct Wallet {
    policy: Arc<Policy>,
}

struct Request(u64);

impl Wallet {
    // The policy may retry: each attempt needs its own `Request`.
    #[task(critical, policy = self.policy)]
    async fn get_balance(&self, request: Request) -> Result<u64, WalletError> {
        Ok(request.0)
    }
}

fn main() {
    let wallet = Wallet {
        policy: Arc::new(Policy::builder().build().unwrap()),
    };
    let _ = wallet.get_balance(Request(1));
}
