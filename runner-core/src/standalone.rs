//! A task awaited on its own, outside any fan-out.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use pin_project_lite::pin_project;

use crate::context::{self, Verdict};
use crate::criticality::BestEffort;
use crate::error::TaskError;
use crate::label::Label;
use crate::slot::TaskSlot;
use crate::timer::Clock;
use crate::timer::{Timer, timer_at};
use crate::turn::Turn;

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
        // The deadline of the task awaiting it, if any.
        #[pin]
        inherited: Option<Timer>,
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
        label: Option<Label>,
        timeout: Option<Duration>,
        future: F,
        critical: bool,
    ) -> Self {
        Self {
            slot: TaskSlot::from_parts(name, label, timeout, future, critical),
            inherited: None,
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
        let mut turn = Turn::default();
        if !*this.started {
            *this.started = true;
            let inherited = context::deadline();
            // Once the deadline it would inherit has come, the task never starts.
            if inherited.is_some_and(|at| clock.now() >= at) {
                this.slot.as_mut().cut(cx, &mut clock, &mut turn);
            } else {
                this.slot.as_mut().start(&mut clock, inherited, false);
                this.inherited.set(inherited.map(timer_at));
            }
        }
        // Only a task with a timer to tie with needs a last chance's budget.
        if this.inherited.is_some() || this.slot.fires_at().is_some() {
            turn.note_budget(cx);
        }
        if this
            .slot
            .as_mut()
            .poll_slot(cx, &mut clock, &mut turn)
            .is_pending()
        {
            match this.inherited.as_pin_mut().map(|timer| timer.poll(cx)) {
                Some(Poll::Ready(())) => {
                    this.slot.as_mut().cut(cx, &mut clock, &mut turn);
                }
                _ => return Poll::Pending,
            }
        }
        // A best-effort slot is filled whenever the task finished or was cut; it is empty
        // only if this future is polled again after it returned.
        let output = this
            .slot
            .take()
            .expect("`TaskFuture` polled after completion");
        // Only the deadline it inherited cuts it: time ran out on the task awaiting it.
        if matches!(output, Err(TaskError::DeadlineExceeded)) {
            context::post(Verdict::Expired);
        }
        Poll::Ready(output)
    }
}
