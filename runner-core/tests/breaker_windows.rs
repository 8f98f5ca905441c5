//! The sliding-window breaker's rules where calls overlap, time runs out and settings change,
//! on tokio's paused clock; `breaker_model.rs` checks the state machine call by call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{
    BestEffort, Breaker, BreakerState, BreakerTrip, EventKind, Observer, Options, Policy,
    PolicyEvent, Rejection, Task, TaskError, fan_out,
};
use tokio::time::sleep;

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum CardError {
    #[error("busy, retry after {0:?}")]
    Busy(Duration),
    #[error("unavailable")]
    Unavailable,
}

fn retry_after(error: &CardError) -> Option<Duration> {
    match *error {
        CardError::Busy(after) => Some(after),
        CardError::Unavailable => None,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The breaker openings a policy reports.
#[derive(Default)]
struct Openings(Mutex<Vec<EventKind>>);

impl Observer for Openings {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        if let kind @ EventKind::BreakerOpened { .. } = event.kind {
            self.0.lock().unwrap().push(kind);
        }
    }
}

impl Openings {
    fn take(&self) -> Vec<EventKind> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    fn cooldowns(&self) -> Vec<Duration> {
        self.take()
            .into_iter()
            .map(|kind| match kind {
                EventKind::BreakerOpened { cooldown, .. } => cooldown,
                other => unreachable!("{other:?}"),
            })
            .collect()
    }
}

fn observed(breaker: Breaker) -> (Policy, Arc<Openings>) {
    let openings = Arc::new(Openings::default());
    let policy = Policy::builder()
        .breaker(breaker)
        .observer(openings.clone())
        .build()
        .unwrap();
    (policy, openings)
}

/// A task through `policy` that takes `latency` and then gives `result`.
fn card(
    policy: &Policy,
    latency: Duration,
    result: Result<u32, CardError>,
) -> Task<impl Future<Output = Result<u32, CardError>> + '_, BestEffort> {
    let options = Options::new().cooldown_from(retry_after);
    let attempt = move || async move {
        sleep(latency).await;
        result
    };
    policy.task("card", attempt, options)
}

async fn call(
    policy: &Policy,
    latency: Duration,
    result: Result<u32, CardError>,
) -> Result<u32, TaskError<CardError>> {
    card(policy, latency, result).await
}

fn refused<T: std::fmt::Debug>(result: Result<T, TaskError<CardError>>) -> bool {
    matches!(result, Err(TaskError::Rejected(Rejection::BreakerOpen)))
}

