//! Edge cases on every engine (the static, the dynamic, and the dynamic handing out each
//! task as it ends): ties with a spent coop budget, equal timeout and deadline, durations
//! too long to represent, a panic in a future's `Drop`, a cancellation made inside a task's
//! poll.

mod support;

use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use runner_core::{CancellationToken, FanOutError, Task, TaskError};
use support::{Act, Boom, Config, Engine, PanicsOnDrop, Probe, elapsed_ms, ms};
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

/// A task's own timeout comes back in its error as configured, to the nanosecond, a zero one
/// too; the report's elapsed times are tokio's timer's, which fires at its next millisecond.
async fn an_own_timeout_comes_back_exactly_as_configured<E: Engine>() {
    let odd = Duration::new(0, 10_000_007);
    let (result, records) = E::run2(
        Task::best_effort("zero", pending::<Result<u32, Boom>>()).timeout(Duration::ZERO),
        Task::best_effort("odd", pending::<Result<u32, Boom>>()).timeout(odd),
        Config::default(),
    )
    .await;
    let (zero, odd_result) = result.unwrap();
    assert!(
        matches!(zero, Err(TaskError::TimedOut(timeout)) if timeout == Duration::ZERO),
        "{zero:?}"
    );
    assert!(
        matches!(odd_result, Err(TaskError::TimedOut(timeout)) if timeout == odd),
        "{odd_result:?}"
    );
    assert_eq!(records[0].elapsed, Duration::ZERO);
    assert!(
        (odd..odd + ms(1)).contains(&records[1].elapsed),
        "{:?}",
        records[1].elapsed
    );
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

/// Dropped mid-run, the run drops every task, even when one of them panics in its `Drop`,
/// and that panic stays inside the task: the caller's drop returns normally.
async fn dropping_a_run_drops_every_task_even_when_one_panics_in_its_drop<E: Engine>() {
    let probe = Probe::new();
    let run = E::run3(
        Task::best_effort("first", probe.task(0, Act::Hang, 1)),
        Task::best_effort("card", PanicsOnDrop),
        Task::critical("last", probe.task(0, Act::Hang, 3)),
        Config::default(),
    );
    // Every task has started when the run is dropped.
    assert!(tokio::time::timeout(ms(10), run).await.is_err());
    assert_eq!(probe.started(), 2);
    assert_eq!(probe.alive(), 0, "every task was dropped");
}

/// Completes at once, after cancelling `token`.
fn cancels(token: &CancellationToken) -> impl Future<Output = Result<u32, Boom>> + use<> {
    let token = token.clone();
    async move {
        token.cancel();
        Ok(1)
    }
}

/// Completes on its first poll, counting its polls in `polls`.
fn counted(polls: &Arc<AtomicUsize>) -> impl Future<Output = Result<u32, Boom>> + use<> {
    let polls = polls.clone();
    poll_fn(move |_| {
        polls.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(2))
    })
}

/// A task that cancels the run's token inside its poll: no task is polled after it, and the
/// run is cancelled, although every task completed.
async fn a_cancel_inside_a_task_stops_the_tasks_polled_after_it<E: Engine>() {
    let token = CancellationToken::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let (result, _) = E::run3(
        Task::best_effort("cancels", cancels(&token)),
        Task::best_effort("after", counted(&polls)),
        Task::critical("last", counted(&polls)),
        Config::cancel(&token),
    )
    .await;
    assert!(matches!(result, Err(FanOutError::Cancelled)), "{result:?}");
    assert_eq!(
        polls.load(Ordering::SeqCst),
        0,
        "no task polled after the cancel"
    );
}

/// An error that panics when dropped.
#[derive(Debug, thiserror::Error)]
#[error("loud")]
struct Loud;

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("error dropped");
    }
}

/// A critical task that cancels the run's token and fails in the same poll: the run is
/// cancelled, and the engine drops the task's error, which panics, inside the boundary.
#[tokio::test(start_paused = true)]
async fn an_error_the_engine_drops_is_dropped_inside_the_boundary() {
    fn fails_after_cancelling(
        token: &CancellationToken,
    ) -> Task<impl Future<Output = Result<u32, Loud>> + use<>, runner_core::Critical> {
        let token = token.clone();
        Task::critical("fails", async move {
            token.cancel();
            Err(Loud)
        })
    }
    let token = CancellationToken::new();
    let result = runner_core::FanOut::new((fails_after_cancelling(&token),))
        .cancel_on(token)
        .await;
    assert!(matches!(result, Err(FanOutError::Cancelled)));

    let token = CancellationToken::new();
    let mut runner = runner_core::TaskRunner::new().cancel_on(token.clone());
    let _fails = runner.add(fails_after_cancelling(&token));
    assert!(matches!(
        runner.run_all().await,
        Err(FanOutError::Cancelled)
    ));
}

