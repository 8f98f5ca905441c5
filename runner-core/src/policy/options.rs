//! The per-call options of a policy task: which errors are retried, which the breaker
//! counts (and how long it breaks for), and a fallback.

use std::marker::PhantomData;
use std::time::Duration;

use crate::policy::fallback::{Fallback, FallbackFn, NoFallback};

/// Per-call options of a policy task: which errors are retried, which the breaker counts,
/// and a fallback. They are typed by the task's `T` and `E`, so they live with the call
/// rather than in the `static` [`Policy`](crate::Policy).
pub struct Options<T, E, FB = NoFallback> {
    pub(super) retry_if: Option<fn(&E) -> bool>,
    pub(super) retry_if_value: Option<fn(&T) -> bool>,
    pub(super) retry_delay_from: Option<fn(&E) -> Option<Duration>>,
    pub(super) breaker_if: Option<fn(&E) -> bool>,
    pub(super) cooldown_from: Option<fn(&E) -> Option<Duration>>,
    pub(super) fallback: FB,
    value: PhantomData<fn() -> T>,
}

impl<T, E> Options<T, E> {
    /// Every error is retried and counted by the breaker; no fallback.
    pub fn new() -> Self {
        Self {
            retry_if: None,
            retry_if_value: None,
            retry_delay_from: None,
            breaker_if: None,
            cooldown_from: None,
            fallback: NoFallback,
            value: PhantomData,
        }
    }
}

impl<T, E> Default for Options<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E, FB> Options<T, E, FB> {
    /// Retries only the errors for which `retryable` is `true` (a 503, a reset connection;
    /// not a 404).
    pub fn retry_if(self, retryable: fn(&E) -> bool) -> Self {
        Self {
            retry_if: Some(retryable),
            ..self
        }
    }

    /// Retries an `Ok` value for which `again` is `true` (a job still pending, an empty page
    /// from a replica that lags) as a failure is retried: within the attempts, the deadline
    /// and the budget. When no retry is left, the last such value is the call's. The breaker
    /// counts the attempt as a success: the dependency answered. In a hedged round the first
    /// `Ok` still wins, such a value included, and the round is retried.
    pub fn retry_if_value(self, again: fn(&T) -> bool) -> Self {
        Self {
            retry_if_value: Some(again),
            ..self
        }
    }

    /// Waits before a retry for the delay the error asks for, when `delay` gives one (a
    /// 503's `Retry-After`, gRPC's `grpc-retry-pushback-ms`), instead of the backoff. It is
    /// still one of the retry's attempts, and within the task's deadline (a delay the time
    /// left cannot fit is no retry), the retry's `max_backoff` (a longer delay is no retry
    /// either: [`RetryRefusal::Delay`](crate::RetryRefusal::Delay)) and the retry budget;
    /// `None` leaves the backoff.
    pub fn retry_delay_from(self, delay: fn(&E) -> Option<Duration>) -> Self {
        Self {
            retry_delay_from: Some(delay),
            ..self
        }
    }

    /// Counts only the errors for which `counts` is `true` as breaker failures, and as the
    /// errors that cut an adaptive limit (the others say nothing about the dependency's
    /// health).
    pub fn breaker_if(self, counts: fn(&E) -> bool) -> Self {
        Self {
            breaker_if: Some(counts),
            ..self
        }
    }

    /// Takes the breaker's break from the error that opens it, when `cooldown` gives one (a
    /// 503's `Retry-After`), instead of the breaker's cooldown; capped by the breaker's
    /// [`cooldown_grows`](crate::Breaker::cooldown_grows) `max` if it has one. `None`, or a
    /// zero, leaves the breaker's own.
    pub fn cooldown_from(self, cooldown: fn(&E) -> Option<Duration>) -> Self {
        Self {
            cooldown_from: Some(cooldown),
            ..self
        }
    }

    /// `#[task(fallback = path)]`'s: the fn coerced to a pointer at the user's path, so that
    /// one of the wrong type is one type mismatch there.
    #[doc(hidden)]
    pub fn fallback_fn(self, fallback: FallbackFn<T, E>) -> Options<T, E, FallbackFn<T, E>> {
        self.fallback(fallback)
    }

    /// Gives the task's value when it fails: its error, a refusal, or time running out, as
    /// its slot would say it ([`TaskError::TimedOut`](crate::TaskError::TimedOut) with its
    /// own timeout, or [`TaskError::DeadlineExceeded`](crate::TaskError::DeadlineExceeded)).
    /// The report records the task as [`Outcome::Fallback`](crate::Outcome::Fallback).
    pub fn fallback<G: Fallback<T, E>>(self, fallback: G) -> Options<T, E, G> {
        Options {
            retry_if: self.retry_if,
            retry_if_value: self.retry_if_value,
            retry_delay_from: self.retry_delay_from,
            breaker_if: self.breaker_if,
            cooldown_from: self.cooldown_from,
            fallback,
            value: PhantomData,
        }
    }
}

impl<T, E, FB: std::fmt::Debug> std::fmt::Debug for Options<T, E, FB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("retry_if", &self.retry_if.is_some())
            .field("retry_if_value", &self.retry_if_value.is_some())
            .field("retry_delay_from", &self.retry_delay_from.is_some())
            .field("breaker_if", &self.breaker_if.is_some())
            .field("cooldown_from", &self.cooldown_from.is_some())
            .field("fallback", &self.fallback)
            .finish()
    }
}
