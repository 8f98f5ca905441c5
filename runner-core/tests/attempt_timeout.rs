//! Each attempt's own time inside the task's (`Retry::attempt_timeout`, Envoy's
//! `per_try_timeout`), on tokio's paused clock: a hanging attempt is ended and retried, the
//! breaker counts it, and a call whose every attempt ran out fails as timed out, before the
//! task's own timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use runner_core::{
    Breaker, BreakerState, FanOutError, Policy, PolicySettings, Retry, TaskError, fan_out, task,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts that the time since `start` is within `range`: a backoff below 1 ms still ends
/// on a millisecond, so the paused clock's time is exact within its jitter.
#[track_caller]
fn took(start: Instant, range: std::ops::RangeInclusive<Duration>) {
    let elapsed = start.elapsed();
    assert!(range.contains(&elapsed), "{elapsed:?} not in {range:?}");
}

/// Attempts that hang for `hangs` of them, then answer at once.
fn wallet(retry: Retry) -> Policy {
    Policy::builder()
        .timeout(ms(1_000))
        .retry(retry.backoff(ms(1)))
        .build()
        .unwrap()
}

async fn call(
    policy: &Policy,
    hangs: u32,
    calls: &AtomicU32,
) -> Result<u32, TaskError<Unavailable>> {
    policy
        .critical("balance", || {
            let hang = calls.fetch_add(1, Ordering::SeqCst) < hangs;
            async move {
                if hang {
                    sleep(ms(10_000)).await;
                }
                Ok(7)
            }
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_hanging_attempt_is_ended_at_its_own_time_and_retried() {
    let policy = wallet(Retry::new(3).attempt_timeout(ms(80)));
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(call(&policy, 1, &calls).await.unwrap(), 7);
    // 80 ms, then a backoff below 1 ms (a sleep ends on a millisecond), then the answer.
    took(start, ms(80)..=ms(81));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_every_attempt_ran_out_fails_as_timed_out_before_the_task_timeout() {
    let policy = wallet(Retry::new(3).attempt_timeout(ms(80)));
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let error = call(&policy, 3, &calls).await.unwrap_err();
    assert_eq!(error, TaskError::TimedOut(ms(80)));
    assert!(error.is_timeout());
    // Three attempts of 80 ms and two backoffs (below 1 ms, then 2 ms, each ending on a
    // millisecond), not the task's 1 s.
    took(start, ms(240)..=ms(243));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn the_task_timeout_still_bounds_the_attempts() {
    let policy = Policy::builder()
        .timeout(ms(100))
        .retry(Retry::new(5).backoff(ms(1)).attempt_timeout(ms(80)))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let error = call(&policy, 5, &calls).await.unwrap_err();
    // The second attempt would not fit: no retry, the first attempt's end is the call's.
    assert_eq!(error, TaskError::TimedOut(ms(80)));
    assert_eq!(start.elapsed(), ms(80));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_counts_an_attempt_that_ran_out() {
    let policy = Policy::builder()
        .retry(Retry::new(2).backoff(ms(1)).attempt_timeout(ms(50)))
        .breaker(Breaker::count_based(2, ms(5_000)))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    assert_eq!(
        call(&policy, 2, &calls).await.unwrap_err(),
        TaskError::TimedOut(ms(50))
    );
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn a_critical_slot_whose_attempts_ran_out_fails_the_fan_out_as_timed_out() {
    let policy = wallet(Retry::new(2).attempt_timeout(ms(80)));
    let calls = AtomicU32::new(0);
    let balance = policy.critical("balance", || async {
        calls.fetch_add(1, Ordering::SeqCst);
        sleep(ms(10_000)).await;
        Ok::<u32, Unavailable>(7)
    });
    let error = fan_out!(balance).await.unwrap_err();
    assert!(
        matches!(error, FanOutError::TaskTimedOut { task: "balance", timeout, .. } if timeout == ms(80)),
        "{error:?}"
    );
}

#[test]
fn an_attempt_timeout_no_shorter_than_the_task_timeout_is_refused() {
    let settings = PolicySettings::new()
        .timeout(ms(100))
        .retry(Retry::new(3).attempt_timeout(ms(100)));
    let error = Policy::builder()
        .timeout(ms(100))
        .retry(Retry::new(3).attempt_timeout(ms(100)))
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "retry.attempt_timeout");
    assert_eq!(
        error.message(),
        "an attempt timeout of 100ms would never end an attempt: the task's timeout of 100ms ends it first; give one below the timeout"
    );
    let policy = Policy::builder().build().unwrap();
    assert_eq!(policy.update(settings).unwrap_err(), error);
}

static FLAKY: AtomicU32 = AtomicU32::new(0);

#[task(
    critical,
    timeout = "1s",
    retry(attempts = 2, backoff = "1ms", attempt_timeout = "80ms")
)]
async fn get_balance(user_id: u32) -> Result<u32, Unavailable> {
    if FLAKY.fetch_add(1, Ordering::SeqCst) == 0 {
        sleep(ms(10_000)).await;
    }
    Ok(user_id)
}

#[tokio::test(start_paused = true)]
async fn the_attribute_gives_each_attempt_its_time() {
    let start = Instant::now();
    assert_eq!(get_balance(7).await.unwrap(), 7);
    took(start, ms(80)..=ms(81));
}
