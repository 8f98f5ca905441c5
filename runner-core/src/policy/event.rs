//! The `tracing` events the policies emit, all under the target `runner_core::policy`, each
//! with the fields `task` and `policy` (what happened), so that a subscriber can count them
//! (the example's `/metrics` does) without parsing messages.

use std::time::Duration;

use crate::error::Rejection;
use crate::policy::breaker_state::BreakerState;

/// A retry is about to sleep `delay` before attempt `attempt`.
pub(crate) fn retrying(task: &'static str, attempt: u32, delay: Duration) {
    tracing::debug!(
        target: "runner_core::policy",
        task,
        policy = "retry",
        attempt,
        delay_ms = delay.as_secs_f64() * 1e3,
        "retrying",
    );
}

/// A failed call could have been retried, but `why` not.
pub(crate) fn retry_refused(task: &'static str, why: &'static str) {
    tracing::debug!(target: "runner_core::policy", task, policy = "retry_refused", why, "not retrying");
}

/// Hedge number `hedge` started because the attempts before it were slow.
pub(crate) fn hedging(task: &'static str, hedge: usize) {
    tracing::debug!(target: "runner_core::policy", task, policy = "hedge", hedge, "hedging");
}

/// The breaker moved to `state`.
pub(crate) fn breaker(task: &'static str, state: BreakerState) {
    match state {
        BreakerState::Open => tracing::warn!(
            target: "runner_core::policy",
            task,
            policy = "breaker",
            state = state.as_str(),
            "circuit breaker opened",
        ),
        _ => tracing::info!(
            target: "runner_core::policy",
            task,
            policy = "breaker",
            state = state.as_str(),
            "circuit breaker state changed",
        ),
    }
}

/// A call was refused before it ran.
pub(crate) fn rejected(task: &'static str, reason: Rejection) {
    tracing::debug!(
        target: "runner_core::policy",
        task,
        policy = "rejected",
        reason = reason.as_str(),
        "call rejected",
    );
}

/// The fallback gave the task's value; `error` is why the task failed.
pub(crate) fn fallback(task: &'static str, error: &'static str) {
    tracing::debug!(target: "runner_core::policy", task, policy = "fallback", error, "fallback used");
}
