//! The bulkhead: at most N calls through a policy in flight at once, N fixed or learned from
//! the dependency's latency; when it is reached, critical calls go first.

mod adaptive;
mod gate;

use crate::policy::error::{PolicyError, says};

pub(crate) use self::adaptive::Sample;
pub(crate) use self::gate::Gate;

/// A bulkhead's settings: at most `max` calls through the policy in flight at once, or, for
/// an [adaptive](Self::adaptive) one, as many as the dependency's latency says it can take.
///
/// An excess call waits for a free place (within its timeout and the deadline), or, with
/// [`reject_when_full`](Self::reject_when_full), is refused at once with
/// [`Rejection::LimitReached`](crate::Rejection::LimitReached).
///
/// **Critical calls go first.** Each call through the policy knows its criticality: a
/// critical call takes a free place even when best-effort calls wait for one, and waits
/// ahead of them; a best-effort call takes a place only when no critical call waits, and a
/// place freed goes to a critical call waiting before any best-effort one. So when one
/// policy guards a dependency that both kinds of call use, the best-effort ones are the
/// ones that wait, time out or are refused.
///
/// ```
/// use runner_core::{Adaptive, Limit, Policy};
///
/// let fixed = Policy::builder().limit(Limit::new(32)).build().unwrap();
/// assert_eq!(fixed.limit_now(), Some(32));
///
/// // Learned between 1 and 200, from 20.
/// let learned = Policy::builder()
///     .limit(Limit::adaptive(Adaptive::new().bounds(1, 200)))
///     .build()
///     .unwrap();
/// assert_eq!(learned.limit_now(), Some(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub(crate) max: usize,
    pub(crate) reject: bool,
    pub(crate) adaptive: Option<Adaptive>,
}

impl Limit {
    /// At most `max` calls in flight (1 to 2³¹ − 1); excess calls wait.
    pub const fn new(max: usize) -> Self {
        Self {
            max,
            reject: false,
            adaptive: None,
        }
    }

    /// A limit learned from the dependency's latency and errors (see [`Adaptive`]), within
    /// its bounds.
    pub const fn adaptive(adaptive: Adaptive) -> Self {
        Self {
            max: adaptive.max as usize,
            reject: false,
            adaptive: Some(adaptive),
        }
    }

    /// Excess calls are refused at once with
    /// [`Rejection::LimitReached`](crate::Rejection::LimitReached) instead of waiting.
    pub const fn reject_when_full(self) -> Self {
        Self {
            reject: true,
            ..self
        }
    }

    /// The most calls in flight: the limit, or an adaptive one's upper bound.
    pub const fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.max == 0 || self.max > MAX {
            return Err(PolicyError::new("limit.max", says::LIMIT));
        }
        match &self.adaptive {
            Some(adaptive) => adaptive.check(),
            None => Ok(()),
        }
    }
}

/// `[limit]` of a `PolicyConfig`, and the keys of `#[task(limit(...))]`: see [`Limit`] and
/// [`Adaptive`].
///
/// A fixed limit is `max`; with `adaptive`, `max` is the adaptive limit's upper bound, and
/// `initial`, `min` and `backoff` its other settings (each [`Adaptive::new`]'s unless given).
///
/// ```
/// use runner_core::{Adaptive, Limit, LimitConfig};
///
/// // `[limit]` with `adaptive = true`, `max = 200`:
/// let keys = LimitConfig { adaptive: true, max: Some(200), ..LimitConfig::default() };
/// assert_eq!(keys.limit().unwrap(), Limit::adaptive(Adaptive::new().bounds(1, 200)));
/// // `[limit]` with `max = 32`, `reject = true`:
/// let keys = LimitConfig { max: Some(32), reject: true, ..LimitConfig::default() };
/// assert_eq!(keys.limit().unwrap(), Limit::new(32).reject_when_full());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct LimitConfig {
    /// The most calls in flight: the limit, or an adaptive one's upper bound (1000 if
    /// unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max: Option<usize>,
    /// Refuse excess calls at once rather than let them wait.
    #[cfg_attr(feature = "serde", serde(default))]
    pub reject: bool,
    /// Learn the limit from the dependency's latency and errors.
    #[cfg_attr(feature = "serde", serde(default))]
    pub adaptive: bool,
    /// An adaptive limit's start (20 if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub initial: Option<u32>,
    /// An adaptive limit's lower bound (1 if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min: Option<u32>,
    /// The share of an adaptive limit kept after an error (0.9 if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub backoff: Option<f32>,
}

