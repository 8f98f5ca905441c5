//! What a policy does, as one value: read by each call at its start, replaced whole by
//! [`Policy::update`](crate::Policy::update).

use std::time::Duration;

use crate::policy::breaker::Breaker;
use crate::policy::error::PolicyError;
use crate::policy::hedge::Hedge;
use crate::policy::limit::Limit;
use crate::policy::rate::RateLimit;
use crate::policy::retry::Retry;

/// What a policy does: its timeout, retry, hedge, breaker, limit and rate limit.
///
/// A task reads the timeout when it is built; its call reads the rest once, when it starts,
/// and keeps them to its end. [`Policy::update`](crate::Policy::update) replaces them for the
/// tasks built and the calls started after.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Breaker, Policy, PolicySettings};
///
/// let policy = Policy::builder().build().unwrap();
/// let stricter = policy
///     .settings()
///     .timeout(Duration::from_millis(150))
///     .breaker(Breaker::new(3, Duration::from_secs(10), Duration::from_secs(5)));
/// policy.update(stricter).unwrap();
/// assert_eq!(policy.settings(), stricter);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct PolicySettings {
    /// The task's timeout, replacing the task fn's own.
    pub timeout: Option<Duration>,
    /// Retries.
    pub retry: Option<Retry>,
    /// Hedges.
    pub hedge: Option<Hedge>,
    /// A circuit breaker around every attempt.
    pub breaker: Option<Breaker>,
    /// A limit of calls in flight.
    pub limit: Option<Limit>,
    /// A limit of calls started per unit of time.
    pub rate_limit: Option<RateLimit>,
}

impl PolicySettings {
    /// No timeout, retry, hedge, breaker, limit or rate limit: each call is made once, as it
    /// is.
    pub const fn new() -> Self {
        Self {
            timeout: None,
            retry: None,
            hedge: None,
            breaker: None,
            limit: None,
            rate_limit: None,
        }
    }

    /// The task's timeout, replacing the one its `#[task(timeout = ...)]` gives (a
    /// [`Task::timeout`](crate::Task::timeout) set on the built task replaces it in turn).
    pub const fn timeout(self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self
        }
    }

    /// Retries failed calls.
    pub const fn retry(self, retry: Retry) -> Self {
        Self {
            retry: Some(retry),
            ..self
        }
    }

    /// Starts another attempt beside a slow one; the first success wins.
    pub const fn hedge(self, hedge: Hedge) -> Self {
        Self {
            hedge: Some(hedge),
            ..self
        }
    }

    /// Puts a circuit breaker around every attempt.
    pub const fn breaker(self, breaker: Breaker) -> Self {
        Self {
            breaker: Some(breaker),
            ..self
        }
    }

    /// Limits the calls in flight (a bulkhead).
    pub const fn limit(self, limit: Limit) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }

    /// Limits the calls started per unit of time.
    pub const fn rate_limit(self, rate_limit: RateLimit) -> Self {
        Self {
            rate_limit: Some(rate_limit),
            ..self
        }
    }

    /// `true` if a rate limit or a bulkhead may refuse a call before it runs: such a call
    /// pays into the retry budget only once they let it through.
    pub(crate) const fn gated(&self) -> bool {
        self.rate_limit.is_some() || self.limit.is_some()
    }

    /// The checks `#[task(...)]` makes at compile time, with its messages.
    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(PolicyError::zero("timeout", "timeout"));
        }
        if let Some(retry) = &self.retry {
            retry.check()?;
            if let (Some(attempt), Some(timeout)) = (retry.attempt_timeout, self.timeout)
                && attempt >= timeout
            {
                return Err(PolicyError::attempt_timeout_not_below(attempt, timeout));
            }
        }
        if let Some(hedge) = &self.hedge {
            hedge.check()?;
            if let Some(timeout) = self.timeout
                && hedge.after >= timeout
            {
                return Err(PolicyError::hedge_after_timeout(hedge.after, timeout));
            }
            if let Some(attempt) = self.retry.and_then(|retry| retry.attempt_timeout)
                && hedge.after >= attempt
            {
                return Err(PolicyError::hedge_after_attempt_timeout(
                    hedge.after,
                    attempt,
                ));
            }
        }
        if let Some(breaker) = &self.breaker {
            breaker.check()?;
        }
        if let Some(limit) = &self.limit {
            limit.check()?;
        }
        if let Some(rate_limit) = &self.rate_limit {
            rate_limit.check()?;
        }
        Ok(())
    }
}
