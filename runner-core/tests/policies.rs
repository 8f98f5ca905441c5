//! The policies' semantics, on tokio's paused clock: retry (attempts, full-jitter bounds, the
//! deadline, the budget, the predicate), hedge (winner, losers dropped, the most hedges),
//! breaker (every state change), limit (wait, reject, nothing leaked) and fallback.
//!
//! Each test has task fns of its own: a policy is shared by every call of its task fn.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use runner_core::{
    Breaker, BreakerState, Budget, FanOutError, Limit, Options, Outcome, Policy, PolicyBuilder,
    Rejection, Retry, TaskError, fan_out, task,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum Error {
    #[error("unavailable")]
    Unavailable,
    #[error("not found")]
    NotFound,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A policy with only a breaker of these settings.
fn breaker_only(failures: u32, window: Duration, cooldown: Duration) -> Policy {
    Policy::builder()
        .breaker(Breaker::new(failures, window, cooldown))
        .build()
        .unwrap()
}

fn is_transient(error: &Error) -> bool {
    *error == Error::Unavailable
}

/// Counts a test's attempts and records when each started.
#[derive(Default)]
struct Attempts {
    started: std::sync::Mutex<Vec<Instant>>,
}

impl Attempts {
    fn start(&self) -> usize {
        let mut started = self.started.lock().unwrap();
        started.push(Instant::now());
        started.len()
    }

    fn count(&self) -> usize {
        self.started.lock().unwrap().len()
    }

    fn times(&self) -> Vec<Instant> {
        self.started.lock().unwrap().clone()
    }
}

/// Counts live futures, to see the losers and the timed-out dropped.
struct Alive<'a>(&'a AtomicU32);

impl<'a> Alive<'a> {
    fn new(count: &'a AtomicU32) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// retry

#[tokio::test(start_paused = true)]
async fn a_retry_runs_until_an_attempt_succeeds() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(critical, timeout = "1s", retry(attempts = 3, backoff = "10ms"))]
    async fn flaky(id: String) -> Result<String, Error> {
        match ATTEMPTS.start() {
            1 | 2 => Err(Error::Unavailable),
            _ => Ok(id),
        }
    }
    assert_eq!(flaky("x".to_owned()).await.unwrap(), "x");
    assert_eq!(ATTEMPTS.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_stops_after_its_attempts_with_the_last_error() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(critical, timeout = "1s", retry(attempts = 3, backoff = "10ms"))]
    async fn down() -> Result<u32, Error> {
        ATTEMPTS.start();
        Err(Error::Unavailable)
    }
    let error = fan_out!(down()).await.unwrap_err();
    assert_eq!(error.downcast_ref::<Error>(), Some(&Error::Unavailable));
    assert_eq!(ATTEMPTS.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_skips_errors_its_predicate_does_not_retry() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(best_effort, timeout = "1s", retry(attempts = 5, when = is_transient))]
    async fn lookup() -> Result<u32, Error> {
        ATTEMPTS.start();
        Err(Error::NotFound)
    }
    assert!(matches!(
        lookup().await,
        Err(TaskError::Failed(Error::NotFound))
    ));
    assert_eq!(ATTEMPTS.count(), 1);
}

/// Backoff n is uniformly drawn from `[0, min(max_backoff, backoff × 2ⁿ⁻¹))`: in every one of
/// 100 seeded runs each stays within its cap (tokio's timer rounds a sleep up to the next
/// millisecond, hence `<=`), and the draws are spread, not all at the cap.
#[tokio::test(start_paused = true)]
async fn backoffs_have_full_jitter_under_an_exponential_cap() {
    let policy = Policy::builder()
        .retry(
            Retry::new(6)
                .backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(40))
                .budget(Budget::new(1000.0, Duration::from_secs(60), 1000)),
        )
        .build()
        .unwrap();
    let caps = [ms(10), ms(20), ms(40), ms(40), ms(40)];
    let mut below_half = 0;
    for seed in 0..100 {
        fastrand::seed(seed);
        let attempts = Attempts::default();
        let task = policy.best_effort("jitter", || {
            attempts.start();
            async { Err::<(), _>(Error::Unavailable) }
        });
        assert!(task.await.is_err());
        let times = attempts.times();
        assert_eq!(times.len(), 6);
        for (n, (pair, cap)) in times.windows(2).zip(caps).enumerate() {
            let backoff = pair[1] - pair[0];
            assert!(
                backoff <= cap,
                "seed {seed}: backoff {} is {backoff:?}, cap {cap:?}",
                n + 1
            );
            if backoff < cap / 2 {
                below_half += 1;
            }
        }
    }
    // 500 uniform draws: about half fall below half their cap.
    assert!(
        (150..350).contains(&below_half),
        "{below_half} of 500 below half the cap"
    );
}

