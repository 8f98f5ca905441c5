//! The builder of a [`Policy`]: its settings, its name and its observer.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::observe::Observer;
use crate::policy::Policy;
use crate::policy::breaker::Breaker;
use crate::policy::error::PolicyError;
use crate::policy::hedge::Hedge;
use crate::policy::limit::Limit;
use crate::policy::rate::RateLimit;
use crate::policy::retry::Retry;
use crate::policy::settings::PolicySettings;

impl Policy {
    /// A builder of a policy that does nothing until given a timeout, retries, hedges, a
    /// breaker, a limit or a rate limit.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::from(PolicySettings::new())
    }
}

/// Builds a [`Policy`]: [`build`](Self::build) checks the settings, as `#[task(...)]` does at
/// compile time.
#[derive(Clone)]
#[must_use = "a policy builder does nothing until `build()`"]
pub struct PolicyBuilder {
    pub(super) settings: PolicySettings,
    pub(super) name: Cow<'static, str>,
    pub(super) observer: Option<Arc<dyn Observer>>,
}

impl From<PolicySettings> for PolicyBuilder {
    fn from(settings: PolicySettings) -> Self {
        Self {
            settings,
            name: Cow::Borrowed(""),
            observer: None,
        }
    }
}

impl PolicyBuilder {
    /// The task's timeout (see [`PolicySettings::timeout`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.timeout(timeout);
        self
    }

    /// Retries failed calls.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.settings = self.settings.retry(retry);
        self
    }

    /// Starts another attempt each `hedge.after` while none has finished, up to its `max`
    /// hedges; the first success wins and the others are dropped.
    pub fn hedge(mut self, hedge: Hedge) -> Self {
        self.settings = self.settings.hedge(hedge);
        self
    }

    /// Puts a circuit breaker around every attempt.
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.settings = self.settings.breaker(breaker);
        self
    }

    /// Limits the calls in flight (a bulkhead).
    pub fn limit(mut self, limit: Limit) -> Self {
        self.settings = self.settings.limit(limit);
        self
    }

    /// Limits the calls started per unit of time: at most `max` per `per`, with a burst.
    pub fn rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.settings = self.settings.rate_limit(rate_limit);
        self
    }

    /// The policy's name, in its events (a backend, a tenant, a host).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Gives the policy's events to `observer` rather than to the process's (see
    /// [`set_observer`](crate::set_observer)).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The policy, with its breaker closed, no call in flight and a full retry budget; or
    /// the first setting that cannot work, named.
    pub fn build(self) -> Result<Policy, PolicyError> {
        self.settings.check()?;
        Ok(Policy::new(self))
    }
}

impl std::fmt::Debug for PolicyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyBuilder")
            .field("settings", &self.settings)
            .field("name", &self.name)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
