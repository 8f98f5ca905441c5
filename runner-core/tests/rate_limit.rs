//! The rate limit's rules on tokio's paused clock: turns spaced at the rate after the burst,
//! a wait within the timeout and the deadline or a refusal at once, the reject form, its
//! events, reloads, resets, and a limiter per key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{
    EventKind, Observer, Policy, PolicyEvent, PolicyMap, PolicySettings, RateLimit, Rejection,
    TaskError, fan_out,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the rate limit told the policy's observer.
#[derive(Default)]
struct Events(Mutex<Vec<EventKind>>);

impl Observer for Events {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        if let kind @ (EventKind::Throttled { .. } | EventKind::Rejected { .. }) = event.kind {
            self.0.lock().unwrap().push(kind);
        }
    }
}

impl Events {
    fn take(&self) -> Vec<EventKind> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn observed(limit: RateLimit) -> (Policy, Arc<Events>) {
    let events = Arc::new(Events::default());
    let policy = Policy::builder()
        .rate_limit(limit)
        .observer(events.clone())
        .build()
        .unwrap();
    (policy, events)
}

/// One call through `policy`, timed out after `timeout`: when it started its work, or why
/// it was refused, and when.
async fn call(
    policy: &Policy,
    timeout: Duration,
) -> Result<Duration, (TaskError<Unavailable>, Duration)> {
    let start = Instant::now();
    let task = policy
        .critical("card", move || async move {
            Ok::<_, Unavailable>(start.elapsed())
        })
        .timeout(timeout);
    task.await.map_err(|error| (error, start.elapsed()))
}

fn refused(outcome: Result<Duration, (TaskError<Unavailable>, Duration)>) -> Duration {
    match outcome {
        Err((error, at)) => {
            assert!(
                matches!(error, TaskError::Rejected(Rejection::RateLimited)),
                "{error:?}"
            );
            at
        }
        Ok(at) => panic!("let through at {at:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn after_the_burst_calls_start_one_per_interval() {
    // 10 a second, 3 at once.
    let (policy, events) = observed(RateLimit::per_second(10).burst(3));
    let calls = (0..6).map(|_| call(&policy, Duration::from_secs(5)));
    let started: Vec<Duration> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(started, [0, 0, 0, 100, 200, 300].map(ms));
    let waits: Vec<EventKind> = events.take();
    assert_eq!(
        waits,
        [100, 200, 300].map(|wait| EventKind::Throttled { wait: ms(wait) }),
        "each call waiting reserved a turn of its own, in the order they came"
    );

    // A quiet spell refills the burst at the rate: 200 ms is two turns.
    sleep(ms(500)).await;
    let calls = (0..3).map(|_| call(&policy, Duration::from_secs(5)));
    let started: Vec<Duration> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(started, [0, 0, 0].map(ms), "the burst is full again");
}

#[tokio::test(start_paused = true)]
async fn a_turn_after_the_timeout_is_refused_at_once() {
    let (policy, events) = observed(RateLimit::per_second(10).burst(1));
    let (first, second, third) = tokio::join!(
        call(&policy, ms(150)),
        call(&policy, ms(150)),
        call(&policy, ms(150)),
    );
    assert_eq!(first.unwrap(), ms(0));
    assert_eq!(
        second.unwrap(),
        ms(100),
        "its turn at 100 ms is within its 150 ms"
    );
    assert_eq!(
        refused(third),
        ms(0),
        "its turn at 200 ms is past its 150 ms: no wait"
    );
    assert_eq!(
        events.take(),
        [
            EventKind::Throttled { wait: ms(100) },
            EventKind::Rejected {
                reason: Rejection::RateLimited
            },
        ]
    );
    // The refused call took no turn: the next is at 200 ms, 100 ms from now.
    assert_eq!(call(&policy, ms(150)).await.unwrap(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn the_fan_outs_deadline_bounds_the_wait() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::per_second(10).burst(1))
        .build()
        .unwrap();
    let card = || policy.best_effort("card", || async { Ok::<u32, Unavailable>(1) });
    let start = Instant::now();
    let (first, second, third) = fan_out!(deadline = ms(150); card(), card(), card())
        .await
        .unwrap();
    assert_eq!(first.unwrap(), 1);
    assert_eq!(second.unwrap(), 1);
    assert!(matches!(
        third,
        Err(TaskError::Rejected(Rejection::RateLimited))
    ));
    assert_eq!(
        start.elapsed(),
        ms(100),
        "the third was refused at once, the second waited"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_deadline_a_call_waits_its_turn() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(60)))
        .build()
        .unwrap();
    let attempt = || async { Ok::<u32, Unavailable>(1) };
    let start = Instant::now();
    policy.critical("card", attempt).await.unwrap();
    policy.critical("card", attempt).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_stops_waiting_gives_its_turn_back() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(10)))
        .build()
        .unwrap();
    assert_eq!(call(&policy, Duration::from_secs(60)).await.unwrap(), ms(0));
    let gave_up = tokio::time::timeout(ms(1_000), call(&policy, Duration::from_secs(60))).await;
    assert!(gave_up.is_err(), "its turn is at 10 s");
    // The turn at 10 s is free again: the next call takes it, 9 s from now.
    assert_eq!(
        call(&policy, Duration::from_secs(60)).await.unwrap(),
        Duration::from_secs(9)
    );
}

#[tokio::test(start_paused = true)]
async fn reject_when_empty_refuses_the_excess_at_once() {
    let (policy, events) = observed(RateLimit::per_second(10).burst(2).reject_when_empty());
    let (first, second, third) = tokio::join!(
        call(&policy, Duration::from_secs(5)),
        call(&policy, Duration::from_secs(5)),
        call(&policy, Duration::from_secs(5)),
    );
    assert_eq!((first.unwrap(), second.unwrap()), (ms(0), ms(0)));
    assert_eq!(refused(third), ms(0));
    assert_eq!(
        events.take(),
        [EventKind::Rejected {
            reason: Rejection::RateLimited
        }]
    );
    sleep(ms(100)).await;
    assert_eq!(
        call(&policy, ms(5)).await.unwrap(),
        ms(0),
        "a turn came back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_a_new_rate_applies_to_the_calls_waiting() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(10)))
        .build()
        .unwrap();
    assert_eq!(call(&policy, Duration::from_secs(60)).await.unwrap(), ms(0));
    let waiting = call(&policy, Duration::from_secs(60));
    let reload = async {
        sleep(ms(100)).await;
        let faster = PolicySettings::new().rate_limit(RateLimit::per_second(10).burst(1));
        policy.update(faster).unwrap();
    };
    let (waited, ()) = tokio::join!(waiting, reload);
    assert_eq!(
        waited.unwrap(),
        ms(100),
        "the new pace starts with its burst free, and the waiting call read it at the reload"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_keeps_the_pace_keeps_the_turns_taken() {
    let limit = RateLimit::per_second(10).burst(1);
    let policy = Policy::builder().rate_limit(limit).build().unwrap();
    assert_eq!(call(&policy, ms(500)).await.unwrap(), ms(0));
    // A new timeout, and the reject form of the same pace: the turn taken stays taken.
    let reloaded = PolicySettings::new()
        .timeout(ms(500))
        .rate_limit(limit.reject_when_empty());
    policy.update(reloaded).unwrap();
    assert_eq!(refused(call(&policy, ms(500)).await), ms(0));
    sleep(ms(100)).await;
    assert_eq!(call(&policy, ms(500)).await.unwrap(), ms(0));
}

#[tokio::test(start_paused = true)]
async fn removing_the_limit_lets_the_calls_waiting_through() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(10)))
        .build()
        .unwrap();
    call(&policy, Duration::from_secs(60)).await.unwrap();
    let waiting = call(&policy, Duration::from_secs(60));
    let reload = async {
        sleep(ms(300)).await;
        policy.update(PolicySettings::new()).unwrap();
    };
    let (waited, ()) = tokio::join!(waiting, reload);
    assert_eq!(waited.unwrap(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn a_reset_refills_the_burst() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(2, Duration::from_secs(10)))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(call(&policy, Duration::from_secs(60)).await.unwrap(), ms(0));
    }
    let waiting = call(&policy, Duration::from_secs(60));
    let reset = async {
        sleep(ms(200)).await;
        policy.reset();
    };
    let (waited, ()) = tokio::join!(waiting, reset);
    assert_eq!(waited.unwrap(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn each_key_has_a_limiter_of_its_own() {
    let template = Policy::builder().rate_limit(RateLimit::per_second(1).burst(1));
    let tenants = PolicyMap::new(template, 16).unwrap();
    let (alice, bob) = (tenants.get(&"alice"), tenants.get(&"bob"));
    assert_eq!(call(&alice, ms(100)).await.unwrap(), ms(0));
    assert_eq!(
        call(&bob, ms(100)).await.unwrap(),
        ms(0),
        "bob's turn is his own"
    );
    assert_eq!(refused(call(&alice, ms(100)).await), ms(0));
    assert_eq!(refused(call(&tenants.get(&"alice"), ms(100)).await), ms(0));
}

#[tokio::test(start_paused = true)]
async fn the_limit_counts_calls_not_attempts() {
    use runner_core::Retry;
    let policy = Policy::builder()
        .rate_limit(RateLimit::per_second(1).burst(1).reject_when_empty())
        .retry(Retry::new(3).backoff(ms(1)))
        .build()
        .unwrap();
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let failing = || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err::<u32, _>(Unavailable)
    };
    let outcome = policy.critical("card", failing).timeout(ms(500)).await;
    assert!(matches!(outcome, Err(TaskError::Failed(Unavailable))));
    assert_eq!(attempts.into_inner(), 3, "one turn, three attempts");
}

#[test]
fn settings_that_cannot_work_are_refused_with_their_field() {
    let refused = |limit: RateLimit| {
        Policy::builder()
            .rate_limit(limit)
            .build()
            .unwrap_err()
            .field()
    };
    assert_eq!(refused(RateLimit::per_second(0)), "rate_limit.max");
    assert_eq!(
        refused(RateLimit::new(10, Duration::ZERO)),
        "rate_limit.per"
    );
    assert_eq!(
        refused(RateLimit::new(10, Duration::from_secs(3_601))),
        "rate_limit.per"
    );
    assert_eq!(
        refused(RateLimit::new(1_000, Duration::from_nanos(999))),
        "rate_limit.max"
    );
    assert_eq!(
        refused(RateLimit::per_second(10).burst(0)),
        "rate_limit.burst"
    );
    assert_eq!(
        refused(RateLimit::per_second(10).burst(1_000_001)),
        "rate_limit.burst"
    );
    let limit = RateLimit::new(100, Duration::from_secs(1)).burst(20);
    assert_eq!((limit.interval(), limit.burst_size()), (ms(10), 20));
    assert_eq!(RateLimit::per_second(7).burst_size(), 7);
}

#[test]
fn a_rate_above_a_million_a_second_needs_no_burst() {
    let limit = RateLimit::per_second(2_000_000);
    assert_eq!(
        limit.burst_size(),
        1_000_000,
        "the burst is capped, not refused"
    );
    assert!(Policy::builder().rate_limit(limit).build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_turn_at_the_deadline_itself_is_refused_at_once() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::per_second(10).burst(1))
        .build()
        .unwrap();
    let (first, second) = tokio::join!(call(&policy, ms(100)), call(&policy, ms(100)));
    assert_eq!(first.unwrap(), ms(0));
    assert_eq!(
        refused(second),
        ms(0),
        "its turn at 100 ms would start it only to end it"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_refuses_at_once_rather_than_after_a_turn() {
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(10)))
        .build()
        .unwrap();
    assert_eq!(call(&policy, Duration::from_secs(60)).await.unwrap(), ms(0));
    policy.force_open();
    match call(&policy, Duration::from_secs(60)).await {
        Err((TaskError::Rejected(Rejection::BreakerOpen), at)) => assert_eq!(at, ms(0)),
        other => panic!("{other:?}"),
    }
    policy.reset();
    // The turn it did not wait for is free: a reset also refilled the burst.
    assert_eq!(call(&policy, Duration::from_secs(60)).await.unwrap(), ms(0));
}

#[tokio::test(start_paused = true)]
async fn calls_the_rate_limit_refuses_earn_no_retries() {
    use runner_core::{Budget, Retry};
    // Half a retry per call let through, and none a second besides.
    let budget = Budget::new(0.5, Duration::from_secs(10), 0);
    let policy = Policy::builder()
        .rate_limit(RateLimit::new(1, Duration::from_secs(5)).reject_when_empty())
        .retry(Retry::new(3).backoff(ms(1)).budget(budget))
        .build()
        .unwrap();
    let failing = || async { Err::<u32, _>(Unavailable) };
    assert!(policy.critical("card", failing).await.is_err());
    for _ in 0..100 {
        let refused = policy.critical("card", failing).await;
        assert!(matches!(
            refused,
            Err(TaskError::Rejected(Rejection::RateLimited))
        ));
    }
    // The next turn, within the budget's window: two calls let through, one retry earned.
    sleep(Duration::from_secs(5)).await;
    assert!(policy.critical("card", failing).await.is_err());
    let report = policy.retry_budget().unwrap();
    assert_eq!(report.retried, 1, "{report:?}");
}