/// A `max_backoff` below the default first backoff caps the first backoff too.
#[tokio::test(start_paused = true)]
async fn max_backoff_caps_the_first_backoff() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(best_effort, timeout = "1s", retry(attempts = 2, max_backoff = "2ms"))]
    async fn down() -> Result<u32, Error> {
        ATTEMPTS.start();
        Err(Error::Unavailable)
    }
    for seed in 0..20 {
        fastrand::seed(seed);
        let before = ATTEMPTS.count();
        assert!(down().await.is_err());
        let times = ATTEMPTS.times();
        let backoff = times[before + 1] - times[before];
        assert!(backoff <= ms(2), "seed {seed}: {backoff:?}");
    }
}

/// No attempt starts that the time left cannot fit: after an attempt that took 40 ms, at
/// about 90 ms of a 100 ms timeout, the task returns its error instead of timing out.
#[tokio::test(start_paused = true)]
async fn a_retry_never_starts_an_attempt_the_deadline_cannot_fit() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(best_effort, timeout = "100ms", retry(attempts = 5, backoff = "10ms"))]
    async fn slow_failure() -> Result<u32, Error> {
        ATTEMPTS.start();
        sleep(ms(40)).await;
        Err(Error::Unavailable)
    }
    let start = Instant::now();
    assert!(matches!(
        slow_failure().await,
        Err(TaskError::Failed(Error::Unavailable))
    ));
    assert_eq!(ATTEMPTS.count(), 2);
    assert!(start.elapsed() < ms(100));
}

/// The budget lets retries be half the calls (one deposit per call, two per retry) with no
/// floor: of ten calls that each fail once, five are retried.
#[tokio::test(start_paused = true)]
async fn a_spent_retry_budget_refuses_retries() {
    let policy = Policy::builder()
        .retry(Retry::new(2).budget(Budget::new(0.5, Duration::from_secs(10), 0)))
        .build()
        .unwrap();
    let attempts = Attempts::default();
    let mut retried = 0;
    for _ in 0..10 {
        let before = attempts.count();
        let task = policy.best_effort("budgeted", || {
            attempts.start();
            async { Err::<(), _>(Error::Unavailable) }
        });
        assert!(task.await.is_err());
        retried += attempts.count() - before - 1;
    }
    assert_eq!(retried, 5);
}

