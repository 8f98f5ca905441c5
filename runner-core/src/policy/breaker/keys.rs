//! A breaker as its keys name it, in a config file's `[breaker]` (with the `serde` feature)
//! and in `#[task(breaker(...))]`: one struct for both, mapped onto [`Breaker`]'s
//! constructors in this one place.

use std::time::Duration;

use crate::policy::breaker::{Breaker, BreakerWindow};
use crate::policy::error::{PolicyError, says};

/// `[breaker]` of a `PolicyConfig`, and the keys of `#[task(breaker(...))]`: see [`Breaker`].
///
/// `window = "10s"` is a time-based window, `window = 100` a count-based one of the last 100
/// calls. With `failures`, a time-based window is the first form, [`Breaker::new`] (open
/// at that many failures in the window, judged from the first call, with no rate unless
/// `failure_rate` gives one); otherwise the window starts from [`Breaker::time_based`] or
/// [`Breaker::count_based`]'s defaults. Each key given then replaces its default
/// (`failures` on a count-based window adds a count the failures must also reach).
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Breaker, BreakerConfig, BreakerWindow};
///
/// // `[breaker]` with `window = 100`, `minimum_calls = 20`, `cooldown = "5s"` and
/// // `max_cooldown = "1m"`:
/// let keys = BreakerConfig {
///     window: BreakerWindow::Calls(100),
///     cooldown: Duration::from_secs(5),
///     failures: None,
///     failure_rate: None,
///     minimum_calls: Some(20),
///     slow: None,
///     slow_rate: None,
///     half_open_calls: None,
///     half_open_successes: None,
///     cooldown_growth: None,
///     max_cooldown: Some(Duration::from_secs(60)),
/// };
/// let by_hand = Breaker::count_based(100, Duration::from_secs(5))
///     .minimum_calls(20)
///     .cooldown_grows(2.0, Duration::from_secs(60));
/// assert_eq!(keys.breaker().unwrap(), by_hand);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct BreakerConfig {
    /// The window of outcomes judged: a duration, or a number of calls.
    pub window: BreakerWindow,
    /// How long it stays open.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub cooldown: Duration,
    /// Failures the window must hold to open it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub failures: Option<u32>,
    /// The share of failed calls that opens it (`rate`, in the first form's words).
    #[cfg_attr(
        feature = "serde",
        serde(default, alias = "rate", skip_serializing_if = "Option::is_none")
    )]
    pub failure_rate: Option<f32>,
    /// The calls the window must hold before it is judged.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub minimum_calls: Option<u32>,
    /// A call slower than this is slow.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub slow: Option<Duration>,
    /// The share of slow calls that opens it (1.0 if `slow` is given alone).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub slow_rate: Option<f32>,
    /// The calls let through while half-open (1 if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub half_open_calls: Option<u32>,
    /// The share of them that must succeed to close it (1.0 if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub half_open_successes: Option<f32>,
    /// The factor each opening in a row grows the cooldown by (2.0 if only `max_cooldown`
    /// is given).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub cooldown_growth: Option<f32>,
    /// The longest the cooldown grows to.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub max_cooldown: Option<Duration>,
}

impl BreakerConfig {
    /// The breaker the keys give: with `failures`, a time-based window is the first form
    /// ([`Breaker::new`]); otherwise the window starts from [`Breaker::time_based`]'s or
    /// [`Breaker::count_based`]'s defaults. Each key given then replaces its default.
    pub fn breaker(&self) -> Result<Breaker, PolicyError> {
        let cooldown = self.cooldown;
        let mut breaker = match (self.window, self.failures) {
            (BreakerWindow::Time(window), Some(failures)) => {
                Breaker::new(failures, window, cooldown)
            }
            (BreakerWindow::Time(window), None) => Breaker::time_based(window, cooldown),
            (BreakerWindow::Calls(calls), _) => Breaker::count_based(calls, cooldown),
        };
        if let Some(failures) = self.failures {
            breaker = breaker.failures(failures);
        }
        if let Some(rate) = self.failure_rate {
            breaker = breaker.failure_rate(rate);
        }
        if let Some(calls) = self.minimum_calls {
            breaker = breaker.minimum_calls(calls);
        }
        match (self.slow, self.slow_rate) {
            (Some(after), rate) => breaker = breaker.slow_calls(after, rate.unwrap_or(1.0)),
            (None, Some(_)) => return Err(PolicyError::new("breaker.slow", says::SLOW_ALONE)),
            (None, None) => {}
        }
        if self.half_open_calls.is_some() || self.half_open_successes.is_some() {
            let calls = self.half_open_calls.unwrap_or(1);
            breaker = breaker.half_open(calls, self.half_open_successes.unwrap_or(1.0));
        }
        match (self.cooldown_growth, self.max_cooldown) {
            (factor, Some(max)) => breaker = breaker.cooldown_grows(factor.unwrap_or(2.0), max),
            (Some(_), None) => {
                return Err(PolicyError::new("breaker.max_cooldown", says::GROWTH_ALONE));
            }
            (None, None) => {}
        }
        breaker.check()?;
        Ok(breaker)
    }
}
