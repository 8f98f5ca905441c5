//! The settings of a [`Policy`], and the builder that makes one.

use std::sync::OnceLock;
use std::time::Duration;

use crate::policy::Policy;
use crate::policy::breaker::{Breaker, BreakerCell};
use crate::policy::limit::{Gate, Limit};
use crate::policy::retry::Retry;

impl Policy {
    /// A builder of a policy that does nothing until given retries, hedges, a breaker or a
    /// limit.
    pub const fn builder() -> PolicyBuilder {
        PolicyBuilder {
            retry: None,
            hedge_after: None,
            breaker: None,
            limit: None,
        }
    }
}

/// The settings of a [`Policy`], built in `const` context.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a policy builder does nothing until `build()`"]
pub struct PolicyBuilder<const HEDGES: usize = 0> {
    pub(super) retry: Option<Retry>,
    pub(super) hedge_after: Option<Duration>,
    pub(super) breaker: Option<Breaker>,
    pub(super) limit: Option<Limit>,
}

impl<const HEDGES: usize> PolicyBuilder<HEDGES> {
    /// Retries failed calls.
    pub const fn retry(self, retry: Retry) -> Self {
        Self {
            retry: Some(retry),
            ..self
        }
    }

    /// Starts another attempt each `after` while none has finished, up to `N` hedges; the
    /// first success wins and the others are dropped.
    ///
    /// # Panics
    ///
    /// If `N` is zero or `after` is zero: in a `static`, at compile time.
    pub const fn hedge<const N: usize>(self, after: Duration) -> PolicyBuilder<N> {
        assert!(N > 0, "a hedge policy needs at least one hedge");
        assert!(!after.is_zero(), "a hedge delay must be positive");
        PolicyBuilder {
            retry: self.retry,
            hedge_after: Some(after),
            breaker: self.breaker,
            limit: self.limit,
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

    /// The policy, with its breaker closed, no call in flight and a full retry budget.
    pub const fn build(self) -> Policy<HEDGES> {
        Policy {
            rules: self,
            breaker_cell: BreakerCell::new(),
            gate: Gate::new(),
            budget: OnceLock::new(),
        }
    }
}