/// A retry refused by a breaker that another call opened meanwhile returns the failure of the
/// attempt that was made, not the refusal: something was sent downstream.
#[tokio::test(start_paused = true)]
async fn a_refused_retry_returns_the_last_real_failure() {
    let policy = Policy::builder()
        .retry(Retry::new(3).backoff(ms(10)))
        .breaker(Breaker::new(
            2,
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
        .build()
        .unwrap();
    let fails = || async {
        sleep(ms(10)).await;
        Err::<u32, _>(Error::Unavailable)
    };
    for _ in 0..20 {
        // Both first attempts fail at 10 ms; the second failure opens the breaker, after the
        // first call has already decided to retry.
        let (a, b) = fan_out!(
            policy.best_effort("a", fails),
            policy.best_effort("b", fails)
        )
        .await
        .unwrap();
        for slot in [a, b] {
            assert!(
                matches!(slot, Err(TaskError::Failed(Error::Unavailable))),
                "{slot:?}"
            );
        }
        // Past the cooldown, a probe that succeeds closes the breaker for the next round.
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = policy
            .best_effort("probe", || async { Ok::<u32, Error>(1) })
            .await;
        assert_eq!(probe.unwrap(), 1);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    }
}

// ---------------------------------------------------------------------------------------
// hedge

/// The first attempt is slow; the hedge started at 20 ms answers at 30 ms and wins, and the
/// first attempt is dropped there and then.
#[tokio::test(start_paused = true)]
async fn a_hedge_wins_and_the_slow_attempt_is_dropped() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    static ALIVE: AtomicU32 = AtomicU32::new(0);
    #[task(critical, timeout = "200ms", hedge = "20ms")]
    async fn card(id: u32) -> Result<(u32, usize), Error> {
        let attempt = ATTEMPTS.start();
        let _alive = Alive::new(&ALIVE);
        sleep(if attempt == 1 { ms(100) } else { ms(10) }).await;
        Ok((id, attempt))
    }
    let start = Instant::now();
    let (value,) = fan_out!(card(7)).await.unwrap();
    assert_eq!(value, (7, 2));
    assert_eq!(start.elapsed(), ms(30));
    assert_eq!(
        ALIVE.load(Ordering::SeqCst),
        0,
        "the losing attempt was dropped"
    );
    assert_eq!(ATTEMPTS.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_fast_attempt_starts_no_hedge() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(critical, timeout = "200ms", hedge = "20ms")]
    async fn card() -> Result<u32, Error> {
        ATTEMPTS.start();
        sleep(ms(19)).await;
        Ok(1)
    }
    assert_eq!(card().await.unwrap(), 1);
    sleep(ms(100)).await;
    assert_eq!(ATTEMPTS.count(), 1);
}

/// With `max = 2`, hedges start at 20 and 40 ms, and no more; the timeout drops all three.
#[tokio::test(start_paused = true)]
async fn hedges_stop_at_their_max_and_the_timeout_drops_them_all() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    static ALIVE: AtomicU32 = AtomicU32::new(0);
    #[task(best_effort, timeout = "100ms", hedge(after = "20ms", max = 2))]
    async fn hanging() -> Result<u32, Error> {
        ATTEMPTS.start();
        let _alive = Alive::new(&ALIVE);
        sleep(Duration::from_secs(10)).await;
        Ok(1)
    }
    let start = Instant::now();
    assert!(matches!(hanging().await, Err(TaskError::TimedOut(_))));
    let offsets: Vec<_> = ATTEMPTS.times().iter().map(|at| *at - start).collect();
    assert_eq!(offsets, [ms(0), ms(20), ms(40)]);
    assert_eq!(ALIVE.load(Ordering::SeqCst), 0);
}

/// A round fails only once every attempt it started has failed; a hedge that succeeds
/// after the first attempt failed still wins.
#[tokio::test(start_paused = true)]
async fn a_failed_attempt_leaves_the_hedge_running() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(critical, timeout = "200ms", hedge = "20ms")]
    async fn card() -> Result<usize, Error> {
        let attempt = ATTEMPTS.start();
        match attempt {
            1 => {
                sleep(ms(30)).await;
                Err(Error::Unavailable)
            }
            _ => {
                sleep(ms(30)).await;
                Ok(attempt)
            }
        }
    }
    let start = Instant::now();
    assert_eq!(card().await.unwrap(), 2);
    assert_eq!(start.elapsed(), ms(50));
}

/// A hedge after 10 ms, behind a breaker that opens on one failure.
fn hedged_behind_a_breaker() -> PolicyBuilder {
    Policy::builder()
        .hedge(runner_core::Hedge::new(ms(10)).max(1))
        .breaker(Breaker::new(
            1,
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
}

/// A hedge that lost counts as neither success nor failure, even when the winner lands at
/// the very instant time runs out on the call.
#[tokio::test(start_paused = true)]
async fn a_hedge_that_lost_at_the_timeout_does_not_open_the_breaker() {
    let policy = hedged_behind_a_breaker().build().unwrap();
    static N: AtomicU32 = AtomicU32::new(0);
    let card = policy
        .critical("card", || {
            let n = N.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => sleep(ms(30)).await,
                    _ => std::future::pending().await,
                }
                Ok::<u32, Error>(1)
            }
        })
        .timeout(ms(30));
    assert_eq!(card.await.unwrap(), 1);
    assert_eq!(N.load(Ordering::SeqCst), 2, "the hedge started");
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}

