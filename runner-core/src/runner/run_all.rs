//! The future of a [`TaskRunner`] run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use pin_project_lite::pin_project;

use super::{Results, TaskRunner};
use crate::FanOutError;
use crate::report::Report;
use crate::slot::{Clock, Cuts, ErasedSlot};
use crate::watch::Watch;
use crate::with_report::{Run, WithReport, sealed};

type BoxedSlot<'a> = Pin<Box<dyn ErasedSlot + 'a>>;

pin_project! {
    /// The future of [`TaskRunner::run_all`]: `Result<Results, FanOutError>`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct RunAll<'a> {
        // A task's slot is here unless it is running, then it is in `running`.
        slots: Vec<Option<BoxedSlot<'a>>>,
        // `FuturesUnordered` polls only the tasks that woke, so a run is linear in its tasks.
        running: FuturesUnordered<Running<'a>>,
        // The next task to start.
        next: usize,
        limit: usize,
        #[pin]
        watch: Watch,
        runner: u64,
        want_report: bool,
        report: Option<Report>,
        finished: bool,
    }
}

impl<'a> RunAll<'a> {
    pub(super) fn new(runner: TaskRunner<'a>) -> Self {
        let mut watch = Watch::new();
        if let Some(deadline) = runner.deadline {
            watch.set_deadline(deadline);
        }
        if let Some(token) = runner.cancel {
            watch.set_cancel(token);
        }
        Self {
            slots: runner.slots.into_iter().map(Some).collect(),
            running: FuturesUnordered::new(),
            next: 0,
            limit: runner.limit,
            watch,
            runner: runner.id,
            want_report: false,
            report: None,
            finished: false,
        }
    }

    /// The same run, returning its [`Report`] beside its result.
    pub fn with_report(mut self) -> WithReport<Self> {
        self.want_report = true;
        WithReport::new(self)
    }
}

impl sealed::Sealed for RunAll<'_> {}

impl<'a> Run for RunAll<'a> {
    type Ok = Results<'a>;
    type Records = Vec<crate::TaskRecord>;

    fn poll_run(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Results<'a>, FanOutError>> {
        let mut this = self.project();
        assert!(!*this.finished, "`RunAll` polled after completion");
        let mut clock = Clock::default();
        if !this.watch.is_started() {
            // Always timed: a successful run's `Results` can give its report.
            this.watch.as_mut().start(&mut clock, true);
        }

        let result = 'run: {
            if this.watch.as_mut().poll_cancelled(cx) {
                break 'run Err(FanOutError::Cancelled);
            }
            loop {
                // Tasks admitted after others finished start now, not at the poll's start.
                let mut admitted = Clock::default();
                while *this.next < this.slots.len() && this.running.len() < *this.limit {
                    let index = *this.next;
                    *this.next += 1;
                    if let Some(mut slot) = this.slots[index].take() {
                        slot.as_mut()
                            .start(&mut admitted, this.watch.deadline_at(), true);
                        this.running.push(Running {
                            index,
                            slot: Some(slot),
                        });
                    }
                }
                match this.running.poll_next_unpin(cx) {
                    Poll::Ready(Some((index, slot, done))) => {
                        this.slots[index] = Some(slot);
                        if let Err(error) = done {
                            break 'run Err(error);
                        }
                    }
                    // Empty, and nothing left to start: every task is done.
                    Poll::Ready(None) if *this.next == this.slots.len() => break 'run Ok(()),
                    Poll::Ready(None) => {}
                    Poll::Pending => break,
                }
            }
            if !this.watch.as_mut().poll_deadline(cx) {
                return Poll::Pending;
            }
            // Back in `slots`, the tasks are cut in the order they were added, which is the
            // order the error names them in. The cut's last poll of each started task also
            // covers those `FuturesUnordered` had woken but not yet polled when it yielded.
            return_running(this.running, this.slots);
            let mut cuts = Cuts::default();
            for slot in this.slots.iter_mut().flatten() {
                cuts.add(slot.as_mut().cut(cx, &mut clock));
            }
            match cuts.into_error(this.watch.elapsed(&mut clock)) {
                Some(error) => Err(error),
                None => Ok(()),
            }
        };

        *this.finished = true;
        return_running(this.running, this.slots);
        let mut slots: Vec<BoxedSlot<'a>> =
            std::mem::take(this.slots).into_iter().flatten().collect();
        if result.is_err() {
            for slot in &mut slots {
                slot.as_mut().cancel(&mut clock);
            }
        }
        let elapsed = this.watch.elapsed(&mut clock);
        if *this.want_report {
            *this.report = Some(Report::new(
                slots.iter().map(|slot| slot.record()).collect(),
                elapsed,
            ));
        }
        Poll::Ready(result.map(|()| Results::new(slots, *this.runner, elapsed)))
    }

    fn report(self: Pin<&mut Self>) -> Report {
        self.project()
            .report
            .take()
            .unwrap_or_else(|| Report::new(Vec::new(), Default::default()))
    }
}

impl<'a> Future for RunAll<'a> {
    type Output = Result<Results<'a>, FanOutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_run(cx)
    }
}

impl FusedFuture for RunAll<'_> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

/// Moves every running task back to its place in `slots`.
fn return_running<'a>(
    running: &mut FuturesUnordered<Running<'a>>,
    slots: &mut [Option<BoxedSlot<'a>>],
) {
    for running in std::mem::take(running) {
        if let Some(slot) = running.slot {
            slots[running.index] = Some(slot);
        }
    }
}

/// A started task, inside `FuturesUnordered`; it hands its slot back when it is done.
struct Running<'a> {
    index: usize,
    // `None` only after it has returned `Ready`.
    slot: Option<BoxedSlot<'a>>,
}

impl<'a> Future for Running<'a> {
    type Output = (usize, BoxedSlot<'a>, Result<(), FanOutError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(slot) = self.slot.as_mut() else {
            return Poll::Pending;
        };
        let done = std::task::ready!(slot.as_mut().poll_slot(cx, &mut Clock::default()));
        match self.slot.take() {
            Some(slot) => Poll::Ready((self.index, slot, done)),
            None => Poll::Pending,
        }
    }
}
