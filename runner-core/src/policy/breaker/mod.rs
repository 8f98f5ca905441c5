//! The circuit breaker: its settings here, its state (one per policy, shared by every call
//! through it) in `cell.rs`, the outcomes it judges in `window.rs`.

mod cell;
mod keys;
mod window;

use std::time::Duration;

use crate::policy::error::{PolicyError, says};

pub(crate) use self::cell::{BreakerCell, Permit};
pub use self::keys::BreakerConfig;

/// The most calls a count-based window holds: its outcomes are kept one byte each, in one
/// allocation made when the window is first used.
pub(crate) const MAX_WINDOW_CALLS: u32 = 100_000;

/// The most calls a half-open breaker lets through to judge the dependency.
pub(crate) const MAX_HALF_OPEN_CALLS: u32 = 1_000;

/// A circuit breaker's settings, in the terms resilience4j's users tune: a sliding
/// [`BreakerWindow`] of outcomes, judged once it holds [`minimum_calls`](Self::minimum_calls);
/// a [failure rate](Self::failure_rate) (and, or instead, a [count](Self::failures)) and a
/// [slow-call rate](Self::slow_calls) that open it; a [`cooldown`](Self::new) that can
/// [grow](Self::cooldown_grows) or come from the error
/// ([`Options::cooldown_from`](crate::Options::cooldown_from)); and a
/// [half-open](Self::half_open) trial of N calls that closes it again.
///
/// ```
/// use std::time::Duration;
/// use runner_core::Breaker;
///
/// // resilience4j's COUNT_BASED window: the last 100 calls, judged once 20 are in, open at
/// // half of them failed, or at 80 % slower than 500 ms; 5 s open, then 3 trial calls,
/// // of which 2 must succeed.
/// let breaker = Breaker::count_based(100, Duration::from_secs(5))
///     .minimum_calls(20)
///     .failure_rate(0.5)
///     .slow_calls(Duration::from_millis(500), 0.8)
///     .half_open(3, 0.66);
///
/// // TIME_BASED: the calls of the last 10 s, with a break that doubles up to a minute while
/// // the dependency stays down.
/// let breaker = Breaker::time_based(Duration::from_secs(10), Duration::from_secs(5))
///     .cooldown_grows(2.0, Duration::from_secs(60));
/// ```
///
/// # What counts
///
/// Every attempt is one call in the window: a retry and a hedge too. It is a failure when it
/// returns an error (one [`Options::breaker_if`](crate::Options::breaker_if) counts, if it
/// is given) or when time runs out on it; it is slow when it took longer than the slow-call
/// duration, failed or not. An attempt dropped for another reason (a hedge that lost, a
/// critical sibling that failed) and an error the predicate does not count are not in the
/// window at all. An operator's [`force_closed`](crate::Policy::force_closed) lets calls
/// through uncounted.
///
/// A time-based window is kept as ten buckets of a tenth of it each (as resilience4j keeps
/// one per second), so an outcome leaves the window between 0.9 and 1.0 windows after it
/// was recorded. A changed window ([`Policy::update`](crate::Policy::update)) starts empty.
///
/// # Opening, and closing again
///
/// Once the window holds `minimum_calls` outcomes (a count-based window of fewer calls:
/// all of them), the breaker opens when the failures reach the failure rate (and the count,
/// if one is given), or the slow calls reach the slow-call rate. It then refuses every call
/// with [`Rejection::BreakerOpen`](crate::Rejection::BreakerOpen) for the cooldown, and
/// lets the half-open trial through: the first `calls` attempts after it, each refused
/// beyond them. When all of them have finished, it closes if the share that succeeded (and
/// were not slow) is at least the trial's rate, and opens again otherwise. A trial call
/// dropped unfinished, or failing with an error the predicate does not count, frees its
/// place for another.
///
/// # The first form: `Breaker::new(failures, window, cooldown)`
///
/// `Breaker::new(5, 10s, 5s)` is a time-based window of 10 s that opens at 5 failures in
/// it, judged from the first call; with [`rate`](Self::rate), only when those failures are
/// also at least that share of the window's calls. The window used to begin at the first
/// failure and last `window` from it; it now slides, which opens at the same failures,
/// except that the share is taken over the window's calls rather than those since the
/// first failure. Its half-open trial is one call, as before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breaker {
    pub(crate) window: BreakerWindow,
    pub(crate) minimum_calls: u32,
    // A count of failures the window must hold to open, with the rate or instead of it.
    pub(crate) failures: Option<u32>,
    // Rates in thousandths, so that `failures / calls >= rate` is exact in integers
    // (`0.6` opens at 3 failures in 5 calls, as written, not at f32's 0.600000024).
    pub(crate) failure_rate: Option<u32>,
    pub(crate) slow: Option<Slow>,
    pub(crate) half_open: HalfOpen,
    pub(crate) cooldown: Duration,
    pub(crate) growth: Option<Growth>,
}