/// No hedge starts once time has run out on the call: at the fan-out's deadline, the hedge
/// due at that instant is not sent.
#[tokio::test(start_paused = true)]
async fn no_hedge_starts_at_the_deadline() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(best_effort, timeout = "100ms", hedge = "20ms")]
    async fn card() -> Result<u32, Error> {
        ATTEMPTS.start();
        std::future::pending().await
    }
    let (card,) = fan_out!(deadline = ms(20); card()).await.unwrap();
    assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
    assert_eq!(ATTEMPTS.count(), 1);
}

/// A hedge the breaker refuses does not hide the failure of the attempt that was sent.
#[tokio::test(start_paused = true)]
async fn a_refused_hedge_keeps_the_real_failure() {
    let policy = hedged_behind_a_breaker().build().unwrap();
    static N: AtomicU32 = AtomicU32::new(0);
    // The first call's failure at 5 ms opens the breaker; the second call's hedge, due at
    // 10 ms, is refused; its first attempt fails at 20 ms.
    let opens = policy.best_effort("card", || async {
        sleep(ms(5)).await;
        Err::<u32, _>(Error::Unavailable)
    });
    let refused = policy.best_effort("card", || {
        let n = N.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(ms(20)).await;
            match n {
                0 => Err::<u32, _>(Error::NotFound),
                _ => Ok(1),
            }
        }
    });
    let (opens, refused) = fan_out!(opens, refused).await.unwrap();
    assert!(matches!(opens, Err(TaskError::Failed(Error::Unavailable))));
    assert!(
        matches!(refused, Err(TaskError::Failed(Error::NotFound))),
        "{refused:?}"
    );
    assert_eq!(N.load(Ordering::SeqCst), 1, "the hedge was never made");
}

// ---------------------------------------------------------------------------------------
// breaker

