//! Retries: exponential backoff with full jitter, never past the deadline, within a budget.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::retry::budget::TpsBudget;

use crate::context;
use crate::policy::call::Retrying;
use crate::policy::error::{PolicyError, says};
use crate::policy::event::{EventKind, RetryRefusal};
use crate::policy::guarded::Guarded;
use crate::policy::{Failure, Policy, Round, hedge};
use crate::timer::{self, Timer, timer_at};

/// A retry's settings: up to `attempts` attempts in all, sleeping between them a random time
/// in `[0, min(max_backoff, backoff × 2ⁿ⁻¹))` before retry n ("full jitter", so that callers
/// that failed together do not retry together), within a [`Budget`].
///
/// An error can name its own delay instead
/// ([`Options::retry_delay_from`](crate::Options::retry_delay_from): a 503's `Retry-After`,
/// gRPC's `grpc-retry-pushback-ms`).
///
/// A retry is skipped, and the last error returned, when the error is not retryable (see
/// [`Options::retry_if`](crate::Options::retry_if)), when the time left before the task's
/// deadline cannot fit the backoff and another attempt as long as the last one, when the
/// task's circuit breaker would refuse it, or when the budget is spent. A retry the breaker
/// refuses after the backoff (another call opened it meanwhile) returns the last attempt's
/// error too: the refusal is a policy event, not the call's outcome.
///
/// The values are checked when the policy is built ([`PolicyBuilder::build`](crate::PolicyBuilder::build)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub(crate) attempts: u32,
    // `None` until set: a `max_backoff` below the default backoff caps it, where one below
    // a backoff given is a mistake.
    pub(crate) backoff: Option<Duration>,
    // `None` until set: then the cap is 1 s, or the backoff if it is longer.
    pub(crate) max_backoff: Option<Duration>,
    pub(crate) budget: Budget,
    // Each attempt's own time, inside the task's (Envoy's `per_try_timeout`).
    pub(crate) attempt_timeout: Option<Duration>,
}

impl Retry {
    /// Up to `attempts` attempts in all (the first and `attempts - 1` retries), with a 10 ms
    /// backoff capped at 1 s and the default [`Budget`].
    pub const fn new(attempts: u32) -> Self {
        Self {
            attempts,
            backoff: None,
            max_backoff: None,
            budget: Budget::DEFAULT,
            attempt_timeout: None,
        }
    }

    /// Ends each attempt that takes longer than `timeout`, inside the task's own timeout
    /// (Envoy's `per_try_timeout`): the attempt is dropped, counts as a breaker failure, and
    /// is retried like a failure if the attempts, the deadline and the budget allow. When
    /// none is left, the task fails with [`TaskError::TimedOut`](crate::TaskError::TimedOut)
    /// of `timeout`. A timed-out attempt is retried whatever
    /// [`Options::retry_if`](crate::Options::retry_if) says (there is no error to judge):
    /// leave it unset for a call that must not be sent twice. Inside the attempt,
    /// [`remaining`](crate::remaining) is still the task's time, not the attempt's. With a hedge, the time is the round's: an attempt and the hedges beside
    /// it end together, `timeout` after the attempt started.
    pub const fn attempt_timeout(self, timeout: Duration) -> Self {
        Self {
            attempt_timeout: Some(timeout),
            ..self
        }
    }

    /// The backoff before the first retry, doubled for each one after (before jitter).
    pub const fn backoff(self, backoff: Duration) -> Self {
        Self {
            backoff: Some(backoff),
            ..self
        }
    }

    /// The first backoff, before the cap.
    fn first_backoff(&self) -> Duration {
        self.backoff.unwrap_or(Duration::from_millis(10))
    }

    /// The longest backoff (before jitter); 1 s unless set, or the first backoff if that is
    /// longer.
    pub const fn max_backoff(self, max_backoff: Duration) -> Self {
        Self {
            max_backoff: Some(max_backoff),
            ..self
        }
    }

    /// The cap of every backoff.
    fn cap(&self) -> Duration {
        self.max_backoff
            .unwrap_or_else(|| self.first_backoff().max(Duration::from_secs(1)))
    }