/// The outcomes a breaker judges: resilience4j's sliding window types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerWindow {
    /// The last `n` calls (resilience4j's `COUNT_BASED`), 1 to 100,000.
    Calls(u32),
    /// The calls of the last `d` (resilience4j's `TIME_BASED`).
    Time(Duration),
}

/// A call slower than `after` is slow; the breaker opens at `rate_permille` of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slow {
    pub(crate) after: Duration,
    pub(crate) rate_permille: u32,
}

/// The half-open trial: `calls` let through, closing at `rate_permille` of them succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HalfOpen {
    pub(crate) calls: u32,
    pub(crate) rate_permille: u32,
}

/// Each opening in a row lasts `factor` times the one before, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Growth {
    pub(crate) factor: f32,
    pub(crate) max: Duration,
}

/// The trial of the first form, and the default: one call, which must succeed.
const ONE_PROBE: HalfOpen = HalfOpen {
    calls: 1,
    rate_permille: 1000,
};

impl Breaker {
    /// The first form: opens at `failures` failures (at least 1) within the last `window`,
    /// for `cooldown` (both positive). See [the first form](Self#the-first-form-breakernewfailures-window-cooldown).
    pub const fn new(failures: u32, window: Duration, cooldown: Duration) -> Self {
        Self {
            minimum_calls: 1,
            failures: Some(failures),
            failure_rate: None,
            ..Self::judging(BreakerWindow::Time(window), cooldown)
        }
    }

    /// Over the last `calls` calls: opens once they are all in and half of them failed,
    /// for `cooldown`.
    pub const fn count_based(calls: u32, cooldown: Duration) -> Self {
        Self {
            minimum_calls: calls,
            ..Self::judging(BreakerWindow::Calls(calls), cooldown)
        }
    }

    /// Over the calls of the last `window`: opens once it holds 10 calls and half of them
    /// failed, for `cooldown`.
    pub const fn time_based(window: Duration, cooldown: Duration) -> Self {
        Self::judging(BreakerWindow::Time(window), cooldown)
    }

    /// `window`, judged once it holds 10 calls, opening at half of them failed for
    /// `cooldown`, with a one-call trial: the defaults each constructor starts from.
    const fn judging(window: BreakerWindow, cooldown: Duration) -> Self {
        Self {
            window,
            minimum_calls: 10,
            failures: None,
            failure_rate: Some(500),
            slow: None,
            half_open: ONE_PROBE,
            cooldown,
            growth: None,
        }
    }

    /// The calls the window must hold before it is judged (at least 1): below them, no
    /// rate opens the breaker.
    pub const fn minimum_calls(self, calls: u32) -> Self {
        Self {
            minimum_calls: calls,
            ..self
        }
    }

    /// Opens when at least `rate` of the window's calls failed (`0.5`: half of them;
    /// within `(0.0, 1.0]`).
    pub const fn failure_rate(self, rate: f32) -> Self {
        Self {
            failure_rate: Some(permille(rate)),
            ..self
        }
    }

    /// The first form's name for [`failure_rate`](Self::failure_rate): with
    /// [`Breaker::new`]'s count, it opens only when both are reached.
    pub const fn rate(self, rate: f32) -> Self {
        self.failure_rate(rate)
    }

    /// Opens only when the window also holds at least `failures` failures (at least 1).
    pub const fn failures(self, failures: u32) -> Self {
        Self {
            failures: Some(failures),
            ..self
        }
    }

    /// A call slower than `after` is slow, and the breaker opens when at least `rate` of
    /// the window's calls were slow (within `(0.0, 1.0]`), whatever their failures.
    pub const fn slow_calls(self, after: Duration, rate: f32) -> Self {
        Self {
            slow: Some(Slow {
                after,
                rate_permille: permille(rate),
            }),
            ..self
        }
    }

    /// The half-open trial: `calls` calls are let through (1 to 1,000),
    /// and the breaker closes if at least `successes` of them succeeded (within
    /// `(0.0, 1.0]`; with [`slow_calls`](Self::slow_calls), a slow success does not count).
    pub const fn half_open(self, calls: u32, successes: f32) -> Self {
        Self {
            half_open: HalfOpen {
                calls,
                rate_permille: permille(successes),
            },
            ..self
        }
    }

