//! The timers behind timeouts and deadlines.

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
