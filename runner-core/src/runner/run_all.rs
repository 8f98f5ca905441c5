//! The future of a [`TaskRunner`] run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::threading::{Sendable, Threading};
use super::{Results, TaskRunner};
use crate::error::FanOutError;
use crate::observe;
use crate::report::{self, Report};
use crate::runner::erased::ErasedSlot;
use crate::runner::wakeups::Wakeups;
use crate::slot::Cuts;
use crate::stop::Stop;
use crate::timer::{Clock, Timer, timer_at};
use crate::turn::Turn;
use crate::with_report::{Run, WithReport, sealed};

type BoxedSlot<'a, M> = Pin<Box<<M as Threading>::Slot<'a>>>;

pin_project! {
    /// The future of [`TaskRunner::run_all`]: `Result<Results, FanOutError>`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct RunAll<'a, M: Threading = Sendable> {
        // Every task's slot, in the order added, from start to end of the run.
        slots: Vec<BoxedSlot<'a, M>>,
        // Which tasks woke, to poll only those: a run is linear in its tasks.
        wakeups: Wakeups,
        // How many tasks have started and not ended.
        running: usize,
        // The running tasks' own timeouts, soonest first, and one timer for them all at the
        // soonest: a task holds no timer of its own. An entry whose task ended is stale.
        due: BinaryHeap<Reverse<(Instant, u32)>>,
        #[pin]
        own_timer: Option<Timer>,
        own_due: Option<Instant>,
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
        let mut wakeups = Wakeups::new();
        wakeups.reserve(runner.slots.len());
        Self {
            slots: runner.slots,
            wakeups,
            running: 0,
            due: BinaryHeap::new(),
            own_timer: None,
            own_due: None,
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
            // Registered before the ready list is read: a task that wakes after this is seen
            // now or wakes the run.
            this.wakeups.register(cx.waker());
            // Then the run yields, so that a task that wakes itself at every poll does not
            // keep its executor's thread: as many polls as tasks run, and at least 32.
            let mut polls_left = (*this.running).max(32);
            loop {
                // Tasks admitted after others finished start now, not at the poll's start;
                // none starts at or after the deadline, or after a cancel.
                let mut admitted = Clock::default();
                let first = *this.next;
                while *this.next < this.slots.len() && *this.running < *this.limit {
                    if this.stop.has_passed(&mut admitted) {
                        passed = true;
                        break;
                    }
                    let index = *this.next;
                    *this.next += 1;
                    let slot = this.slots[index].as_mut();
                    slot.start(&mut admitted, this.stop.deadline_at(), true);
                    if let Some(at) = this.slots[index].fires_at() {
                        // A runner holds fewer than `u32::MAX` tasks: `TaskRunner::add`.
                        this.due.push(Reverse((at, index as u32)));
                    }
                    *this.running += 1;
                }
                this.wakeups.schedule(first, *this.next);
                if passed {
                    break;
                }
                if *this.running == 0 && *this.next == this.slots.len() {
                    // Every task is done.
                    break 'run Ok(());
                }
                let ready = this.wakeups.take_ready();
                if let Some(ready) = &ready {
                    let token = this.stop.as_mut().token();
                    turn.lend_token(token.take());
                    let polled =
                        poll_ready::<M>(this.slots, this.wakeups, ready, this.running, &mut turn);
                    *this.stop.as_mut().token() = turn.return_token();
                    polls_left = polls_left.saturating_sub(ready.len());
                    if let Err(error) = polled {
                        break 'run Err(error);
                    }
                    if this.stop.is_cancelled() {
                        break 'run Err(FanOutError::Cancelled);
                    }
                }
                let woke = ready.is_some();
                if let Some(ready) = ready {
                    this.wakeups.done_with(ready);
                }
                // At every pass, busy or not: a task that keeps the ready list full must
                // not hold back the others' own timeouts (nor its own). The tasks that woke
                // were polled first, so work that finished at the instant its own timer fires
                // has already won; the rest get a last chance as they time out.
                let token = this.stop.as_mut().token();
                turn.lend_token(token.take());
                let expired = expire_due::<M>(
                    this.slots,
                    this.wakeups,
                    this.due,
                    this.own_timer.as_mut(),
                    this.own_due,
                    this.running,
                    &mut turn,
                    cx,
                );
                *this.stop.as_mut().token() = turn.return_token();
                let expired = match expired {
                    Ok(expired) => expired,
                    Err(error) => break 'run Err(error),
                };
                if this.stop.is_cancelled() {
                    break 'run Err(FanOutError::Cancelled);
                }
                if !woke && !expired {
                    break;
                }
                if polls_left == 0 {
                    cx.waker().wake_by_ref();
                    break;
                }
            }
            if !passed && !this.stop.as_mut().poll_deadline(cx) {
                return Poll::Pending;
            }
            // The tasks are cut in the order they were added, which is the order the error
            // names them in. The cut's last poll of each started task also covers those that
            // had woken but were not polled yet.
            let mut cuts = Cuts::default();
            for slot in this.slots.iter_mut() {
                if this.stop.is_cancelled() {
                    break 'run Err(FanOutError::Cancelled);
                }
                cuts.add(slot.as_mut().cut(cx, &mut clock, &mut turn));
            }
            cuts.into_error(this.stop.elapsed(&mut clock))
                .map_or(Ok(()), Err)
        };

        *this.finished = true;
        // A waker a task kept past the run wakes nothing from now on.
        this.wakeups.close();
        let result = this.stop.conclude(result);
        let mut slots: Vec<BoxedSlot<'a, M>> = std::mem::take(this.slots);
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

/// Times out the tasks whose own timeout has come, once the run's timer for them has fired,
/// each with a last chance and its own waker; then arms the timer at the soonest timeout of
/// a task still running, dropping the entries of tasks that ended, and registers its waker.
/// `Ok(true)` if it had fired (some tasks may have ended, and others may start).
#[allow(clippy::too_many_arguments)]
fn expire_due<'a, M: Threading>(
    slots: &mut [BoxedSlot<'a, M>],
    wakeups: &Wakeups,
    due: &mut BinaryHeap<Reverse<(Instant, u32)>>,
    mut timer: Pin<&mut Option<Timer>>,
    own_due: &mut Option<Instant>,
    running: &mut usize,
    turn: &mut Turn,
    cx: &mut Context<'_>,
) -> Result<bool, FanOutError> {
    let fired = timer
        .as_mut()
        .as_pin_mut()
        .is_some_and(|timer| timer.poll(cx).is_ready());
    let mut clock = Clock::default();
    if let Some(now) = own_due.filter(|_| fired) {
        while let Some(&Reverse((at, index))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            let index = index as usize;
            // A task that ended before its timeout.
            if !slots[index].is_running() || slots[index].fires_at() != Some(at) {
                continue;
            }
            if turn.is_cancelled() {
                return Err(FanOutError::Cancelled);
            }
            let waker = wakeups.waker(index);
            let mut task_cx = Context::from_waker(&waker);
            let expired = slots[index]
                .as_mut()
                .expire(now, &mut task_cx, &mut clock, turn);
            if !slots[index].is_running() {
                *running -= 1;
            }
            expired?;
        }
    }
    // The entries of tasks that ended go, so that the timer waits for one that runs.
    while let Some(&Reverse((at, index))) = due.peek() {
        let slot = &slots[index as usize];
        if slot.is_running() && slot.fires_at() == Some(at) {
            break;
        }
        due.pop();
    }
    let next = due.peek().map(|&Reverse((at, _))| at);
    if fired || next != *own_due {
        *own_due = next;
        timer.set(next.map(timer_at));
        // Polled once, so that its waker is registered; if its instant has come already,
        // the caller's next pass takes it.
        if let Some(timer) = timer.as_mut().as_pin_mut()
            && timer.poll(cx).is_ready()
        {
            return Ok(true);
        }
    }
    Ok(fired)
}

/// Polls the tasks on `ready` that still run, each with its own waker, with `turn` and its
/// token. `Err` as soon as one fails the run (a critical failure, or the token cancelled).
/// The tasks that end in it read the clock once between them, as the static engine's do.
fn poll_ready<'a, M: Threading>(
    slots: &mut [BoxedSlot<'a, M>],
    wakeups: &Wakeups,
    ready: &[u32],
    running: &mut usize,
    turn: &mut Turn,
) -> Result<(), FanOutError> {
    let mut clock = Clock::default();
    for &index in ready {
        let index = index as usize;
        // Off the list first: a wake-up during its poll puts it back.
        wakeups.unqueue(index);
        let slot = slots[index].as_mut();
        // A task that ended since it woke.
        if !slot.is_running() {
            continue;
        }
        if turn.is_cancelled() {
            return Err(FanOutError::Cancelled);
        }
        let waker = wakeups.waker(index);
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(done) = slot.poll_slot(&mut cx, &mut clock, turn) {
            *running -= 1;
            done?;
        }
    }
    Ok(())
}
