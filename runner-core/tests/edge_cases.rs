//! Edge cases on both engines: ties with a spent coop budget, equal timeout and deadline,
//! durations too long to represent, a panic in a future's `Drop`.

mod support;

use std::future::{Future, pending};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use runner_core::{FanOutError, Task, TaskError};
use support::{Boom, Config, Engine, elapsed_ms, ms};
use tokio::time::Instant;

/// Spends the whole coop budget on every poll, forever.
async fn burn() -> Result<u32, Boom> {
    loop {
        tokio::task::coop::consume_budget().await;
    }
}

/// Finishes exactly at the deadline it runs under.
async fn until_the_deadline(value: u32) -> Result<u32, Boom> {
    let deadline = runner_core::deadline().expect("runs under a deadline");
    tokio::time::sleep_until(deadline).await;
    Ok(value)
}

async fn work_ready_at_the_deadline_wins_even_when_the_budget_is_spent<E: Engine>() {
    let start = Instant::now();
    // Burners keep the runtime busy, so the paused clock is moved by hand.
    let run = E::run3(
        Task::best_effort("burn_1", burn()),
        Task::best_effort("burn_2", burn()),
        Task::critical("balance", until_the_deadline(7)),
        Config::deadline(30),
    );
    let ((result, _), ()) = tokio::join!(run, tokio::time::advance(ms(30)));
    let (burn_1, burn_2, balance) = result.unwrap();
    assert_eq!(balance, 7);
    assert!(matches!(burn_1, Err(TaskError::DeadlineExceeded)));
    assert!(matches!(burn_2, Err(TaskError::DeadlineExceeded)));
    assert_eq!(elapsed_ms(start), 30);
}

/// Wakes itself on every poll, forever.
struct Spin;

impl Future for Spin {
    type Output = Result<u32, Boom>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn work_ready_at_the_deadline_wins_among_tasks_that_wake_themselves<E: Engine>() {
    let run = E::run3(
        Task::best_effort("spin_1", Spin),
        Task::best_effort("spin_2", Spin),
        Task::critical("balance", until_the_deadline(8)),
        Config::deadline(30),
    );
    let ((result, _), ()) = tokio::join!(run, tokio::time::advance(ms(30)));
    assert_eq!(result.unwrap().2, 8);
}

async fn a_timeout_equal_to_the_deadline_names_every_pending_critical_task<E: Engine>() {
    let (result, _) = E::run2(
        Task::critical("wallet", pending::<Result<u32, Boom>>()),
        Task::critical("ledger", pending::<Result<u32, Boom>>()).timeout(ms(30)),
        Config::deadline(30),
    )
    .await;
    match result.unwrap_err() {
        FanOutError::DeadlineExceeded { pending, elapsed } => {
            assert_eq!(pending, ["wallet", "ledger"]);
            assert_eq!(elapsed, ms(30));
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
}

async fn durations_too_long_to_represent_are_no_limit<E: Engine>() {
    let (result, _) = E::run1(
        Task::critical("balance", async { Ok(1) }).timeout(Duration::MAX),
        Config {
            deadline: Some(Duration::MAX),
            cancel: None,
        },
    )
    .await;
    assert_eq!(result.unwrap().0, 1);
}

/// Panics when dropped.
struct PanicsOnDrop;

impl Future for PanicsOnDrop {
    type Output = Result<u32, Boom>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

async fn a_panic_in_a_futures_drop_stays_inside_the_task<E: Engine>() {
    let (result, _) = E::run2(
        Task::critical("balance", async {
            tokio::time::sleep(ms(20)).await;
            Ok(1)
        }),
        Task::best_effort("card", PanicsOnDrop).timeout(ms(10)),
        Config::default(),
    )
    .await;
    let (balance, card) = result.unwrap();
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::TimedOut(_))));
}

on_both_engines!(
    work_ready_at_the_deadline_wins_even_when_the_budget_is_spent,
    work_ready_at_the_deadline_wins_among_tasks_that_wake_themselves,
    a_timeout_equal_to_the_deadline_names_every_pending_critical_task,
    durations_too_long_to_represent_are_no_limit,
    a_panic_in_a_futures_drop_stays_inside_the_task,
);