async fn fail(policy: &Policy, times: usize) {
    for _ in 0..times {
        let _ = call(policy, ms(0), Err(CardError::Unavailable)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_half_open_trial_lets_its_calls_through_together_and_refuses_the_rest() {
    let (policy, openings) = observed(Breaker::count_based(4, ms(1_000)).half_open(2, 0.5));
    fail(&policy, 4).await;
    assert_eq!(
        openings.take(),
        [EventKind::BreakerOpened {
            cause: BreakerTrip::Failures,
            calls: 4,
            failures: 4,
            slow: 0,
            cooldown: ms(1_000),
        }]
    );
    sleep(ms(1_000)).await;
    // Three at once: two in the trial, the third refused while they run.
    let (first, second, third) = fan_out!(
        card(&policy, ms(10), Ok(1)),
        card(&policy, ms(10), Err(CardError::Unavailable)),
        card(&policy, ms(10), Ok(3)),
    )
    .await
    .unwrap();
    assert_eq!(first.unwrap(), 1);
    assert!(matches!(second, Err(TaskError::Failed(_))));
    assert!(refused(third));
    // One success in two is the share asked for.
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_trial_call_dropped_unfinished_frees_its_place() {
    let policy = Policy::builder()
        .breaker(Breaker::count_based(2, ms(500)))
        .build()
        .unwrap();
    fail(&policy, 2).await;
    sleep(ms(500)).await;
    // The trial's one call is dropped before it ends (a critical sibling failed, say).
    let dropped = tokio::time::timeout(ms(10), call(&policy, ms(100), Ok(1))).await;
    assert!(dropped.is_err());
    assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
    assert_eq!(call(&policy, ms(10), Ok(2)).await.unwrap(), 2);
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_it_and_a_timed_out_call_is_a_slow_failure() {
    let breaker = Breaker::count_based(3, ms(1_000)).slow_calls(ms(100), 0.6);
    let (policy, openings) = observed(breaker);
    // Two slow successes and a fast one: 2 in 3 is past 0.6.
    assert!(call(&policy, ms(150), Ok(1)).await.is_ok());
    assert!(call(&policy, ms(10), Ok(2)).await.is_ok());
    assert!(call(&policy, ms(101), Ok(3)).await.is_ok());
    assert_eq!(
        openings.take(),
        [EventKind::BreakerOpened {
            cause: BreakerTrip::SlowCalls,
            calls: 3,
            failures: 0,
            slow: 2,
            cooldown: ms(1_000),
        }]
    );

    // A call that runs out of time counts as failed, and as slow if it ran past the limit.
    let policy = Policy::builder()
        .breaker(Breaker::count_based(1, ms(1_000)).slow_calls(ms(100), 1.0))
        .observer(openings.clone())
        .build()
        .unwrap();
    let task = policy
        .best_effort("card", || async {
            sleep(ms(1_000)).await;
            Ok::<_, CardError>(1)
        })
        .timeout(ms(150));
    assert!(matches!(task.await, Err(TaskError::TimedOut { .. })));
    assert_eq!(
        openings.take(),
        [EventKind::BreakerOpened {
            cause: BreakerTrip::Failures,
            calls: 1,
            failures: 1,
            slow: 1,
            cooldown: ms(1_000),
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn the_break_grows_with_each_failed_trial_to_its_cap_and_a_closing_starts_it_again() {
    let breaker = Breaker::count_based(1, ms(100)).cooldown_grows(2.0, ms(350));
    let (policy, openings) = observed(breaker);
    fail(&policy, 1).await;
    for wait in [100, 200, 350] {
        // Refused until the break ends, then a failed trial.
        sleep(ms(wait - 1)).await;
        assert!(refused(call(&policy, ms(0), Ok(1)).await));
        sleep(ms(1)).await;
        fail(&policy, 1).await;
    }
    assert_eq!(openings.cooldowns(), [ms(100), ms(200), ms(350), ms(350)]);
    sleep(ms(350)).await;
    assert!(call(&policy, ms(0), Ok(1)).await.is_ok());
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    fail(&policy, 1).await;
    assert_eq!(openings.cooldowns(), [ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn the_error_can_set_the_break_within_the_cap() {
    let busy = |after| Err(CardError::Busy(ms(after)));
    let (policy, openings) = observed(Breaker::count_based(1, ms(100)));
    let _ = call(&policy, ms(0), busy(2_000)).await;
    assert_eq!(openings.cooldowns(), [ms(2_000)]);

    let (capped, openings) =
        observed(Breaker::count_based(1, ms(100)).cooldown_grows(2.0, ms(500)));
    let _ = call(&capped, ms(0), busy(2_000)).await;
    sleep(ms(499)).await;
    assert!(refused(call(&capped, ms(0), Ok(1)).await));
    sleep(ms(1)).await;
    assert!(call(&capped, ms(0), Ok(1)).await.is_ok());
    assert_eq!(openings.cooldowns(), [ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn a_time_based_window_forgets_failures_older_than_it() {
    let breaker = Breaker::time_based(ms(1_000), ms(500)).minimum_calls(2);
    let policy = Policy::builder().breaker(breaker).build().unwrap();
    fail(&policy, 1).await;
    sleep(ms(1_100)).await;
    fail(&policy, 1).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    // Two within the window: half failed or more.
    fail(&policy, 1).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn below_minimum_calls_no_rate_opens_it() {
    let breaker = Breaker::count_based(100, ms(500)).minimum_calls(5);
    let policy = Policy::builder().breaker(breaker).build().unwrap();
    fail(&policy, 4).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    fail(&policy, 1).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn a_changed_window_starts_empty() {
    let policy = Policy::builder()
        .breaker(Breaker::count_based(3, ms(500)))
        .build()
        .unwrap();
    fail(&policy, 2).await;
    let wider = policy.settings().breaker(Breaker::count_based(4, ms(500)));
    policy.update(wider).unwrap();
    // The two failures before are not in the new window: one more is one in one, but the
    // window judges once it holds four.
    fail(&policy, 1).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    fail(&policy, 3).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn a_call_from_before_a_window_change_does_not_empty_the_new_window() {
    let policy = Policy::builder()
        .breaker(Breaker::count_based(3, ms(500)))
        .build()
        .unwrap();
    let narrower = Breaker::count_based(4, ms(500)).minimum_calls(2);
    let (old, ()) = tokio::join!(call(&policy, ms(100), Err(CardError::Unavailable)), async {
        // While the old call runs: the update, and a failure under the new window.
        policy.update(policy.settings().breaker(narrower)).unwrap();
        fail(&policy, 1).await;
    });
    assert!(matches!(old, Err(TaskError::Failed(_))));
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    // The old call's failure was left out, the new one kept: two in the new window.
    fail(&policy, 1).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn a_trial_an_update_shortened_starts_again_rather_than_refusing_for_ever() {
    let policy = Policy::builder()
        .breaker(Breaker::count_based(1, ms(500)).half_open(3, 1.0))
        .build()
        .unwrap();
    fail(&policy, 1).await;
    sleep(ms(500)).await;
    // Three trial calls: one succeeds, the two slow ones are dropped after an update that
    // makes the trial one call long.
    let slow = async {
        let _ = tokio::time::timeout(ms(50), async {
            tokio::join!(call(&policy, ms(100), Ok(2)), call(&policy, ms(100), Ok(3)))
        })
        .await;
    };
    let (quick, ()) = tokio::join!(call(&policy, ms(10), Ok(1)), async {
        slow.await;
    });
    assert_eq!(quick.unwrap(), 1);
    let shorter = Breaker::count_based(1, ms(500)).half_open(1, 1.0);
    policy.update(policy.settings().breaker(shorter)).unwrap();
    assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
    // No call of the old trial is out: a new trial, under the settings now.
    assert_eq!(call(&policy, ms(10), Ok(4)).await.unwrap(), 4);
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}