    /// Each opening after a failed trial lasts `factor` times the one before (at least
    /// 1.0), up to `max` (at least the cooldown); a closing starts again from the cooldown.
    pub const fn cooldown_grows(self, factor: f32, max: Duration) -> Self {
        Self {
            growth: Some(Growth { factor, max }),
            ..self
        }
    }

    /// The `n`th opening in a row's length (0 is the first), or the error's own,
    /// capped by the growth's `max` if there is one.
    pub(crate) fn cooldown(&self, openings: u32, from_error: Option<Duration>) -> Duration {
        // A break of zero would be none: the breaker's own then.
        let from_error = from_error.filter(|cooldown| !cooldown.is_zero());
        let Some(growth) = self.growth else {
            return from_error.unwrap_or(self.cooldown);
        };
        let grown = from_error.unwrap_or_else(|| {
            let exponent = i32::try_from(openings).unwrap_or(i32::MAX);
            let seconds = self.cooldown.as_secs_f64() * f64::from(growth.factor).powi(exponent);
            Duration::try_from_secs_f64(seconds).unwrap_or(growth.max)
        });
        grown.min(growth.max)
    }

    /// `true` if a success can change the breaker outside a trial: with a rate, a slow-call
    /// threshold, or a count-based window (where it pushes out an older outcome).
    pub(crate) fn counts_successes(&self) -> bool {
        let only_failures = matches!(self.window, BreakerWindow::Time(_))
            && self.failure_rate.is_none()
            && self.slow.is_none()
            && matches!(self.failures, Some(failures) if failures >= self.minimum_calls);
        !only_failures
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        match self.window {
            BreakerWindow::Calls(calls) if !(1..=MAX_WINDOW_CALLS).contains(&calls) => {
                return Err(PolicyError::new("breaker.window", says::WINDOW_CALLS));
            }
            BreakerWindow::Time(window) if window.is_zero() => {
                return Err(PolicyError::zero("breaker.window", "breaker window"));
            }
            _ => {}
        }
        if self.minimum_calls == 0 {
            return Err(PolicyError::new(
                "breaker.minimum_calls",
                says::MINIMUM_CALLS,
            ));
        }
        if self.failures == Some(0) {
            return Err(PolicyError::new("breaker.failures", says::FAILURES));
        }
        if !self.failure_rate.is_none_or(valid_permille) {
            return Err(PolicyError::new("breaker.failure_rate", says::RATE));
        }
        if let Some(slow) = self.slow {
            if slow.after.is_zero() {
                return Err(PolicyError::zero("breaker.slow", "slow-call duration"));
            }
            if !valid_permille(slow.rate_permille) {
                return Err(PolicyError::new("breaker.slow_rate", says::SLOW_RATE));
            }
        }
        if !(1..=MAX_HALF_OPEN_CALLS).contains(&self.half_open.calls) {
            return Err(PolicyError::new(
                "breaker.half_open_calls",
                says::HALF_OPEN_CALLS,
            ));
        }
        if !valid_permille(self.half_open.rate_permille) {
            return Err(PolicyError::new(
                "breaker.half_open_successes",
                says::HALF_OPEN_SUCCESSES,
            ));
        }
        if self.cooldown.is_zero() {
            return Err(PolicyError::zero("breaker.cooldown", "breaker cooldown"));
        }
        if let Some(growth) = self.growth {
            // NaN fails this too.
            if !(growth.factor >= 1.0 && growth.factor.is_finite()) {
                return Err(PolicyError::new(
                    "breaker.cooldown_growth",
                    says::COOLDOWN_GROWTH,
                ));
            }
            if growth.max < self.cooldown {
                return Err(PolicyError::new("breaker.max_cooldown", says::MAX_COOLDOWN));
            }
        }
        Ok(())
    }
}

/// `rate` in thousandths: NaN and anything outside `(0.0, 1.0]` is 0, which `check`
/// refuses; a positive rate below a thousandth is one.
const fn permille(rate: f32) -> u32 {
    match rate > 0.0 && rate <= 1.0 {
        true => {
            let rounded = (rate * 1000.0 + 0.5) as u32;
            if rounded == 0 { 1 } else { rounded }
        }
        false => 0,
    }
}

fn valid_permille(permille: u32) -> bool {
    (1..=1000).contains(&permille)
}
