//! A breaker as its keys name it, in a config file's `[breaker]` and in
//! `#[task(breaker(...))]`: mapped onto [`Breaker`]'s constructors in this one place.

use std::time::Duration;

use crate::policy::breaker::{Breaker, BreakerWindow};
use crate::policy::error::{PolicyError, says};

/// A breaker's keys, each `None` where it is not given (see `BreakerConfig` for what each
/// means). `#[task(breaker(...))]` builds one; a config file's `[breaker]` is one.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerKeys {
    pub window: BreakerWindow,
    pub cooldown: Duration,
    pub failures: Option<u32>,
    pub failure_rate: Option<f32>,
    pub minimum_calls: Option<u32>,
    pub slow: Option<Duration>,
    pub slow_rate: Option<f32>,
    pub half_open_calls: Option<u32>,
    pub half_open_successes: Option<f32>,
    pub cooldown_growth: Option<f32>,
    pub max_cooldown: Option<Duration>,
}

impl BreakerKeys {
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
