//! Why a policy's settings cannot work: each error names its field, and says what would.

use std::borrow::Cow;
use std::time::Duration;

/// Settings that cannot work together, from [`PolicyBuilder::build`](crate::PolicyBuilder::build),
/// [`Policy::update`](crate::Policy::update) or a `PolicyConfig` (the `serde` feature).
///
/// Its [`field`](Self::field) is the setting's path as a config file writes it
/// (`retry.attempts`, `breaker.cooldown`); its message is the one `#[task(...)]` gives at
/// compile time for the same mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct PolicyError {
    field: &'static str,
    message: Cow<'static, str>,
}

impl PolicyError {
    /// The setting at fault, as a config file writes it: `retry.attempts`, `hedge.after`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it, and what would work.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn new(field: &'static str, message: &'static str) -> Self {
        Self {
            field,
            message: Cow::Borrowed(message),
        }
    }

    /// A duration of zero, which would end every call before it starts.
    pub(crate) fn zero(field: &'static str, what: &str) -> Self {
        Self {
            field,
            message: Cow::Owned(format!(
                "a {what} of zero would end every call before it starts; give a positive duration"
            )),
        }
    }

    /// An attempt timeout that the task's timeout would always end first.
    pub(crate) fn attempt_timeout_not_below(attempt: Duration, timeout: Duration) -> Self {
        Self {
            field: "retry.attempt_timeout",
            message: Cow::Owned(format!(
                "an attempt timeout of {} would never end an attempt: the task's timeout of {} ends it first; give one below the timeout",
                humantime::format_duration(attempt),
                humantime::format_duration(timeout),
            )),
        }
    }

    /// A hedge that the timeout would end before it starts.
    pub(crate) fn hedge_after_timeout(after: Duration, timeout: Duration) -> Self {
        Self {
            field: "hedge.after",
            message: Cow::Owned(format!(
                "a hedge after {} would never start: the task's timeout of {} ends it first; give a delay below the timeout",
                humantime::format_duration(after),
                humantime::format_duration(timeout),
            )),
        }
    }

    /// A hedge that the attempt timeout would end before it starts.
    pub(crate) fn hedge_after_attempt_timeout(after: Duration, timeout: Duration) -> Self {
        Self {
            field: "hedge.after",
            message: Cow::Owned(format!(
                "a hedge after {} would never start: the attempt timeout of {} ends the attempt first; give a delay below it",
                humantime::format_duration(after),
                humantime::format_duration(timeout),
            )),
        }
    }
}

/// The messages, word for word those of `#[task(...)]` (a test holds the two together).
pub(crate) mod says {
    pub(crate) const ATTEMPTS: &str = "a task makes at least one attempt; `attempts` counts them all, the first included (`attempts = 3` is the first and two retries)";
    pub(crate) const MAX_BACKOFF: &str =
        "`max_backoff` caps the backoff, so it cannot be shorter than `backoff`";
    pub(crate) const BUDGET: &str = "a retry budget is the share of calls that may be retried, within 0.0..=1000.0 (0.2 is one retry per five calls)";
    pub(crate) const BUDGET_WINDOW: &str = "a retry budget's window must be within 1s to 60s";
    pub(crate) const MIN_PER_SEC: &str = "`min_per_sec` is too large";
    pub(crate) const HEDGES: &str = "`max` is the most hedges a call may start: 1 to 8";
    pub(crate) const FAILURES: &str =
        "a breaker that opens after zero failures would never close; give at least 1";
    pub(crate) const RATE: &str = "a breaker's rate is the share of failed attempts that opens it, within (0.0, 1.0] (0.5 is half of them)";
    pub(crate) const WINDOW_CALLS: &str = "a count-based breaker window holds 1 to 100000 calls";
    pub(crate) const MINIMUM_CALLS: &str =
        "a breaker judges its window once it holds `minimum_calls`; give at least 1";
    pub(crate) const SLOW_RATE: &str = "a breaker's slow-call rate is the share of slow calls that opens it, within (0.0, 1.0] (0.5 is half of them)";
    pub(crate) const HALF_OPEN_CALLS: &str =
        "a half-open breaker lets 1 to 1000 trial calls through";
    pub(crate) const HALF_OPEN_SUCCESSES: &str = "`half_open_successes` is the share of trial calls that must succeed to close the breaker, within (0.0, 1.0] (1.0 is all of them)";
    pub(crate) const COOLDOWN_GROWTH: &str = "a breaker's cooldown grows by a factor of at least 1.0 (2.0 doubles it at each opening in a row)";
    pub(crate) const MAX_COOLDOWN: &str =
        "`max_cooldown` caps the cooldown, so it cannot be shorter than `cooldown`";
    pub(crate) const SLOW_ALONE: &str = "`slow_rate` is the share of slow calls, so it needs `slow`, the duration past which a call is slow";
    pub(crate) const GROWTH_ALONE: &str =
        "`cooldown_growth` grows the cooldown up to `max_cooldown`, so it needs `max_cooldown`";
    pub(crate) const ADAPTIVE_ONLY: &str = "`initial`, `min` and `backoff` are an adaptive limit's settings: add `adaptive` (`adaptive = true` in a config file), or drop them";
    pub(crate) const LIMIT_MAX_MISSING: &str =
        "a fixed limit needs its `max`, the most calls in flight; or make it `adaptive`";
    pub(crate) const ADAPTIVE_MIN: &str = "an adaptive limit learns between `min` and `max`: `min` is at least 1 and no more than `max`";
    pub(crate) const ADAPTIVE_INITIAL: &str =
        "an adaptive limit starts from `initial`, which must be within `min` to `max`";
    pub(crate) const ADAPTIVE_BACKOFF: &str = "an adaptive limit's `backoff` is the share of the limit kept after an error, within (0.0, 1.0) (0.9 keeps 90 %)";
    pub(crate) const RATE_MAX: &str = "a rate limit lets `max` calls through per `per`; give at least 1 (zero would refuse every call)";
    pub(crate) const RATE_PER: &str = "a rate limit's `per` is the time `max` calls are spread over: more than zero, at most 1h (for a slower rate, give fewer calls an hour)";
    pub(crate) const RATE_TOO_FAST: &str = "a rate limit of more than one call per nanosecond cannot be kept; give fewer calls, or a longer `per`";
    pub(crate) const RATE_BURST: &str =
        "a rate limit's `burst` is the most calls let through at once: 1 to 1000000";
    pub(crate) const LIMIT: &str = "a limit is the most calls in flight at once: 1 to 2147483647 (zero would refuse every call)";
}