/// A panic payload that panics again when dropped.
struct PayloadPanicsOnDrop;

impl Drop for PayloadPanicsOnDrop {
    fn drop(&mut self) {
        panic!("payload dropped");
    }
}

/// The payload of a caught panic is dropped inside the task boundary too.
async fn a_panic_whose_payload_panics_when_dropped_stays_inside_the_task<E: Engine>() {
    let (result, _) = E::run2(
        Task::best_effort("card", async {
            std::panic::panic_any(PayloadPanicsOnDrop);
        }),
        Task::critical("balance", async { Ok(1) }),
        Config::default(),
    )
    .await;
    let (card, balance) = result.unwrap();
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::Panicked(_))), "{card:?}");
}

/// A run whose deadline has already come when it is first polled starts no task: a zero
/// deadline, or one inherited from a task whose time is up.
async fn a_run_past_its_deadline_starts_no_task<E: Engine>() {
    let probe = Probe::new();
    let (result, records) = E::run2(
        Task::best_effort("card", probe.task(0, Act::Ok, 1)),
        Task::best_effort("offer", probe.task(0, Act::Ok, 2)),
        Config::deadline(0),
    )
    .await;
    let (card, offer) = result.unwrap();
    assert!(matches!(card, Err(TaskError::DeadlineExceeded)), "{card:?}");
    assert!(
        matches!(offer, Err(TaskError::DeadlineExceeded)),
        "{offer:?}"
    );
    assert_eq!(probe.started(), 0);
    assert!(records.iter().all(|r| r.elapsed == Duration::ZERO));

    let (result, _) = E::run2(
        Task::best_effort("card", probe.task(0, Act::Ok, 1)),
        Task::critical("balance", probe.task(0, Act::Ok, 2)),
        Config::deadline(0),
    )
    .await;
    assert!(
        matches!(result, Err(FanOutError::DeadlineExceeded { ref pending, .. }) if pending == &["balance"]),
        "{result:?}"
    );
    assert_eq!(probe.started(), 0);
}

/// Cancels `token` once its 10 ms are up, then stays pending, counting its polls from then.
fn cancels_at_10_ms(
    token: &CancellationToken,
    polls: &Arc<AtomicUsize>,
) -> impl Future<Output = Result<u32, Boom>> + use<> {
    let (token, polls) = (token.clone(), polls.clone());
    async move {
        tokio::time::sleep(ms(10)).await;
        token.cancel();
        poll_fn(|_| {
            polls.fetch_add(1, Ordering::SeqCst);
            Poll::<Result<u32, Boom>>::Pending
        })
        .await
    }
}

/// A task that cancels the run's token at the instant its own timeout fires gets no last
/// chance after that: no task is polled once the token is cancelled.
async fn no_last_chance_after_a_cancel<E: Engine>() {
    let token = CancellationToken::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let (result, _) = E::run2(
        Task::best_effort("cancels", cancels_at_10_ms(&token, &polls)).timeout(ms(10)),
        Task::best_effort("other", pending::<Result<u32, Boom>>()),
        Config::cancel(&token),
    )
    .await;
    assert!(matches!(result, Err(FanOutError::Cancelled)), "{result:?}");
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "polled only in the poll that cancelled"
    );
}

on_every_engine!(
    no_last_chance_after_a_cancel,
    a_panic_whose_payload_panics_when_dropped_stays_inside_the_task,
    a_run_past_its_deadline_starts_no_task,
    dropping_a_run_drops_every_task_even_when_one_panics_in_its_drop,
    a_cancel_inside_a_task_stops_the_tasks_polled_after_it,
    work_ready_at_the_deadline_wins_even_when_the_budget_is_spent,
    work_ready_at_the_deadline_wins_among_tasks_that_wake_themselves,
    a_timeout_equal_to_the_deadline_names_every_pending_critical_task,
    durations_too_long_to_represent_are_no_limit,
    an_own_timeout_comes_back_exactly_as_configured,
    a_panic_in_a_futures_drop_stays_inside_the_task,
);
