//! Retries: exponential backoff with full jitter, never past the deadline, within a budget.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::policy::guarded::Guarded;
use crate::policy::{Failure, Round, event, hedge};

/// A retry's settings: up to `attempts` attempts in all, sleeping between them a random time
/// in `[0, min(max_backoff, backoff × 2ⁿ⁻¹))` before retry n ("full jitter", so that callers
/// that failed together do not retry together), within a [`Budget`].
///
/// A retry is skipped, and the last error returned, when the error is not retryable (see
/// [`Options::retry_if`](crate::Options::retry_if)), when the time left before the task's
/// deadline cannot fit the backoff and another attempt as long as the last one, when the
/// task's circuit breaker would refuse it, or when the budget is spent. A retry the breaker
/// refuses after the backoff (another call opened it meanwhile) returns the last attempt's
/// error too: the refusal is a policy event, not the call's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub(crate) attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) budget: Budget,
}

impl Retry {
    /// Up to `attempts` attempts in all (the first and `attempts - 1` retries), with a 10 ms
    /// backoff capped at 1 s and the default [`Budget`].
    ///
    /// # Panics
    ///
    /// If `attempts` is zero: in a `static`, at compile time.
    pub const fn new(attempts: u32) -> Self {
        assert!(attempts > 0, "a task needs at least one attempt");
        Self {
            attempts,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
            budget: Budget::DEFAULT,
        }
    }

    /// The backoff before the first retry, doubled for each one after (before jitter).
    ///
    /// # Panics
    ///
    /// If `backoff` is zero.
    pub const fn backoff(self, backoff: Duration) -> Self {
        assert!(!backoff.is_zero(), "a backoff must be positive");
        Self { backoff, ..self }
    }

    /// The longest backoff (before jitter).
    ///
    /// # Panics
    ///
    /// If `max_backoff` is zero.
    pub const fn max_backoff(self, max_backoff: Duration) -> Self {
        assert!(!max_backoff.is_zero(), "a backoff must be positive");
        Self {
            max_backoff,
            ..self
        }
    }

    /// The retry budget, shared by every call of the task fn.
    pub const fn budget(self, budget: Budget) -> Self {
        Self { budget, ..self }
    }
}

/// A retry budget: retries may be at most `share` of the calls made over the last `window`,
/// plus `min_per_sec` retries a second for a task fn that is called rarely. When a dependency
/// fails every call, its callers then add at most `share` to its load, instead of multiplying
/// it by the number of attempts (the retry storm).
///
/// This is tower's `TpsBudget`: its counts are atomics, and each deposit and withdrawal takes
/// a mutex and reads the clock to roll its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub(crate) share: f32,
    pub(crate) window: Duration,
    pub(crate) min_per_sec: u32,
}

impl Budget {
    /// 20 % of calls over 10 s, plus 10 retries a second.
    pub const DEFAULT: Self = Self {
        share: 0.2,
        window: Duration::from_secs(10),
        min_per_sec: 10,
    };

    /// A budget of `share` retries per call over `window`, plus `min_per_sec` a second.
    ///
    /// # Panics
    ///
    /// If `share` is not within `0.0..=1000.0`, or `window` is not within 1 s to 60 s: in a
    /// `static`, at compile time.
    pub const fn new(share: f32, window: Duration, min_per_sec: u32) -> Self {
        assert!(
            share >= 0.0 && share <= 1000.0,
            "a budget's share must be within 0.0..=1000.0"
        );
        let (secs, nanos) = (window.as_secs(), window.subsec_nanos());
        assert!(
            secs >= 1 && (secs < 60 || (secs == 60 && nanos == 0)),
            "a budget's window must be within 1s..=60s"
        );
        assert!(
            min_per_sec < i32::MAX as u32,
            "a budget's min_per_sec is too large"
        );
        Self {
            share,
            window,
            min_per_sec,
        }
    }

    fn build(self) -> TpsBudget {
        TpsBudget::new(self.window, self.min_per_sec, self.share)
    }
}

/// Runs rounds of `attempt` (hedged if `round` says so) until one succeeds or a retry is
/// refused.
///
/// backon gives the schedule; the loop is ours, so that each round borrows the attempt maker
/// through `&mut` (which keeps the call `Send` whenever the arguments are) and so that the
/// deadline, the budget and the events sit in one place.
pub(crate) async fn retrying<A, F, T, E, const H: usize>(
    retry: &Retry,
    budget: &OnceLock<TpsBudget>,
    round: Round,
    retry_if: Option<fn(&E) -> bool>,
    breaker_refuses_at: impl Fn(Instant) -> bool,
    attempt: &mut A,
) -> Result<T, Failure<E>>
where
    A: FnMut() -> Guarded<F, E>,
    F: Future<Output = Result<T, E>>,
{
    // Built on the task fn's first call, once per process: its only allocation.
    let Round { task, deadline, .. } = round;
    let budget = budget.get_or_init(|| retry.budget.build());
    budget.deposit();
    let mut schedule = ExponentialBuilder::new()
        // backon caps every backoff but the first at `max_delay`: cap the first here.
        .with_min_delay(retry.backoff.min(retry.max_backoff))
        .with_max_delay(retry.max_backoff)
        .with_factor(2.0)
        .with_max_times(retry.attempts.saturating_sub(1) as usize)
        .build();
    let mut number = 1;
    // The failure of the round before a retry, the call's outcome if the retry is refused.
    let mut last: Option<Failure<E>> = None;
    loop {
        let began = Instant::now();
        let failure = match hedge::round::<_, _, _, _, H>(round, &mut *attempt).await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if let (Failure::Rejected(_), Some(last)) = (&failure, last.take()) {
            event::retry_refused(task, "breaker");
            return Err(last);
        }
        let retryable = match &failure {
            Failure::Failed(error) => retry_if.is_none_or(|retryable| retryable(error)),
            // A refusal is not retried: the breaker stays open through any backoff.
            Failure::Rejected(_) => false,
        };
        let Some(delay) = schedule.next().filter(|_| retryable).map(full_jitter) else {
            return Err(failure);
        };
        let now = Instant::now();
        // The next attempt is expected to take as long as the last one did.
        let needs = delay.saturating_add(now.saturating_duration_since(began));
        let fits = |deadline| now.checked_add(needs).is_some_and(|end| end < deadline);
        if deadline.is_some_and(|deadline| !fits(deadline)) {
            event::retry_refused(task, "deadline");
            return Err(failure);
        }
        // Nor one the breaker, opened by this very failure perhaps, would refuse.
        if now.checked_add(delay).is_some_and(&breaker_refuses_at) {
            event::retry_refused(task, "breaker");
            return Err(failure);
        }
        if !budget.withdraw() {
            event::retry_refused(task, "budget");
            return Err(failure);
        }
        number += 1;
        event::retrying(task, number, delay);
        last = Some(failure);
        tokio::time::sleep(delay).await;
    }
}

/// "Full jitter": a uniformly random time in `[0, delay)`.
pub(crate) fn full_jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64())
}