impl LimitConfig {
    /// The limit these keys give, checked.
    pub fn limit(&self) -> Result<Limit, PolicyError> {
        let limit = match self.adaptive {
            true => {
                let defaults = Adaptive::new();
                let max = match self.max {
                    Some(max) => u32::try_from(max)
                        .map_err(|_| PolicyError::new("limit.max", says::LIMIT))?,
                    None => defaults.max,
                };
                let mut adaptive = defaults
                    .bounds(self.min.unwrap_or(defaults.min), max)
                    .backoff(self.backoff.unwrap_or(defaults.backoff));
                if let Some(initial) = self.initial {
                    adaptive = adaptive.initial(initial);
                }
                Limit::adaptive(adaptive)
            }
            false => {
                if self.initial.is_some() || self.min.is_some() || self.backoff.is_some() {
                    return Err(PolicyError::new("limit.adaptive", says::ADAPTIVE_ONLY));
                }
                let max = self
                    .max
                    .ok_or(PolicyError::new("limit.max", says::LIMIT_MAX_MISSING))?;
                Limit::new(max)
            }
        };
        let limit = match self.reject {
            true => limit.reject_when_full(),
            false => limit,
        };
        limit.check()?;
        Ok(limit)
    }
}

/// The largest limit: the gate counts the calls in flight in 31 bits.
pub(crate) const MAX: usize = i32::MAX as usize;

/// An adaptive limit's settings: TCP Vegas's congestion control applied to calls, as
/// Netflix's concurrency-limits applies it (`VegasLimit`), with a multiplicative decrease
/// on errors (AIMD).
///
/// Each call that ends while the limit is in use is a sample of the dependency, and the
/// limit learns once per window of `max(10, limit)` samples:
///
/// - The fastest call seen is the dependency's latency without a queue; a window whose
///   median call is slower says how many calls queue in front of it
///   (`limit × (1 − fastest / median)`). While that queue is short the limit grows (by
///   `6·log₁₀ limit`, then `log₁₀ limit`), and once it is long it shrinks (by
///   `log₁₀ limit`). The median, not the mean: a slow tail (a tenth of the calls hanging
///   until a hedge answers) is no queue.
/// - A window in which half the calls or more failed with an error the policy counts (see
///   [`Options::breaker_if`](crate::Options::breaker_if); every error without it) or ran
///   out of time multiplies the limit by `backoff` instead (AIMD). Fewer failures are the
///   breaker's business: the other calls' latency still says whether the dependency keeps
///   up.
/// - A window whose calls never filled half the limit says nothing of capacity, and
///   teaches nothing. A call refused, or dropped unfinished other than by its timeout or
///   the deadline, is no sample.
/// - The latency without a queue is measured again every `30 × limit` windows, so that a
///   dependency that got slower for good is not judged by how fast it once was.
///
/// New settings (a reload) start it anew from their `initial`; until the next window
/// closes, the limit learned is held within the new bounds.
///
/// ```
/// use runner_core::Adaptive;
///
/// let adaptive = Adaptive::new().initial(10).bounds(2, 100).backoff(0.8);
/// assert_eq!((adaptive.initial_limit(), adaptive.learned_within()), (10, (2, 100)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    // `None`: 20, within the bounds.
    pub(crate) initial: Option<u32>,
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) backoff: f32,
}

impl Adaptive {
    /// Netflix's defaults: from 20 (or the nearest bound), within 1 to 1000, and 0.9 of the
    /// limit kept after an error.
    pub const fn new() -> Self {
        Self {
            initial: None,
            min: 1,
            max: 1_000,
            backoff: 0.9,
        }
    }

    /// The limit it starts from, within the bounds (20, or the nearest bound, unless set).
    pub const fn initial(self, initial: u32) -> Self {
        Self {
            initial: Some(initial),
            ..self
        }
    }

    /// The least and the most it may learn (1 and 1000 unless set).
    pub const fn bounds(self, min: u32, max: u32) -> Self {
        Self { min, max, ..self }
    }

    /// The share of the limit kept after an error or a timeout, within (0, 1) (0.9 unless
    /// set).
    pub const fn backoff(self, backoff: f32) -> Self {
        Self { backoff, ..self }
    }

    /// The limit it starts from.
    pub const fn initial_limit(&self) -> u32 {
        match self.initial {
            Some(initial) => initial,
            None if DEFAULT_INITIAL < self.min => self.min,
            None if DEFAULT_INITIAL > self.max => self.max,
            None => DEFAULT_INITIAL,
        }
    }

    /// The least and the most it may learn.
    pub const fn learned_within(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    fn check(&self) -> Result<(), PolicyError> {
        if self.min == 0 || self.min > self.max {
            return Err(PolicyError::new("limit.min", says::ADAPTIVE_MIN));
        }
        if self
            .initial
            .is_some_and(|initial| !(self.min..=self.max).contains(&initial))
        {
            return Err(PolicyError::new("limit.initial", says::ADAPTIVE_INITIAL));
        }
        if !(self.backoff > 0.0 && self.backoff < 1.0) {
            return Err(PolicyError::new("limit.backoff", says::ADAPTIVE_BACKOFF));
        }
        Ok(())
    }
}

/// Where an adaptive limit starts unless told (Netflix's `initialLimit`).
const DEFAULT_INITIAL: u32 = 20;

impl Default for Adaptive {
    fn default() -> Self {
        Self::new()
    }
}
