//! The deadline a running task works under, so it can pass it downstream.
//!
//! The engines set it around every poll of a task's future, in a thread-local: a task runs
//! inside the caller's task, on the thread that polls it, so nothing needs to allocate or
//! be `'static`.

use std::cell::Cell;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Rejection;

thread_local! {
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
    static VERDICT: Cell<Option<Verdict>> = const { Cell::new(None) };
}

/// What a task's policy tells the engine polling it, beside the `Result<T, E>` its future
/// yields: that the call was refused (which no `E` can say), or that its value is a
/// fallback's (which the report records as degraded).
///
/// It travels the way the deadline does, through the task boundary, so that a policy needs
/// no error type of its own and the engines keep theirs; the engine reads it right after the
/// poll that posted it, before anything else runs on the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call was refused: the future posts this and stays pending.
    Rejected(Rejection),
    /// The future's value came from its fallback.
    Fallback,
}

/// Posts `verdict` for the engine polling the current task.
pub(crate) fn post(verdict: Verdict) {
    VERDICT.set(Some(verdict));
}

/// Takes what the task polled last posted, if anything.
pub(crate) fn take_verdict() -> Option<Verdict> {
    VERDICT.take()
}

/// The instant by which the running task must finish, if it has one.
///
/// Inside a task run by a fan-out, the runner, or awaited on its own, this is the tighter of
/// the task's own timeout and the fan-out's deadline (itself no later than any enclosing
/// fan-out's). Outside any task, `None`.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{deadline, remaining, Task};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = Task::critical("probe", async {
///     // e.g. send it downstream as a header or a statement timeout
///     Ok::<_, std::io::Error>((deadline().is_some(), remaining()))
/// })
/// .timeout(Duration::from_millis(200));
/// let (has_deadline, left) = task.await.unwrap();
/// assert!(has_deadline);
/// assert!(left.unwrap() <= Duration::from_millis(200));
/// # }
/// ```
pub fn deadline() -> Option<Instant> {
    CURRENT.with(Cell::get)
}

/// The time left before [`deadline()`], zero once it has passed; `None` without a deadline.
pub fn remaining() -> Option<Duration> {
    deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// Runs `f` with `deadline` as the current deadline, restoring the previous one after.
///
/// `f` must not unwind: the callers catch panics inside it, which keeps this free of a
/// drop guard.
pub(crate) fn with_deadline<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.replace(deadline);
    let result = f();
    if previous != deadline {
        CURRENT.set(previous);
    }
    result
}

/// The earlier of two optional instants; `None` is "no limit".
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
