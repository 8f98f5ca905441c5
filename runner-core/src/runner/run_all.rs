//! The future of a [`TaskRunner`] run.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use pin_project_lite::pin_project;
use tokio_util::sync::CancellationToken;

use super::threading::{Sendable, Threading};
use super::{Results, TaskRunner};
use crate::error::FanOutError;
use crate::observe;
use crate::report::{self, Report};
use crate::runner::erased::ErasedSlot;
use crate::slot::Cuts;
use crate::stop::Stop;
use crate::timer::Clock;
use crate::turn::Turn;
use crate::with_report::{Run, WithReport, sealed};

type BoxedSlot<'a, M> = Pin<Box<<M as Threading>::Slot<'a>>>;

pin_project! {
    /// The future of [`TaskRunner::run_all`]: `Result<Results, FanOutError>`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct RunAll<'a, M: Threading = Sendable> {
        // A task's slot is here unless it is running, then it is in `running`.
        slots: Vec<Option<BoxedSlot<'a, M>>>,
        // `FuturesUnordered` polls only the tasks that woke, so a run is linear in its tasks.
        running: FuturesUnordered<Running<'a, M>>,
        // The next task to start.
        next: usize,
        limit: usize,
        #[pin]
        stop: Stop,
        runner: u64,
        // Some task has a timeout of its own.
        timers: bool,
        want_report: bool,
        report: Option<Report>,
        finished: bool,
    }
}

