//! A task awaited on its own, outside any fan-out.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::timer::{self, Timer, timer_at};

use crate::TaskError;
use crate::context;
use crate::criticality::BestEffort;
use crate::slot::{Clock, TaskSlot};

pin_project! {
    /// The future of a [`Task`](crate::Task) awaited on its own.
    ///
    /// It runs the task under its own timeout and under the deadline of the task that awaits
    /// it, if any, and catches a panic.
    #[must_use = "futures do nothing unless awaited"]
    pub struct TaskFuture<F>
    where
        F: TryFuture,
    {
        // Run as best-effort: its result is the task's slot, whatever its criticality.
        #[pin]
        slot: TaskSlot<F, BestEffort>,
        #[pin]
        inherited: Option<Timer>,
        inherited_at: Option<Instant>,
        deferred: bool,
        started: bool,
    }
}

impl<F> TaskFuture<F>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
{
    pub(crate) fn new(
        name: &'static str,
        timeout: Option<Duration>,
        future: F,
        critical: bool,
    ) -> Self {
        Self {
            slot: TaskSlot::from_parts(name, timeout, future, critical),
            inherited: None,
            inherited_at: None,
            deferred: false,
            started: false,
        }
    }
}

impl<F> Future for TaskFuture<F>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
{
    type Output = Result<F::Ok, TaskError<F::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut clock = Clock::default();
        if !*this.started {
            *this.started = true;
            *this.inherited_at = context::deadline();
            this.slot
                .as_mut()
                .start(&mut clock, *this.inherited_at, false);
            this.inherited.set(this.inherited_at.map(timer_at));
        }
        if this.slot.as_mut().poll_slot(cx, &mut clock).is_pending() {
            match this.inherited.as_pin_mut().map(|timer| timer.poll(cx)) {
                Some(Poll::Ready(())) if !timer::defer(this.deferred, cx) => {
                    this.slot.as_mut().cut(cx, &mut clock);
                }
                _ => return Poll::Pending,
            }
        }
        // A best-effort slot is filled whenever the task finished or was cut; it is empty
        // only if this future is polled again after it returned.
        Poll::Ready(
            this.slot
                .take()
                .expect("`TaskFuture` polled after completion"),
        )
    }
}
