//! A policy's settings as a config file writes them (with the `serde` feature): TOML, YAML,
//! JSON or any serde format, durations in humantime's syntax (`"200ms"`, `"1s 500ms"`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::breaker::BreakerConfig;
use crate::policy::breaker::BreakerWindow;
use crate::policy::builder::PolicyBuilder;
use crate::policy::coalesce::CoalesceConfig;
use crate::policy::error::PolicyError;
use crate::policy::hedge::Hedge;
use crate::policy::limit::LimitConfig;
use crate::policy::rate::RateLimitConfig;
use crate::policy::retry::{Budget, Retry};
use crate::policy::settings::PolicySettings;

/// A policy's settings, as deserialized: [`settings`](Self::settings) checks them into
/// [`PolicySettings`] (each error names its field, `retry.attempts`), for
/// [`Policy::update`](crate::Policy::update) or a builder.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{BreakerState, PolicyConfig};
///
/// let config: PolicyConfig = toml::from_str(r#"
///     timeout = "200ms"
///
///     [retry]
///     attempts = 3
///     backoff = "10ms"
///
///     [breaker]
///     failures = 5
///     window = "10s"
///     cooldown = "5s"
/// "#).unwrap();
/// let policy = config.builder().unwrap().name("wallet").build().unwrap();
/// assert_eq!(policy.settings().timeout, Some(Duration::from_millis(200)));
/// assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
///
/// let bad: PolicyConfig = toml::from_str("[retry]\nattempts = 0").unwrap();
/// assert_eq!(bad.settings().unwrap_err().field(), "retry.attempts");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The task's timeout.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// Hedges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeConfig>,
    /// A circuit breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerConfig>,
    /// A limit of calls in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitConfig>,
    /// A limit of calls started per unit of time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
    /// The calls' coalescing group, which the code that makes the calls builds
    /// ([`CoalesceConfig::group`]) and gives them (`#[task(coalesce(key = ..., group = ...))]`,
    /// [`Task::coalesce`](crate::Task::coalesce)). It is checked with the rest, but it is
    /// not one of the policy's settings: the group is typed by the calls' key and result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce: Option<CoalesceConfig>,
}

/// `[retry]`: see [`Retry`] and [`Budget`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff (10 ms if unset).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub backoff: Option<Duration>,
    /// The longest backoff (1 s if unset).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_backoff: Option<Duration>,
    /// The share of calls that may be retried (0.2 if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f32>,
    /// The budget's window (10 s if unset).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_window: Option<Duration>,
    /// Retries a second allowed whatever the share (10 if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_per_sec: Option<u32>,
    /// Each attempt's own time, inside the task's timeout.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub attempt_timeout: Option<Duration>,
}

/// `[hedge]`: see [`Hedge`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// The delay before each hedge.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// The most hedges (1 if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl PolicyConfig {
    /// The settings, checked as [`PolicyBuilder::build`] checks them.
    pub fn settings(&self) -> Result<PolicySettings, PolicyError> {
        let mut settings = PolicySettings::new();
        if let Some(timeout) = self.timeout {
            settings = settings.timeout(timeout);
        }
        if let Some(retry) = &self.retry {
            settings = settings.retry(retry.to_retry());
        }
        if let Some(hedge) = &self.hedge {
            settings = settings.hedge(Hedge::new(hedge.after).max(hedge.max.unwrap_or(1)));
        }
        if let Some(breaker) = &self.breaker {
            settings = settings.breaker(breaker.breaker()?);
        }
        if let Some(limit) = &self.limit {
            settings = settings.limit(limit.limit()?);
        }
        if let Some(rate) = &self.rate_limit {
            settings = settings.rate_limit(rate.rate_limit()?);
        }
        if let Some(coalesce) = &self.coalesce {
            coalesce.check()?;
        }
        settings.check()?;
        Ok(settings)
    }

    /// A builder with these settings, checked, for a name and an observer to be added.
    pub fn builder(&self) -> Result<PolicyBuilder, PolicyError> {
        self.settings().map(PolicyBuilder::from)
    }
}

impl RetryConfig {
    fn to_retry(&self) -> Retry {
        let mut retry = Retry::new(self.attempts);
        if let Some(backoff) = self.backoff {
            retry = retry.backoff(backoff);
        }
        if let Some(max_backoff) = self.max_backoff {
            retry = retry.max_backoff(max_backoff);
        }
        if let Some(timeout) = self.attempt_timeout {
            retry = retry.attempt_timeout(timeout);
        }
        if self.budget.is_some() || self.budget_window.is_some() || self.min_per_sec.is_some() {
            let budget = Budget::given(self.budget, self.budget_window, self.min_per_sec);
            retry = retry.budget(budget);
        }
        retry
    }
}

/// `window = "10s"` or `window = 100`: a duration in humantime's syntax, or a count of
/// calls.
impl Serialize for BreakerWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Calls(calls) => serializer.serialize_u32(calls),
            Self::Time(window) => serializer.collect_str(&humantime::format_duration(window)),
        }
    }
}

impl<'de> Deserialize<'de> for BreakerWindow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WindowVisitor)
    }
}

struct WindowVisitor;

impl serde::de::Visitor<'_> for WindowVisitor {
    type Value = BreakerWindow;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration such as \"10s\" (a time-based window) or a number of calls such as 100 (a count-based one)")
    }

    fn visit_u64<E: serde::de::Error>(self, calls: u64) -> Result<Self::Value, E> {
        u32::try_from(calls)
            .map(BreakerWindow::Calls)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(calls), &self))
    }

    fn visit_i64<E: serde::de::Error>(self, calls: i64) -> Result<Self::Value, E> {
        u64::try_from(calls)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(calls), &self))
            .and_then(|calls| self.visit_u64(calls))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        humantime::parse_duration(text)
            .map(BreakerWindow::Time)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(text), &self))
    }
}
