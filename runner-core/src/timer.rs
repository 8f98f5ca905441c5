//! The timers behind timeouts and deadlines.

use std::task::Context;

use tokio::task::coop::Unconstrained;
use tokio::time::{Instant, Sleep};

/// A `Sleep` polled outside tokio's cooperative budget.
///
/// A task that spends the whole budget would otherwise make its own timer answer `Pending`
/// on every poll, and the timeout meant to stop it would never fire (tokio's `Timeout`
/// guards against the same thing).
pub(crate) type Timer = Unconstrained<Sleep>;

pub(crate) fn timer_at(at: Instant) -> Timer {
    tokio::task::coop::unconstrained(tokio::time::sleep_until(at))
}

/// Whether a timer that has just fired should wait one more poll before it counts.
///
/// Once the coop budget is spent, tokio's resources answer `Pending` even when ready, so
/// work finishing at the timer's very instant may not have been seen: one more poll, with a
/// fresh budget, lets it win the tie as the rules say. Only once, so that a task that spends
/// the whole budget on every poll cannot hold the timer off.
pub(crate) fn defer(deferred: &mut bool, cx: &mut Context<'_>) -> bool {
    if *deferred || tokio::task::coop::has_budget_remaining() {
        return false;
    }
    *deferred = true;
    cx.waker().wake_by_ref();
    true
}
