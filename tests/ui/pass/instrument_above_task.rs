#![deny(warnings)]

//! `#[tracing::instrument]` above `#[task]`: it instruments the body, which is the task's
//! future, so its span is open for as long as the task runs.

use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[tracing::instrument]
#[task(critical, timeout = "200ms")]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    tracing::info!("inside the span");
    Ok(user_id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_balance(7).await.unwrap(), 7);
}
