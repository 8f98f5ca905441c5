//! The timers behind timeouts and deadlines, and the clock the engines read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::coop::Unconstrained;
use tokio::time::{Instant, Sleep};

/// A `Sleep` polled outside tokio's cooperative budget.
///
/// A task that spends the whole budget would otherwise make its own timer answer `Pending`
/// on every poll, and the timeout meant to stop it would never fire (tokio's `Timeout`
/// guards against the same thing).
pub(crate) type Timer = Unconstrained<Sleep>;

pub(crate) fn timer_at(at: Instant) -> Timer {
    tokio::task::coop::unconstrained(sleep_at(at))
}

/// A bare `Sleep`, for a timer that must tell its instant ([`Sleep::deadline`]): polled with
/// [`poll_unconstrained`], it is a [`Timer`].
pub(crate) fn sleep_at(at: Instant) -> Sleep {
    if tokio::runtime::Handle::try_current().is_err() {
        no_runtime();
    }
    tokio::time::sleep_until(at)
}

/// Polls a bare `Sleep` outside tokio's cooperative budget, as a [`Timer`] is polled.
pub(crate) fn poll_unconstrained(sleep: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<()> {
    Pin::new(&mut tokio::task::coop::unconstrained(sleep)).poll(cx)
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

/// Where a task's own timeout is timed.
#[doc(hidden)]
pub trait OwnTimer: Default {
    /// Arms the timer to fire at `at`.
    fn arm(self: Pin<&mut Self>, at: Instant);
    /// `true` once it has fired.
    fn poll_fired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;
}

pin_project! {
    /// A `Sleep` of the task's own: the dynamic engine, and a task awaited on its own.
    #[doc(hidden)]
    #[derive(Default)]
    pub struct TaskTimer {
        #[pin]
        timer: Option<Timer>,
    }
}

impl OwnTimer for TaskTimer {
    fn arm(self: Pin<&mut Self>, at: Instant) {
        self.project().timer.set(Some(timer_at(at)));
    }

    fn poll_fired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let timer = self.project().timer.as_pin_mut();
        timer.is_some_and(|timer| timer.poll(cx).is_ready())
    }
}

/// No timer in the task: the static engine keeps one timer for all its tasks' timeouts
/// (see `TaskSlot::expire`), which keeps each task's state smaller and registers one timer
/// per fan-out instead of one per task.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct SharedTimer;

impl OwnTimer for SharedTimer {
    fn arm(self: Pin<&mut Self>, _: Instant) {}

    fn poll_fired(self: Pin<&mut Self>, _: &mut Context<'_>) -> bool {
        false
    }
}

/// Reads the clock at most once per engine poll, however many tasks finish in it, and not at
/// all when nothing needs the time (no timeout, no deadline, no report, no enabled span).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Clock(Option<Instant>);

impl Clock {
    pub(crate) fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}
