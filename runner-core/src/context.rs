//! What travels through the task boundary: the deadline a running task works under, so
//! it can pass it downstream, and what its poll tells the engine beside its result.
//!
//! The engines set them around every poll of a task's future (the cutoff, the call's label,
//! and an empty verdict), in thread-locals: a task runs
//! inside the caller's task, on the thread that polls it, so nothing needs to allocate or
//! be `'static`.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Rejection, TaskError};
use crate::label::Label;

thread_local! {
    // What the running task's code reads of its task, lent for one poll or drop: a pointer to
    // the task's own, so that entering a task writes one word, not the whole of it. Null
    // outside any task.
    static CURRENT: Cell<*const Within> = const { Cell::new(std::ptr::null()) };
    static VERDICT: Cell<Option<Verdict>> = const { Cell::new(None) };
    static OUT_OF_TIME: Cell<bool> = const { Cell::new(false) };
}

/// What a running task's code reads of the task it runs in: when it is stopped, and why
/// then, and the label of its call.
///
/// The cutoff is kept as its two parts, not as an `Option<Cutoff>`: so the task's own timeout
/// can wait in it, as configured, until the task starts and `at` is fixed, and a task's state
/// needs no field of its own for it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Within {
    /// The instant the task is stopped at, once it started; `None` without a limit.
    pub(crate) at: Option<Instant>,
    /// The task's own timeout: as configured, until it starts; then only while `at` is
    /// that timeout's end (see [`Cutoff::own_timeout`]).
    pub(crate) own_timeout: OwnTimeout,
    pub(crate) label: Option<Label>,
}

impl Within {
    pub(crate) fn new(cutoff: Option<Cutoff>, label: Option<Label>) -> Self {
        Self {
            at: cutoff.map(|cutoff| cutoff.at),
            own_timeout: OwnTimeout::new(cutoff.and_then(|cutoff| cutoff.own_timeout)),
            label,
        }
    }

    /// When, and why then, the task is stopped; `None` before it starts, or without a limit.
    #[inline]
    pub(crate) fn cutoff(&self) -> Option<Cutoff> {
        self.at.map(|at| Cutoff {
            at,
            own_timeout: self.own_timeout.get(),
        })
    }
}

/// A task's own timeout, if it has one, in a word where an `Option<Duration>` takes two:
/// every task's state carries one. In nanoseconds, up to 584 years; a longer one is taken as
/// no limit, which in practice it is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OwnTimeout(Option<NonZeroU64>);

impl OwnTimeout {
    pub(crate) const NONE: Self = Self(None);

    #[inline]
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        // One more than the nanoseconds, so that a zero timeout is one too.
        let nanos = timeout.and_then(|timeout| u64::try_from(timeout.as_nanos()).ok());
        Self(nanos.and_then(|nanos| NonZeroU64::new(nanos.wrapping_add(1))))
    }

    #[inline]
    pub(crate) fn get(self) -> Option<Duration> {
        self.0.map(|nanos| Duration::from_nanos(nanos.get() - 1))
    }

    #[inline]
    pub(crate) fn is_some(self) -> bool {
        self.0.is_some()
    }
}

/// The running task's, if a task is running on this thread.
fn current() -> Within {
    let current = CURRENT.get();
    // SAFETY: `CURRENT` is only ever set by `enter` and `within`, to a `Within` that outlives
    // the call they make with it set, and is put back as it was before either returns (or
    // unwinds, for `within`; `enter`'s callers catch unwinding inside it). So a non-null
    // pointer here points at a live `Within`, which nothing writes while it is lent.
    unsafe { current.as_ref() }.copied().unwrap_or_default()
}

/// When a running task is stopped, and why then: its own timeout, or a deadline around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cutoff {
    /// The instant it is stopped at.
    pub(crate) at: Instant,
    /// Its own timeout, as configured, when that is what `at` is (it comes before the
    /// deadline of the fan-out it runs in); `None` when a deadline is.
    pub(crate) own_timeout: Option<Duration>,
}

impl Cutoff {
    /// The error of a task stopped at this cutoff: [`TaskError::TimedOut`] with its own
    /// timeout, or [`TaskError::DeadlineExceeded`].
    pub(crate) fn error<E>(self) -> TaskError<E> {
        match self.own_timeout {
            Some(timeout) => TaskError::TimedOut(timeout),
            None => TaskError::DeadlineExceeded,
        }
    }
}