/// Closed → open after two failures within the window → refuses at once → half-open after
/// the cooldown → a failed probe opens it again → a good probe closes it.
#[tokio::test(start_paused = true)]
async fn a_breaker_goes_through_every_state() {
    let policy = breaker_only(2, Duration::from_secs(1), ms(500));
    let attempts = &Attempts::default();
    let call = |fail: bool| {
        policy.best_effort("breaker", move || {
            attempts.start();
            async move {
                sleep(ms(5)).await;
                match fail {
                    true => Err(Error::Unavailable),
                    false => Ok(1),
                }
            }
        })
    };
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    assert!(matches!(call(true).await, Err(TaskError::Failed(_))));
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    assert!(matches!(call(true).await, Err(TaskError::Failed(_))));
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));

    // Open: refused at once, the attempt never made.
    let start = Instant::now();
    let refused = call(false).await;
    assert!(matches!(
        refused,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(attempts.count(), 2);

    sleep(ms(500)).await;
    assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
    assert!(
        matches!(call(true).await, Err(TaskError::Failed(_))),
        "the probe fails"
    );
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
    assert!(matches!(call(false).await, Err(TaskError::Rejected(_))));

    sleep(ms(500)).await;
    assert_eq!(call(false).await.unwrap(), 1, "the probe succeeds");
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    assert_eq!(attempts.count(), 4);
}

/// Half-open lets one probe through; a call made while it is in flight is refused.
#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_lets_one_probe_through() {
    let policy = breaker_only(1, Duration::from_secs(1), ms(100));
    let fail = policy.best_effort("probe", || async { Err::<u32, _>(Error::Unavailable) });
    assert!(fail.await.is_err());
    sleep(ms(100)).await;
    let slow = policy.best_effort("probe", || async {
        sleep(ms(50)).await;
        Ok::<u32, Error>(1)
    });
    let other = policy.best_effort("probe", || async { Ok::<u32, Error>(2) });
    let (probe, refused) = fan_out!(slow, other).await.unwrap();
    assert_eq!(probe.unwrap(), 1);
    assert!(matches!(
        refused,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}

/// An attempt that runs out of time counts as a failure; one dropped because a critical
/// sibling failed does not.
#[tokio::test(start_paused = true)]
async fn a_breaker_counts_timeouts_but_not_cancellations() {
    let hangs = breaker_only(1, Duration::from_secs(10), Duration::from_secs(5));
    let hang = || async {
        sleep(Duration::from_secs(10)).await;
        Ok::<u32, Error>(1)
    };
    let wallet = runner_core::Task::critical("wallet", async { Err::<u32, _>(Error::Unavailable) });
    let failed = fan_out!(wallet, hangs.best_effort("card", hang)).await;
    assert!(failed.is_err());
    assert_eq!(
        hangs.breaker_state(),
        Some(BreakerState::Closed),
        "cancelled: not counted"
    );

    let timed_out = hangs.best_effort("card", hang).timeout(ms(100)).await;
    assert!(matches!(timed_out, Err(TaskError::TimedOut(_))));
    assert_eq!(
        hangs.breaker_state(),
        Some(BreakerState::Open),
        "timed out: counted"
    );
}

/// Failures further apart than the window do not add up; errors the predicate does not count
/// are ignored.
#[tokio::test(start_paused = true)]
async fn a_breaker_counts_failures_within_its_window_only() {
    let policy = breaker_only(2, Duration::from_secs(1), Duration::from_secs(5));
    let fail = |error: Error| {
        policy.task::<runner_core::BestEffort, _, _, _, _, _>(
            "window",
            move || async move { Err::<u32, _>(error) },
            Options::new().breaker_if(is_transient),
        )
    };
    assert!(fail(Error::Unavailable).await.is_err());
    sleep(ms(1500)).await;
    assert!(fail(Error::Unavailable).await.is_err());
    assert!(fail(Error::NotFound).await.is_err());
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    assert!(fail(Error::Unavailable).await.is_err());
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
}

/// With a rate, failures must also be that share of the attempts since the first of them.
#[tokio::test(start_paused = true)]
async fn a_breaker_with_a_rate_opens_on_a_failing_share_only() {
    #[task(
        best_effort,
        breaker(failures = 2, window = "10s", cooldown = "5s", rate = 0.5)
    )]
    async fn call(fail: bool) -> Result<(), Error> {
        match fail {
            true => Err(Error::Unavailable),
            false => Ok(()),
        }
    }
    // 2 failures in 5 attempts: 40 %, still closed.
    for fail in [true, false, false, false, true] {
        let _ = call(fail).await;
    }
    assert!(call(false).await.is_ok(), "closed");
    // 3 failures in 7 attempts: 43 %; then 4 in 8: 50 %, open.
    assert!(matches!(call(true).await, Err(TaskError::Failed(_))));
    assert!(matches!(call(true).await, Err(TaskError::Failed(_))));
    assert!(matches!(
        call(false).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
}

/// A critical task refused by its breaker fails the fan-out with its own error kind.
#[tokio::test(start_paused = true)]
async fn a_critical_task_refused_fails_the_fan_out_as_rejected() {
    let policy = breaker_only(1, Duration::from_secs(1), Duration::from_secs(1));
    let fail = || async { Err::<u32, _>(Error::Unavailable) };
    assert!(fan_out!(policy.critical("wallet", fail)).await.is_err());
    let (error, report) = fan_out!(report; policy.critical("wallet", fail)).await;
    let error = error.unwrap_err();
    assert!(matches!(
        error,
        FanOutError::TaskRejected {
            task: "wallet",
            label: None,
            reason: Rejection::BreakerOpen
        }
    ));
    assert_eq!(error.kind(), "rejected");
    assert_eq!(report.tasks()[0].outcome, Outcome::Rejected);
}

// ---------------------------------------------------------------------------------------
// limit

/// With a limit of one, the second call waits for the first to finish.
#[tokio::test(start_paused = true)]
async fn a_limit_makes_excess_calls_wait() {
    static ALIVE: AtomicU32 = AtomicU32::new(0);
    static MAX: AtomicU32 = AtomicU32::new(0);
    #[task(critical, timeout = "1s", limit = 1)]
    async fn one_at_a_time() -> Result<(), Error> {
        let _alive = Alive::new(&ALIVE);
        MAX.fetch_max(ALIVE.load(Ordering::SeqCst), Ordering::SeqCst);
        sleep(ms(50)).await;
        Ok(())
    }
    let start = Instant::now();
    fan_out!(one_at_a_time(), one_at_a_time(), one_at_a_time())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), ms(150));
    assert_eq!(MAX.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejecting_limit_refuses_excess_calls_at_once() {
    #[task(best_effort, timeout = "1s", limit(max = 1, reject))]
    async fn one_at_a_time() -> Result<u32, Error> {
        sleep(ms(50)).await;
        Ok(1)
    }
    let start = Instant::now();
    let (first, second) = fan_out!(one_at_a_time(), one_at_a_time()).await.unwrap();
    assert_eq!(first.unwrap(), 1);
    assert!(matches!(
        second,
        Err(TaskError::Rejected(Rejection::LimitReached))
    ));
    assert_eq!(start.elapsed(), ms(50));
}

/// A call that waits past its timeout times out, and holds no place afterwards.
#[tokio::test(start_paused = true)]
async fn a_call_waiting_for_its_limit_times_out_and_leaks_nothing() {
    static POLICY: LazyLock<Policy> =
        LazyLock::new(|| Policy::builder().limit(Limit::new(1)).build().unwrap());
    let slow = POLICY.best_effort("slow", || async {
        sleep(ms(200)).await;
        Ok::<u32, Error>(1)
    });
    let waiting = POLICY
        .best_effort("waiting", || async { Ok::<u32, Error>(2) })
        .timeout(ms(100));
    let (slow, waiting) = fan_out!(slow, waiting).await.unwrap();
    assert_eq!(slow.unwrap(), 1);
    assert!(matches!(waiting, Err(TaskError::TimedOut(_))));
    assert_eq!(POLICY.in_flight(), 0);
    let again = POLICY.best_effort("again", || async { Ok::<u32, Error>(3) });
    assert_eq!(again.await.unwrap(), 3);
}

// ---------------------------------------------------------------------------------------
// fallback

fn cached_balance(error: &TaskError<Error>) -> u64 {
    match error {
        TaskError::Failed(_) => 1,
        TaskError::TimedOut(_) => 2,
        TaskError::Rejected(_) => 3,
        TaskError::DeadlineExceeded => 4,
        _ => 5,
    }
}

/// A critical task's fallback fills its slot; the report says so.
#[tokio::test(start_paused = true)]
async fn a_fallback_fills_the_slot_of_a_failed_task() {
    #[task(critical, timeout = "1s", fallback = cached_balance)]
    async fn balance() -> Result<u64, Error> {
        Err(Error::Unavailable)
    }
    let (result, report) = fan_out!(report; balance()).await;
    assert_eq!(result.unwrap(), (1,));
    assert_eq!(report.tasks()[0].outcome, Outcome::Fallback);
    assert!(report.tasks()[0].outcome.is_failure());
}

/// When time runs out, the fallback answers at that very instant, and wins over the timer.
#[tokio::test(start_paused = true)]
async fn a_fallback_answers_when_time_runs_out() {
    #[task(critical, timeout = "100ms", fallback = cached_balance)]
    async fn hanging_balance() -> Result<u64, Error> {
        sleep(Duration::from_secs(10)).await;
        Ok(0)
    }
    let start = Instant::now();
    let (balance,) = fan_out!(hanging_balance()).await.unwrap();
    assert_eq!(balance, 2);
    assert_eq!(start.elapsed(), ms(100));

    // Cut by the fan-out's deadline, it is told so.
    let start = Instant::now();
    let (balance,) = fan_out!(deadline = "50ms"; hanging_balance())
        .await
        .unwrap();
    assert_eq!(balance, 4);
    assert_eq!(start.elapsed(), ms(50));
}

/// A refused call takes its fallback at once.
#[tokio::test(start_paused = true)]
async fn a_fallback_answers_a_refused_call_at_once() {
    let policy = breaker_only(1, Duration::from_secs(1), Duration::from_secs(1));
    let call = || {
        policy.task::<runner_core::Critical, _, _, _, _, _>(
            "balance",
            || async { Err::<u64, _>(Error::Unavailable) },
            Options::new().fallback(cached_balance),
        )
    };
    assert_eq!(call().await.unwrap(), 1);
    let start = Instant::now();
    assert_eq!(call().await.unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// What a fallback is told when time runs out, as a number: the timeout in ms for
/// `TimedOut`, 1 for `DeadlineExceeded`.
fn time_ran_out(error: &TaskError<Error>) -> u64 {
    match error {
        TaskError::TimedOut(timeout) => timeout.as_millis() as u64,
        TaskError::DeadlineExceeded => 1,
        _ => 0,
    }
}

/// A fallback is told why time ran out exactly as the slot of the same task without one
/// would say: the task's own timeout, as configured, or the fan-out's deadline.
#[tokio::test(start_paused = true)]
async fn a_fallback_is_told_what_the_slot_would_say() {
    #[task(best_effort, timeout = "50ms", fallback = time_ran_out)]
    async fn with_fallback() -> Result<u64, Error> {
        std::future::pending().await
    }
    #[task(best_effort, timeout = "50ms")]
    async fn without() -> Result<u64, Error> {
        std::future::pending().await
    }
    // The fan-out's deadline comes first.
    let (fell_back, cut) = fan_out!(deadline = ms(30); with_fallback(), without())
        .await
        .unwrap();
    assert!(matches!(cut, Err(TaskError::DeadlineExceeded)));
    assert_eq!(fell_back.unwrap(), 1, "told DeadlineExceeded");
    // The task's own timeout comes first.
    let (fell_back, timed_out) = fan_out!(deadline = ms(80); with_fallback(), without())
        .await
        .unwrap();
    assert!(matches!(timed_out, Err(TaskError::TimedOut(t)) if t == ms(50)));
    assert_eq!(fell_back.unwrap(), 50, "told TimedOut(50ms)");
}

// ---------------------------------------------------------------------------------------
// order and events

/// Retry around hedged rounds, breaker around each attempt: once the breaker opens on the
/// first round's failures, no retry is made, and none is slept for: the call returns its
/// last error at once.
#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_retries() {
    static ATTEMPTS: Attempts = Attempts {
        started: std::sync::Mutex::new(Vec::new()),
    };
    #[task(
        best_effort,
        timeout = "1s",
        retry(attempts = 5, backoff = "100ms"),
        breaker(failures = 2, window = "10s", cooldown = "10s")
    )]
    async fn down() -> Result<u32, Error> {
        ATTEMPTS.start();
        Err(Error::Unavailable)
    }
    let start = Instant::now();
    assert!(matches!(
        down().await,
        Err(TaskError::Failed(Error::Unavailable))
    ));
    assert_eq!(ATTEMPTS.count(), 2);
    let times = ATTEMPTS.times();
    assert_eq!(
        start.elapsed(),
        times[1] - times[0],
        "no backoff after the breaker opened"
    );
    assert!(matches!(
        down().await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
}

/// A task with every policy is `Send` when its body and arguments are, so it can run in a
/// spawned task, a `TaskRunner`, or an axum handler.
#[test]
fn a_task_with_every_policy_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn zero(_: &TaskError<Error>) -> u32 {
        0
    }
    #[task(
        critical,
        timeout = "200ms",
        retry(attempts = 3, when = is_transient),
        hedge(after = "50ms", max = 2),
        breaker(failures = 5, window = "10s", cooldown = "5s", when = is_transient),
        limit = 8,
        fallback = zero
    )]
    async fn everything(name: String) -> Result<u32, Error> {
        sleep(ms(1)).await;
        Ok(name.len() as u32)
    }
    let task = everything("x".to_owned());
    assert_send(&task);
    let future = std::future::IntoFuture::into_future(task);
    assert_send(&future);

    // An argument that is `Send` but not `Sync`: each attempt's copy is reached through
    // `&mut` alone, so the task is still `Send`.
    #[task(critical, retry(attempts = 2), hedge = "10ms")]
    async fn counter(count: std::cell::Cell<u32>) -> Result<u32, Error> {
        Ok(count.get())
    }
    assert_send(&std::future::IntoFuture::into_future(counter(
        std::cell::Cell::new(1),
    )));
}

