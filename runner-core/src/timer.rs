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
    if tokio::runtime::Handle::try_current().is_err() {
        no_runtime();
    }
    tokio::task::coop::unconstrained(tokio::time::sleep_until(at))
}

/// What a task's body, or a fan-out with a timer, says outside a Tokio runtime.
pub(crate) const NO_RUNTIME: &str = "runner_core needs a Tokio runtime with its time driver \
    (for its timeouts and deadlines, and for the Tokio calls in task bodies): run the fan-out \
    or the task inside `#[tokio::main]`, `#[tokio::test]` or a `tokio::runtime::Runtime` \
    built with `enable_time()` (or `enable_all()`), not under another executor such as \
    `futures::executor::block_on`";

/// Tokio's own panic here ("there is no reactor running") names neither this crate nor the
/// fix.
#[cold]
#[inline(never)]
fn no_runtime() -> ! {
    panic!("{NO_RUNTIME}")
}

/// `after` from `now`; a delay too long to represent is "never", as with `sleep`.
pub(crate) fn after(now: Instant, after: std::time::Duration) -> Instant {
    now.checked_add(after)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365 * 30))
}