/// What a task's poll tells the engine polling it, beside the `Result<T, E>` its future
/// yields: that the call was refused (which no `E` can say), that its value is a fallback's
/// (which the report records as degraded), or that the error it returns is time running out
/// on it (which its own `E` may not say).
///
/// It travels the way the deadline does, through the task boundary, so that a policy needs
/// no error type of its own and the engines keep theirs. Each poll of a task starts with
/// none posted, and the engine reads what it posted right after it; a run nested in the task
/// reads its own tasks' verdicts the same way, and leaves the outer one as it found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call was refused: the future posts this and stays pending.
    Rejected(Rejection),
    /// Every attempt of the call ran out of its own time (`Retry::attempt_timeout`): the
    /// future posts this and stays pending.
    TimedOut(Duration),
    /// The future's value came from its fallback.
    Fallback,
    /// A run inside the task (a fan-out, a runner, a task awaited on its own) failed because
    /// the deadline it inherited from the task passed: if the task now fails, time ran out
    /// on it, whatever its error says.
    Expired,
}

/// Posts `verdict` for the engine polling the current task.
#[inline]
pub(crate) fn post(verdict: Verdict) {
    VERDICT.set(Some(verdict));
}

/// What the current poll of the task has posted so far.
#[inline]
pub(crate) fn posted() -> Option<Verdict> {
    VERDICT.get()
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
    cutoff().map(|cutoff| cutoff.at)
}

/// The time left before [`deadline()`], zero once it has passed; `None` without a deadline.
pub fn remaining() -> Option<Duration> {
    deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// The cutoff of the running task, if it has one.
pub(crate) fn cutoff() -> Option<Cutoff> {
    current().cutoff()
}

/// The label of the running task's call, if it has one: what its policy's events carry.
pub(crate) fn label() -> Option<Label> {
    current().label
}

/// Runs `f`, one poll or drop of a task's future, with `within` as the current task's, and
/// returns what it posted; the previous task's, verdict and out-of-time note are restored
/// after. What the task notes stays inside it: a coalesced call's leader reads only what its
/// own work noted, not what a task nested in it did.
///
/// # Safety
///
/// `f` must not unwind: `CURRENT` would keep pointing at `within`, which may then go. The
/// callers catch panics inside it, which keeps this free of a drop guard.
#[inline]
pub(crate) unsafe fn enter<R>(within: &Within, f: impl FnOnce() -> R) -> (R, Option<Verdict>) {
    let previous = CURRENT.replace(within);
    let outer = VERDICT.take();
    let outer_note = OUT_OF_TIME.replace(false);
    let result = f();
    let verdict = VERDICT.replace(outer);
    OUT_OF_TIME.set(outer_note);
    CURRENT.set(previous);
    (result, verdict)
}

/// Runs `f`, work of the user's that may unwind, under `cutoff` (a
/// [`Deadline`](crate::Deadline) entered again) or the current one if that is earlier: a
/// scope never loosens the deadline of the task it runs in. What a run inside posts stays
/// inside (a spawned task has no engine to read it, and an enclosing task's engine must not
/// take a scoped deadline for its own). The previous state is restored after, also when `f`
/// panics.
pub(crate) fn within<R>(cutoff: Option<Cutoff>, f: impl FnOnce() -> R) -> R {
    struct Restore(*const Within, Option<Verdict>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
            VERDICT.set(self.1);
            OUT_OF_TIME.set(self.2);
        }
    }
    let outer = current();
    let tighter = match (outer.cutoff(), cutoff) {
        (Some(current), Some(scoped)) if current.at <= scoped.at => Some(current),
        (None, scoped) | (Some(_), scoped @ Some(_)) => scoped,
        (current, None) => current,
    };
    // Lent for the call below, and taken back by `_restore` before it goes.
    let scoped = Within::new(tighter, outer.label);
    let _restore = Restore(
        CURRENT.replace(&scoped),
        VERDICT.take(),
        OUT_OF_TIME.replace(false),
    );
    f()
}

/// `true` if a run inside the task being polled has posted [`Verdict::Expired`] in this
/// poll: the error the task is about to see is time running out on it.
#[inline]
pub(crate) fn expired() -> bool {
    VERDICT.get() == Some(Verdict::Expired)
}

/// Notes that what the running call is about to give was shaped by its own time running
/// out, which another call with more time left may not see: a fallback given at its cutoff,
/// or a retry refused because it would not end before its deadline. A coalesced flight's
/// leader hands such a result to no one (see [`watch_out_of_time`]).
pub(crate) fn note_out_of_time() {
    OUT_OF_TIME.set(true);
}

/// Runs `f`, one poll of a coalesced flight's work, and says whether it noted that its time
/// ran out; the note outside is left as it was. Only coalescing reads the note, so no
/// engine pays for it.
pub(crate) fn watch_out_of_time<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let outer = OUT_OF_TIME.replace(false);
    let result = f();
    (result, OUT_OF_TIME.replace(outer))
}

/// The earlier of two optional instants; `None` is "no limit".
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