impl<'a, M: Threading> RunAll<'a, M> {
    pub(super) fn new(runner: TaskRunner<'a, M>) -> Self {
        let mut stop = Stop::new();
        if let Some(deadline) = runner.deadline {
            stop.set_deadline(deadline);
        }
        if let Some(token) = runner.cancel {
            stop.set_cancel(token);
        }
        Self {
            slots: runner.slots.into_iter().map(Some).collect(),
            running: FuturesUnordered::new(),
            next: 0,
            limit: runner.limit,
            stop,
            runner: runner.id,
            timers: runner.timers,
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

impl<M: Threading> sealed::Sealed for RunAll<'_, M> {}

impl<'a, M: Threading> Run for RunAll<'a, M> {
    type Ok = Results<'a, M>;
    type Records = Vec<crate::TaskRecord>;

    fn poll_run(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Results<'a, M>, FanOutError>> {
        let mut this = self.project();
        assert!(!*this.finished, "`RunAll` polled after completion");
        let mut clock = Clock::default();
        let mut turn = Turn::default();
        let result = 'run: {
            if this.stop.as_mut().poll_cancelled(cx) {
                break 'run Err(FanOutError::Cancelled);
            }
            if !this.stop.is_started() {
                // Always timed: a successful run's `Results` can give its report.
                this.stop.as_mut().start(&mut clock, true);
            }
            // Only a run with a timer needs a last chance's budget (noting it costs a unit).
            if *this.timers || this.stop.deadline_at().is_some() {
                turn.note_budget(cx);
            }
            // Set when the clock says the deadline has come before its timer has fired.
            let mut passed = false;
            loop {
                // Tasks admitted after others finished start now, not at the poll's start;
                // none starts at or after the deadline, or after a cancel.
                let mut admitted = Clock::default();
                while *this.next < this.slots.len() && this.running.len() < *this.limit {
                    if this.stop.has_passed(&mut admitted) {
                        passed = true;
                        break;
                    }
                    let index = *this.next;
                    *this.next += 1;
                    if let Some(mut slot) = this.slots[index].take() {
                        slot.as_mut()
                            .start(&mut admitted, this.stop.deadline_at(), true);
                        this.running.push(Running {
                            index,
                            slot: Some(slot),
                        });
                    }
                }
                if passed {
                    break;
                }
                let token = this.stop.as_mut().token();
                match poll_running(this.running, token, &mut turn, cx) {
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
                if this.stop.is_cancelled() {
                    break 'run Err(FanOutError::Cancelled);
                }
            }
            if !passed && !this.stop.as_mut().poll_deadline(cx) {
                return Poll::Pending;
            }
            // Back in `slots`, the tasks are cut in the order they were added, which is the
            // order the error names them in. The cut's last poll of each started task also
            // covers those `FuturesUnordered` had woken but not yet polled when it yielded.
            return_running(this.running, this.slots);
            let mut cuts = Cuts::default();
            for slot in this.slots.iter_mut().flatten() {
                if this.stop.is_cancelled() {
                    break 'run Err(FanOutError::Cancelled);
                }
                cuts.add(slot.as_mut().cut(cx, &mut clock, &mut turn));
            }
            cuts.into_error(this.stop.elapsed(&mut clock))
                .map_or(Ok(()), Err)
        };

        *this.finished = true;
        let result = this.stop.conclude(result);
        return_running(this.running, this.slots);
        let mut slots: Vec<BoxedSlot<'a, M>> =
            std::mem::take(this.slots).into_iter().flatten().collect();
        if result.is_err() {
            for slot in &mut slots {
                slot.as_mut().cancel(&mut clock);
            }
        } else if report::warns() {
            report::warn_degraded(slots.iter().map(|slot| slot.record()));
        }
        let elapsed = this.stop.elapsed(&mut clock);
        observe::run_finished(
            || slots.iter().map(|slot| slot.record()).collect::<Vec<_>>(),
            || elapsed,
            result.as_ref().err(),
        );
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

impl<'a, M: Threading> Future for RunAll<'a, M> {
    type Output = Result<Results<'a, M>, FanOutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_run(cx)
    }
}

impl<M: Threading> FusedFuture for RunAll<'_, M> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

/// Moves every running task back to its place in `slots`.
fn return_running<'a, M: Threading>(
    running: &mut FuturesUnordered<Running<'a, M>>,
    slots: &mut [Option<BoxedSlot<'a, M>>],
) {
    for running in std::mem::take(running) {
        if let Some(slot) = running.slot {
            slots[running.index] = Some(slot);
        }
    }
}

thread_local! {
    /// The turn of the run whose tasks `FuturesUnordered` is polling now, its token lent:
    /// each task checks the token before it is polled (see [`Turn`]). A pointer to the turn
    /// `poll_running` holds, rather than the turn itself, so that lending it moves nothing
    /// and the thread-local has no destructor to check for on every access.
    static LENT: Cell<Option<NonNull<Turn>>> = const { Cell::new(None) };
}

/// Polls the running tasks with `turn` lent to them, and the run's `token` in it.
fn poll_running<'a, M: Threading>(
    running: &mut FuturesUnordered<Running<'a, M>>,
    token: &mut Option<CancellationToken>,
    turn: &mut Turn,
    cx: &mut Context<'_>,
) -> Poll<Option<Finished<'a, M>>> {
    /// Points `LENT` back as it was, also if something unwinds through `poll_next` (a
    /// subscriber's panic: the tasks' own are caught), so that it never outlives the turn.
    struct Restore(Option<NonNull<Turn>>);

    impl Drop for Restore {
        fn drop(&mut self) {
            LENT.set(self.0);
        }
    }

    turn.lend_token(token.take());
    let restore = Restore(LENT.replace(Some(NonNull::from(&mut *turn))));
    let polled = running.poll_next_unpin(cx);
    drop(restore);
    *token = turn.return_token();
    polled
}

/// A task handed back by `FuturesUnordered`: its index, its slot, and how it ended.
type Finished<'a, M> = (usize, BoxedSlot<'a, M>, Result<(), FanOutError>);

/// A started task, inside `FuturesUnordered`; it hands its slot back when it is done.
struct Running<'a, M: Threading> {
    index: usize,
    // `None` only after it has returned `Ready`.
    slot: Option<BoxedSlot<'a, M>>,
}

impl<'a, M: Threading> Future for Running<'a, M> {
    type Output = Finished<'a, M>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(slot) = self.slot.as_mut() else {
            return Poll::Pending;
        };
        let mut own = Turn::default();
        let turn = match LENT.get() {
            // SAFETY: `LENT` points to a turn only while `poll_running` polls this run's
            // tasks: the turn is borrowed mutably by `poll_running` for that whole time, and
            // not touched by it meanwhile. `FuturesUnordered` polls the run's tasks only
            // then, on this thread and one at a time, so this is the only reference to the
            // turn. A run nested in the task points `LENT` at its own turn for its own poll,
            // and points it back before the task's poll returns.
            Some(mut lent) => unsafe { lent.as_mut() },
            None => &mut own,
        };
        let polled = match turn.is_cancelled() {
            true => Poll::Ready(Err(FanOutError::Cancelled)),
            false => slot.as_mut().poll_slot(cx, &mut Clock::default(), turn),
        };
        let done = std::task::ready!(polled);
        match self.slot.take() {
            Some(slot) => Poll::Ready((self.index, slot, done)),
            None => Poll::Pending,
        }
    }
}