/// The dynamic engine runs policy tasks too: a refusal fills the slot at once.
#[tokio::test(start_paused = true)]
async fn the_task_runner_runs_policy_tasks() {
    let policy = Policy::builder()
        .breaker(Breaker::new(
            1,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ))
        .limit(Limit::new(4))
        .build()
        .unwrap();
    let fail = || async { Err::<u32, _>(Error::Unavailable) };
    let mut runner = runner_core::TaskRunner::new();
    let first = runner.add(policy.best_effort("card", fail));
    let mut results = runner.run_all().await.unwrap();
    assert!(matches!(results.take(first), Err(TaskError::Failed(_))));

    let mut runner = runner_core::TaskRunner::new();
    let refused = runner.add(policy.best_effort("card", fail));
    let start = Instant::now();
    let mut results = runner.run_all().await.unwrap();
    assert!(matches!(
        results.take(refused),
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(policy.in_flight(), 0);
}

// ---------------------------------------------------------------------------------------
// timers outside the coop budget; boundaries

/// An attempt that spends the whole coop budget on every poll (draining a busy channel, say).
async fn hungry() -> Result<u64, Error> {
    loop {
        tokio::task::consume_budget().await;
    }
}

fn seven(_: &TaskError<Error>) -> u64 {
    7
}

// These two run on the real clock: a task that wakes itself on every poll never lets the
// paused clock advance. They assert outcomes, not times.

/// The fallback's timer is outside the coop budget, like the engine's: it answers at the
/// deadline even when the attempt spends the budget on every poll.
#[tokio::test]
async fn a_fallback_answers_even_when_the_attempt_spends_the_coop_budget() {
    #[task(critical, timeout = "30ms", fallback = seven)]
    async fn busy() -> Result<u64, Error> {
        hungry().await
    }
    assert_eq!(busy().await.unwrap(), 7);
}

/// So is the hedge's.
#[tokio::test]
async fn a_hedge_starts_even_when_the_first_attempt_spends_the_coop_budget() {
    static N: AtomicU32 = AtomicU32::new(0);
    #[task(critical, timeout = "200ms", hedge = "10ms")]
    async fn busy() -> Result<u64, Error> {
        match N.fetch_add(1, Ordering::SeqCst) {
            0 => hungry().await,
            _ => Ok(1),
        }
    }
    assert_eq!(busy().await.unwrap(), 1);
}

/// tower's budget takes windows up to exactly 60 s; so does ours, to the nanosecond.
#[test]
fn a_budget_window_over_sixty_seconds_is_refused() {
    let with = |window| {
        Policy::builder()
            .retry(Retry::new(2).budget(Budget::new(0.2, window, 10)))
            .build()
    };
    let error = with(Duration::new(60, 500_000)).unwrap_err();
    assert_eq!(error.field(), "retry.budget_window");
    assert!(with(Duration::from_secs(60)).is_ok());
}

/// A task refused inside a nested fan-out fills its own slot; the verdict does not leak to
/// the task around it.
#[tokio::test(start_paused = true)]
async fn a_refusal_in_a_nested_fan_out_stays_inside() {
    // A `static`: the nested task fn can capture nothing.
    static INNER: LazyLock<Policy> = LazyLock::new(|| {
        Policy::builder()
            .limit(Limit::new(1).reject_when_full())
            .build()
            .unwrap()
    });
    #[task(best_effort)]
    async fn outer() -> Result<u32, Error> {
        let a = INNER.best_effort("a", || async {
            sleep(Duration::from_secs(1)).await;
            Ok::<u32, Error>(1)
        });
        let b = INNER.best_effort("b", || async { Ok::<u32, Error>(2) });
        let (a, b) = fan_out!(a, b).await.unwrap();
        assert_eq!(a.unwrap(), 1);
        assert!(matches!(
            b,
            Err(TaskError::Rejected(Rejection::LimitReached))
        ));
        Ok(3)
    }
    let (outer,) = fan_out!(outer()).await.unwrap();
    assert_eq!(outer.unwrap(), 3);
}
