//! A retry whose delay the error names (a 503's `Retry-After`), waited exactly, within the
//! deadline and the attempts, by hand and through `#[task(retry(..., delay_from = ...))]`;
//! an `Ok` value that asks for another try; and hedges charged to the retry budget; on
//! tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{
    Critical, EventKind, Observer, Options, Policy, PolicyEvent, Retry, RetryRefusal, TaskError,
    task,
};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum WalletError {
    #[error("busy, retry after {0:?}")]
    Busy(Duration),
    #[error("unavailable")]
    Unavailable,
}

fn retry_after(error: &WalletError) -> Option<Duration> {
    match *error {
        WalletError::Busy(after) => Some(after),
        WalletError::Unavailable => None,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The retries a policy schedules and refuses.
#[derive(Default)]
struct Retries(Mutex<Vec<EventKind>>);

impl Observer for Retries {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        if let kind @ (EventKind::RetryScheduled { .. } | EventKind::RetryRefused { .. }) =
            event.kind
        {
            self.0.lock().unwrap().push(kind);
        }
    }
}

/// A policy of 3 attempts with a 10 ms backoff, and what it reports.
fn wallet() -> (Policy, Arc<Retries>) {
    let retries = Arc::new(Retries::default());
    let policy = Policy::builder()
        .retry(Retry::new(3).backoff(ms(10)))
        .observer(retries.clone())
        .build()
        .unwrap();
    (policy, retries)
}

/// A call whose attempts give `answers` in turn, and when each attempt started.
async fn call(
    policy: &Policy,
    answers: &[Result<u32, WalletError>],
    timeout: Option<Duration>,
) -> (Result<u32, TaskError<WalletError>>, Vec<Duration>) {
    let start = Instant::now();
    let starts = Mutex::new(Vec::new());
    let next = AtomicU32::new(0);
    let options = Options::new().retry_delay_from(retry_after);
    let task = policy.task::<Critical, _, _, _, _, _>(
        "balance",
        || {
            starts.lock().unwrap().push(start.elapsed());
            let answer = answers[next.fetch_add(1, Ordering::SeqCst) as usize];
            async move { answer }
        },
        options,
    );
    let result = match timeout {
        Some(timeout) => task.timeout(timeout).await,
        None => task.await,
    };
    (result, starts.into_inner().unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_retry_waits_the_delay_the_error_asks_for() {
    let (policy, retries) = wallet();
    let answers = [Err(WalletError::Busy(ms(300))), Ok(7)];
    let (result, starts) = call(&policy, &answers, None).await;
    assert_eq!(result.unwrap(), 7);
    assert_eq!(starts, [ms(0), ms(300)]);
    assert_eq!(
        *retries.0.lock().unwrap(),
        [EventKind::RetryScheduled {
            attempt: 2,
            delay: ms(300),
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_that_names_no_delay_gets_the_backoff() {
    let (policy, _) = wallet();
    let answers = [Err(WalletError::Unavailable), Ok(7)];
    let (result, starts) = call(&policy, &answers, None).await;
    assert_eq!(result.unwrap(), 7);
    // Full jitter below the 10 ms backoff (the paused clock ends a sleep on a millisecond
    // tick, so a draw of 9.6 ms starts it at 10).
    assert!(starts[1] <= ms(10), "{starts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_delay_past_the_deadline_is_no_retry() {
    let (policy, retries) = wallet();
    let answers = [Err(WalletError::Busy(ms(300))), Ok(7)];
    let started = Instant::now();
    let (result, starts) = call(&policy, &answers, Some(ms(200))).await;
    // The error at once, not a timeout at 200 ms.
    assert_eq!(
        result.unwrap_err(),
        TaskError::Failed(WalletError::Busy(ms(300)))
    );
    assert_eq!(started.elapsed(), ms(0));
    assert_eq!(starts, [ms(0)]);
    assert_eq!(
        *retries.0.lock().unwrap(),
        [EventKind::RetryRefused {
            reason: RetryRefusal::Deadline,
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_delay_past_the_max_backoff_is_no_retry() {
    let (policy, retries) = wallet();
    // The default cap is 1 s: an hour's `Retry-After` is not waited, nor cut short.
    let answers = [Err(WalletError::Busy(Duration::from_secs(3_600))), Ok(7)];
    let started = Instant::now();
    let (result, starts) = call(&policy, &answers, None).await;
    assert_eq!(
        result.unwrap_err(),
        TaskError::Failed(WalletError::Busy(Duration::from_secs(3_600)))
    );
    assert_eq!((started.elapsed(), starts.len()), (ms(0), 1));
    assert_eq!(
        *retries.0.lock().unwrap(),
        [EventKind::RetryRefused {
            reason: RetryRefusal::Delay,
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn the_delays_count_among_the_attempts() {
    let (policy, _) = wallet();
    let busy = Err(WalletError::Busy(ms(50)));
    let (result, starts) = call(&policy, &[busy, busy, busy, Ok(7)], None).await;
    assert_eq!(
        result.unwrap_err(),
        TaskError::Failed(WalletError::Busy(ms(50)))
    );
    assert_eq!(starts, [ms(0), ms(50), ms(100)]);
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[task(critical, retry(attempts = 2, backoff = "10ms", delay_from = retry_after))]
async fn get_balance(user_id: u32) -> Result<u32, WalletError> {
    match CALLS.fetch_add(1, Ordering::SeqCst) {
        0 => Err(WalletError::Busy(ms(250))),
        _ => Ok(user_id),
    }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_takes_the_delay_from_the_error_too() {
    let start = Instant::now();
    assert_eq!(get_balance(7).await.unwrap(), 7);
    assert_eq!(start.elapsed(), ms(250));
}

/// The hedges a policy starts and the budget refuses.
#[derive(Default)]
struct Hedges(Mutex<Vec<EventKind>>);

impl Observer for Hedges {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        if let kind @ (EventKind::HedgeStarted { .. } | EventKind::HedgeRefused { .. }) = event.kind
        {
            self.0.lock().unwrap().push(kind);
        }
    }
}

/// A slow call through a hedged policy whose retry budget gives `share` per call.
async fn hedged_call(share: f32) -> (Policy, Vec<EventKind>, Duration) {
    let hedges = Arc::new(Hedges::default());
    let budget = runner_core::Budget::new(share, Duration::from_secs(10), 0);
    let policy = Policy::builder()
        .retry(Retry::new(2).budget(budget))
        .hedge(runner_core::Hedge::new(ms(10)))
        .observer(hedges.clone())
        .build()
        .unwrap();
    let start = Instant::now();
    let task = policy.critical("card", || async {
        tokio::time::sleep(ms(100)).await;
        Ok::<_, WalletError>(1)
    });
    assert_eq!(task.await.unwrap(), 1);
    let events = std::mem::take(&mut *hedges.0.lock().unwrap());
    (policy, events, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn hedges_are_charged_to_the_retry_budget() {
    // A budget of one retry per call: the call's hedge is paid for.
    let (policy, events, took) = hedged_call(1.0).await;
    assert_eq!(events, [EventKind::HedgeStarted { hedge: 1 }]);
    assert_eq!(took, ms(100));
    let report = policy.retry_budget().unwrap();
    assert_eq!(
        (report.hedged, report.hedges_refused, report.retried),
        (1, 0, 0)
    );

    // A spent budget: no hedge, and the first attempt answers.
    let (policy, events, took) = hedged_call(0.0).await;
    assert_eq!(events, [EventKind::HedgeRefused { hedge: 1 }]);
    assert_eq!(took, ms(100));
    let report = policy.retry_budget().unwrap();
    assert_eq!((report.hedged, report.hedges_refused), (0, 1));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Job {
    Pending,
    Done(u32),
}

fn pending(job: &Job) -> bool {
    *job == Job::Pending
}

/// A job polled through `policy` that is pending for `pending_for` attempts.
async fn poll_job(policy: &Policy, pending_for: u32) -> (Result<Job, TaskError<WalletError>>, u32) {
    let polls = AtomicU32::new(0);
    let options = Options::new().retry_if_value(pending);
    let task = policy.task::<Critical, _, _, _, _, _>(
        "job",
        || {
            let poll = polls.fetch_add(1, Ordering::SeqCst);
            async move {
                match poll < pending_for {
                    true => Ok(Job::Pending),
                    false => Ok(Job::Done(poll)),
                }
            }
        },
        options,
    );
    let result = task.await;
    (result, polls.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn a_value_that_asks_for_another_try_is_retried() {
    let (policy, retries) = wallet();
    let (result, polls) = poll_job(&policy, 2).await;
    assert_eq!(result.unwrap(), Job::Done(2));
    assert_eq!(polls, 3);
    assert_eq!(retries.0.lock().unwrap().len(), 2, "two retries scheduled");
    assert_eq!(policy.retry_budget().unwrap().retried, 2);
}

#[tokio::test(start_paused = true)]
async fn the_last_such_value_is_the_answer_when_no_retry_is_left() {
    let (policy, _) = wallet();
    let (result, polls) = poll_job(&policy, 10).await;
    assert_eq!(result.unwrap(), Job::Pending);
    assert_eq!(polls, 3);
}

static JOB_POLLS: AtomicU32 = AtomicU32::new(0);

#[task(critical, retry(attempts = 3, backoff = "1ms", when_value = pending))]
async fn get_job(id: u32) -> Result<Job, WalletError> {
    match JOB_POLLS.fetch_add(1, Ordering::SeqCst) {
        0 => Ok(Job::Pending),
        _ => Ok(Job::Done(id)),
    }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_retries_a_value_too() {
    assert_eq!(get_job(9).await.unwrap(), Job::Done(9));
    assert_eq!(JOB_POLLS.load(Ordering::SeqCst), 2);
}