    /// The retry budget, shared by every call through the policy.
    pub const fn budget(self, budget: Budget) -> Self {
        Self { budget, ..self }
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.attempts == 0 {
            return Err(PolicyError::new("retry.attempts", says::ATTEMPTS));
        }
        if self.backoff.is_some_and(|backoff| backoff.is_zero()) {
            return Err(PolicyError::zero("retry.backoff", "backoff"));
        }
        if self
            .attempt_timeout
            .is_some_and(|timeout| timeout.is_zero())
        {
            return Err(PolicyError::zero(
                "retry.attempt_timeout",
                "attempt timeout",
            ));
        }
        if self.max_backoff.is_some_and(|max| max.is_zero()) {
            return Err(PolicyError::zero("retry.max_backoff", "max_backoff"));
        }
        if let (Some(backoff), Some(max)) = (self.backoff, self.max_backoff)
            && max < backoff
        {
            return Err(PolicyError::new("retry.max_backoff", says::MAX_BACKOFF));
        }
        self.budget.check()
    }
}

/// A retry budget: retries may be at most `share` of the calls made over the last `window`,
/// plus `min_per_sec` retries a second for a policy that is called rarely. When a dependency
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

    /// A budget of `share` retries per call (within `0.0..=1000.0`) over `window` (1 s to
    /// 60 s), plus `min_per_sec` a second.
    pub const fn new(share: f32, window: Duration, min_per_sec: u32) -> Self {
        Self {
            share,
            window,
            min_per_sec,
        }
    }

    /// The default budget with whichever of its settings are given replaced: what the
    /// attribute's and a config file's `budget`, `budget_window` and `min_per_sec` build.
    pub(crate) fn given(
        share: Option<f32>,
        window: Option<Duration>,
        min_per_sec: Option<u32>,
    ) -> Self {
        let default = Self::DEFAULT;
        Self::new(
            share.unwrap_or(default.share),
            window.unwrap_or(default.window),
            min_per_sec.unwrap_or(default.min_per_sec),
        )
    }

    fn check(&self) -> Result<(), PolicyError> {
        // Written so that NaN fails too.
        if !(self.share >= 0.0 && self.share <= 1000.0) {
            return Err(PolicyError::new("retry.budget", says::BUDGET));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.window) {
            return Err(PolicyError::new("retry.budget_window", says::BUDGET_WINDOW));
        }
        if self.min_per_sec >= i32::MAX as u32 {
            return Err(PolicyError::new("retry.min_per_sec", says::MIN_PER_SEC));
        }
        Ok(())
    }

    /// tower's budget; `check` has made its assertions hold.
    pub(crate) fn build(self) -> TpsBudget {
        TpsBudget::new(self.window, self.min_per_sec, self.share)
    }
}

