//! The example of the issue, as written: two services fanned out, typed slots.

#![deny(warnings)]

use runner_core::{fan_out, task, FanOutError, TaskError};

#[derive(Debug, PartialEq)]
struct Balance {
    amount_minor: i64,
}

#[derive(Debug, PartialEq)]
struct ScratchCard {
    prize: String,
}

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[derive(Debug, thiserror::Error)]
#[error("scratch-card service unavailable")]
struct CardError;

#[task(critical, timeout = "200ms")]
async fn get_balance(user_id: u64) -> Result<Balance, WalletError> {
    Ok(Balance { amount_minor: user_id as i64 * 100 })
}

#[task(best_effort, timeout = "150ms")]
async fn get_scratch_card(user_id: u64) -> Result<ScratchCard, CardError> {
    if user_id % 2 == 0 {
        Ok(ScratchCard { prize: "free spin".to_owned() })
    } else {
        Err(CardError)
    }
}

async fn page(id: u64) -> Result<(Balance, Option<ScratchCard>), FanOutError> {
    let (balance, card): (Balance, Result<ScratchCard, TaskError<CardError>>) =
        fan_out!(get_balance(id), get_scratch_card(id)).await?;
    Ok((balance, card.ok()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (balance, card) = page(2).await.unwrap();
    assert_eq!(balance, Balance { amount_minor: 200 });
    assert_eq!(card.unwrap().prize, "free spin");
    let (_, card) = page(3).await.unwrap();
    assert!(card.is_none());
}
