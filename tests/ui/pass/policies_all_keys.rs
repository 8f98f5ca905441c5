//! Every policy key of `#[task]`: all of `retry(...)`'s keys, both forms of `hedge` and of
//! `limit`, `breaker(...)` with its `when` fn, a fallback, and the keys without `retry` or
//! `hedge`, where the arguments need not be `Clone`. The slots keep their types in
//! `fan_out!`, and warnings are errors here, so the expansion adds none.

#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};

use runner_core::{fan_out, task, TaskError};

#[derive(Debug, thiserror::Error)]
enum WalletError {
    #[error("wallet busy")]
    Busy,
    #[error("no such user")]
    NotFound,
}

/// `when` takes a path, so it may name a fn in another module.
mod rules {
    use super::WalletError;

    pub fn retryable(error: &WalletError) -> bool {
        matches!(error, WalletError::Busy)
    }

    pub fn counts_against_wallet(error: &WalletError) -> bool {
        !matches!(error, WalletError::NotFound)
    }
}

fn zero_balance(_error: &TaskError<WalletError>) -> u64 {
    0
}

fn no_history(_error: &TaskError<WalletError>) -> Vec<u64> {
    Vec::new()
}

static BALANCE_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(
    critical,
    timeout = "1s",
    retry(
        attempts = 3,
        backoff = "10ms",
        max_backoff = "200ms",
        budget = 0.2,
        budget_window = "10s",
        min_per_sec = 10,
        when = rules::retryable,
    ),
    hedge = "50ms",
    breaker(failures = 5, window = "10s", cooldown = "5s", rate = 0.5, when = rules::counts_against_wallet),
    limit = 32,
    fallback = zero_balance,
)]
async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
    // The first attempt finds the wallet busy; the retry gets through.
    if BALANCE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(WalletError::Busy);
    }
    Ok(user_id * 100)
}

#[task(best_effort, hedge(after = "20ms", max = 2), limit(max = 4, reject), fallback = no_history)]
async fn get_history(user_id: u64) -> Result<Vec<u64>, WalletError> {
    match user_id {
        0 => Err(WalletError::NotFound),
        id => Ok(vec![id, id + 1]),
    }
}

/// Not `Clone`: fine without `retry` or `hedge`, whose attempts each need a copy.
struct Ticket(u64);

#[task(best_effort, breaker(failures = 1, window = "1s", cooldown = "1s"), limit = 1, fallback = zero_balance)]
async fn redeem(ticket: Ticket) -> Result<u64, WalletError> {
    Ok(ticket.0)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let (balance, history, missing, redeemed): (
        u64,
        Result<Vec<u64>, TaskError<WalletError>>,
        Result<Vec<u64>, TaskError<WalletError>>,
        Result<u64, TaskError<WalletError>>,
    ) = fan_out!(get_balance(7), get_history(3), get_history(0), redeem(Ticket(5)))
        .await
        .unwrap();
    assert_eq!(balance, 700);
    assert_eq!(BALANCE_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(history.unwrap(), [3, 4]);
    // The fallback answers for the missing user.
    assert_eq!(missing.unwrap(), Vec::<u64>::new());
    assert_eq!(redeemed.unwrap(), 5);
}