/// Runs rounds of `attempt` (hedged if `round` says so) until one succeeds or a retry is
/// refused.
///
/// backon gives the schedule; the loop is ours, so that each round borrows the attempt maker
/// through `&mut` (which keeps the call `Send` whenever the arguments are) and so that the
/// deadline, the budget and the events sit in one place.
pub(crate) async fn retrying<'p, A, F, T, E>(
    policy: &'p Policy,
    retrying: Retrying<'_, T, E>,
    round: Round,
    attempt: &mut A,
) -> Result<T, Failure<E>>
where
    A: FnMut(bool, Option<Instant>) -> Guarded<'p, F, E>,
    F: Future<Output = Result<T, E>>,
{
    let Round { task, deadline, .. } = round;
    let Retrying {
        retry,
        retry_if,
        retry_if_value,
        delay_from,
    } = retrying;
    // Made at the first failure: a call whose first attempt succeeds needs no schedule.
    let mut schedule = None;
    let mut number = 1;
    // The outcome of the round before a retry (a failure, or a value worth another try),
    // the call's if the retry is refused.
    let mut last: Option<Result<T, Failure<E>>> = None;
    let refused = |reason| {
        policy.emit(task, EventKind::RetryRefused { reason });
    };
    // One timer for a round's attempt timeout and the backoff after it, which never run at
    // once: a second would make every call's future larger by one.
    let mut timer = pin!(None::<Timer>);
    loop {
        // A round (an attempt, and its hedges) has the attempt timeout's time, within the
        // call's: its attempts are dropped when it ends, as timed out.
        let expiry = retry
            .attempt_timeout
            .map(|timeout| timer::after(Instant::now(), timeout));
        timer.set(expiry.map(timer_at));
        let this_round = Round {
            deadline: earliest(deadline, expiry),
            ..round
        };
        let (outcome, began) = Timed {
            round: hedge::round(policy, this_round, &mut *attempt),
            timed: deadline.is_some(),
            began: None,
            expiry: timer.as_mut(),
        }
        .await;
        let outcome = match outcome {
            Some(Ok(value)) if !retry_if_value.is_some_and(|again| again(&value)) => {
                return Ok(value);
            }
            // A value that asks for another try ("pending", an empty page): retried as a
            // failure is, and the call's answer if no retry is left.
            Some(Ok(value)) => Ok(value),
            Some(Err(failure)) => Err(failure),
            None => Err(Failure::TimedOut),
        };
        if let (Err(Failure::Rejected(_)), Some(last)) = (&outcome, last.take()) {
            refused(RetryRefusal::Breaker);
            return last;
        }
        let retryable = match &outcome {
            Ok(_) => true,
            Err(Failure::Failed(error)) => retry_if.is_none_or(|retryable| retryable(error)),
            // No error to judge: an attempt that ran out of its own time is worth another.
            Err(Failure::TimedOut) => true,
            // A refusal is not retried: the breaker stays open through any backoff.
            Err(Failure::Rejected(_)) => false,
        };
        let schedule = schedule.get_or_insert_with(|| {
            ExponentialBuilder::new()
                // backon caps every backoff but the first at `max_delay`: cap the first here.
                .with_min_delay(retry.first_backoff().min(retry.cap()))
                .with_max_delay(retry.cap())
                .with_factor(2.0)
                .with_max_times(retry.attempts.saturating_sub(1) as usize)
                .build()
        });
        let Some(backoff) = schedule.next().filter(|_| retryable).map(full_jitter) else {
            return outcome;
        };
        // The delay the error asks for (a `Retry-After`), in place of the backoff: still one
        // of the attempts, and still within the deadline and the budget.
        let asked = match (&outcome, delay_from) {
            (Err(Failure::Failed(error)), Some(delay_from)) => delay_from(error),
            _ => None,
        };
        if asked.is_some_and(|asked| asked > retry.cap()) {
            refused(RetryRefusal::Delay);
            return outcome;
        }
        let delay = asked.unwrap_or(backoff);
        let now = Instant::now();
        // The next attempt is expected to take as long as the last one did.
        let took = began.map_or(Duration::ZERO, |began| now.saturating_duration_since(began));
        let needs = delay.saturating_add(took);
        let fits = |deadline| now.checked_add(needs).is_some_and(|end| end < deadline);
        if deadline.is_some_and(|deadline| !fits(deadline)) {
            refused(RetryRefusal::Deadline);
            context::note_out_of_time();
            return outcome;
        }
        // Nor one the breaker, opened by this very failure perhaps, would refuse.
        if now
            .checked_add(delay)
            .is_some_and(|at| policy.breaker_refuses_at(at))
        {
            refused(RetryRefusal::Breaker);
            return outcome;
        }
        if !policy.budget_withdraw() {
            refused(RetryRefusal::Budget);
            return outcome;
        }
        number += 1;
        policy.emit(
            task,
            EventKind::RetryScheduled {
                attempt: number,
                delay,
            },
        );
        last = Some(outcome);
        timer.set(Some(timer_at(timer::after(now, delay))));
        poll_fn(|cx| match timer.as_mut().as_pin_mut() {
            Some(backoff) => backoff.poll(cx),
            None => Poll::Ready(()),
        })
        .await;
    }
}

pin_project! {
    /// A round, and when it first waited: a round that finished on its first poll took no
    /// time worth a clock read, and one that waited is timed from its first wait (its first
    /// poll only started its attempts). With an attempt timeout, it ends the round at its
    /// `expiry` (`None` for its output).
    ///
    /// Only a call with a deadline is timed: the time is for judging whether another
    /// attempt fits before it.
    ///
    /// A named future rather than an `async fn`, which would hold the round twice in its
    /// state (as its argument and as the local it pins).
    struct Timed<'t, F> {
        #[pin]
        round: F,
        timed: bool,
        began: Option<Instant>,
        expiry: Pin<&'t mut Option<Timer>>,
    }
}

impl<F: Future> Future for Timed<'_, F> {
    type Output = (Option<F::Output>, Option<Instant>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The round first: one that is done as its time ends is done.
        match this.round.poll(cx) {
            Poll::Ready(output) => Poll::Ready((Some(output), *this.began)),
            Poll::Pending => {
                if *this.timed && this.began.is_none() {
                    *this.began = Some(Instant::now());
                }
                match this
                    .expiry
                    .as_mut()
                    .as_pin_mut()
                    .map(|expiry| expiry.poll(cx))
                {
                    Some(Poll::Ready(())) => Poll::Ready((None, *this.began)),
                    _ => Poll::Pending,
                }
            }
        }
    }
}

/// The earlier of two instants, either of which may be missing.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// "Full jitter": a uniformly random time in `[0, delay)`.
pub(crate) fn full_jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64())
}
