#![deny(warnings)]

//! `?` on a task's result in the shapes application code has: a task awaited alone into
//! anyhow, into an error enum of the application's, and into a `FanOutError`; and a run with
//! `report;`.

use runner_core::{FanOutError, TaskError, fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[task(critical, timeout = "200ms")]
async fn balance(user: u64) -> Result<u64, WalletError> {
    Ok(user)
}

#[task(best_effort, timeout = "150ms")]
async fn card(user: u64) -> Result<u32, WalletError> {
    Ok(user as u32)
}

/// `TaskError<E>` is an `Error`: anyhow takes it as it is.
async fn into_anyhow(user: u64) -> anyhow::Result<u64> {
    Ok(balance(user).await?)
}

/// An error enum of the application's holds it with one `#[from]`.
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Wallet(#[from] TaskError<WalletError>),
}

async fn into_own_enum(user: u64) -> Result<u64, HandlerError> {
    Ok(balance(user).await?)
}

/// A `FanOutError`, naming the task: a fan-out of the one task.
async fn into_fan_out_error(user: u64) -> Result<u64, FanOutError> {
    let (balance,) = fan_out!(balance(user)).await?;
    Ok(balance)
}

/// With `report;`, the result is the first of the pair.
async fn with_report(user: u64) -> Result<(u64, Option<u32>), FanOutError> {
    let (result, report) = fan_out!(report; balance(user), card(user)).await;
    let (balance, card) = result?;
    assert_eq!(report.tasks().len(), 2);
    Ok((balance, card.ok()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(into_anyhow(1).await.unwrap(), 1);
    assert_eq!(into_own_enum(2).await.unwrap(), 2);
    assert_eq!(into_fan_out_error(3).await.unwrap(), 3);
    assert_eq!(with_report(4).await.unwrap(), (4, Some(4)));
}
