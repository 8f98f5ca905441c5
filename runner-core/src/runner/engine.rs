//! The dynamic engine's run: its tasks' slots, who woke, the timers, and the loop that polls
//! them. [`RunAll`](super::RunAll) drives it to the end; [`Running`](super::Running) hands
//! out each task as it ends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::TaskRunner;
use super::threading::{Holds, Threading};
use crate::Task;
use crate::cancel::{Cancel, WithToken};
use crate::criticality::Criticality;
use crate::error::FanOutError;
use crate::observe;
use crate::report;
use crate::runner::erased::ErasedSlot;
use crate::runner::slots::Slots;
use crate::runner::wakeups::Wakeups;
use crate::slot::Cuts;
use crate::stop::Stop;
use crate::timer::Clock;
use crate::turn::Turn;

pin_project! {
    /// A run of a [`TaskRunner`]'s tasks.
    pub(super) struct Engine<'a, M: Threading> {
        // Every task's slot, in the order added, from start to end of the run.
        slots: Slots<'a, M>,
        // Which tasks woke, to poll only those: a run is linear in its tasks.
        wakeups: Wakeups,
        // How many tasks have started and not ended.
        running: usize,
        // The running tasks' own timeouts, soonest first: the run's one timer (in `stop`,
        // with the deadline) is armed at the soonest, and a task holds no timer of its own.
        // An entry whose task ended is stale.
        due: BinaryHeap<Reverse<(Instant, u32)>>,
        // The next task to start.
        next: usize,
        limit: usize,
        #[pin]
        stop: Stop,
        #[pin]
        cancel: WithToken,
        runner: u64,
        // Some task has a timeout of its own.
        timers: bool,
        // For `Running`, which hands out each task as it ends: those that ended and were not
        // handed out yet, in the order they ended. `None` for `RunAll`, which hands them all
        // back at the end.
        ended: Option<VecDeque<u32>>,
        // The tasks before this one have been settled by the deadline.
        cut: usize,
    }
}

impl<'a, M: Threading> Engine<'a, M> {
    /// `streaming`: the run hands out each task as it ends ([`Running`](super::Running)).
    pub(super) fn new(runner: TaskRunner<'a, M>, streaming: bool) -> Self {
        let mut stop = Stop::new();
        if let Some(deadline) = runner.deadline {
            stop.set_deadline(deadline);
        }
        let mut wakeups = Wakeups::new();
        wakeups.reserve(runner.slots.len());
        Self {
            ended: streaming.then(|| VecDeque::with_capacity(runner.slots.len())),
            slots: runner.slots,
            wakeups,
            running: 0,
            due: BinaryHeap::new(),
            next: 0,
            limit: runner.limit,
            stop,
            cancel: WithToken::new(runner.cancel),
            runner: runner.id,
            timers: runner.timers,
            cut: 0,
        }
    }

    /// The id of the runner whose handles take this run's slots.
    pub(super) fn runner(&self) -> u64 {
        self.runner
    }

    pub(super) fn slots(&self) -> &Slots<'a, M> {
        &self.slots
    }

    pub(super) fn slot(self: Pin<&mut Self>, index: usize) -> Pin<&mut M::Slot<'a>> {
        self.project().slots.get_mut(index)
    }

    /// Adds a task to a run that may have started: it starts as the next poll admits it.
    pub(super) fn add<F, C>(mut self: Pin<&mut Self>, task: Task<F, C>) -> usize
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        let this = self.as_mut().project();
        let index = hold::<M, F, C>(this.slots, this.timers, task);
        self.reserve::<F, C>(0);
        index
    }

    /// Makes room for `more` tasks besides those added, in the run's lists as in its slots.
    pub(super) fn reserve<F: TryFuture, C: Criticality>(self: Pin<&mut Self>, more: usize) {
        let this = self.project();
        this.slots.reserve::<F, C>(more);
        let tasks = this.slots.len() + more;
        this.wakeups.reserve(tasks);
        if let Some(ended) = this.ended
            && ended.capacity() < tasks
        {
            ended.reserve(tasks - ended.len());
        }
    }

    /// The next task that ended and was not handed out yet (streaming only).
    pub(super) fn pop_ended(self: Pin<&mut Self>) -> Option<usize> {
        let ended = self.project().ended.as_mut()?;
        ended.pop_front().map(|index| index as usize)
    }

    /// How many tasks have not ended: running, or waiting to start.
    pub(super) fn unfinished(&self) -> usize {
        self.slots.len() - self.next + self.running
    }

    /// How many tasks ended and were not handed out yet (streaming only).
    pub(super) fn ended(&self) -> usize {
        self.ended.as_ref().map_or(0, VecDeque::len)
    }

    /// Drops the tasks still running, as a run dropped before its end does.
    pub(super) fn cancel_unfinished(self: Pin<&mut Self>, clock: &mut Clock) {
        for slot in self.project().slots.iter_mut() {
            slot.cancel(clock);
        }
    }

    /// `true` once the run's token is cancelled.
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs the tasks: `Ready(Ok)` once every task has ended (streaming: once one has, or
    /// every one), `Ready(Err)` as soon as the run fails. Call [`conclude`](Self::conclude)
    /// on what it gives.
    pub(super) fn poll_tasks(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
    ) -> Poll<Result<(), FanOutError>> {
        let mut this = self.project();
        let mut turn = Turn::default();
        if this.cancel.as_mut().poll_cancelled(cx) {
            return Poll::Ready(Err(FanOutError::Cancelled));
        }
        if !this.stop.is_started() {
            // Always timed: a successful run's `Results` can give its report.
            this.stop.as_mut().start(clock, true);
            // At the deadline, until a task's own timeout comes before it.
            this.stop.as_mut().arm(None);
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
                let mut slot = this.slots.get_mut(index);
                slot.as_mut()
                    .start(&mut admitted, this.stop.deadline_at(), true);
                if let Some(at) = slot.fires_at() {
                    // A runner holds fewer than `u32::MAX` tasks: `TaskRunner::add`.
                    this.due.push(Reverse((at, index as u32)));
                }
                *this.running += 1;
            }
            this.wakeups.schedule(first, *this.next);
            if passed {
                break;
            }
            // Streaming, a task that ended is handed out now, once the places it freed have
            // been taken and the tasks that took them polled (they start now, not once the
            // caller has taken every task that ended).
            if *this.next == first && this.ended.as_ref().is_some_and(|ended| !ended.is_empty()) {
                return Poll::Ready(Ok(()));
            }
            if *this.running == 0 && *this.next == this.slots.len() {
                // Every task is done.
                return Poll::Ready(Ok(()));
            }
            let ready = this.wakeups.take_ready();
            if let Some(ready) = &ready {
                let token = this.cancel.as_mut().lend();
                turn.lend_token(token.take());
                let polled = poll_ready::<M>(
                    this.slots,
                    this.wakeups,
                    ready,
                    this.running,
                    this.ended.as_mut(),
                    &mut turn,
                );
                *this.cancel.as_mut().lend() = turn.return_token();
                polls_left = polls_left.saturating_sub(ready.len());
                polled?;
                if this.cancel.is_cancelled() {
                    return Poll::Ready(Err(FanOutError::Cancelled));
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
            let token = this.cancel.as_mut().lend();
            turn.lend_token(token.take());
            let expired = expire_due::<M>(
                this.slots,
                this.wakeups,
                this.due,
                this.stop.as_mut(),
                this.running,
                this.ended.as_mut(),
                &mut turn,
                cx,
            );
            *this.cancel.as_mut().lend() = turn.return_token();
            let expired = expired?;
            if this.cancel.is_cancelled() {
                return Poll::Ready(Err(FanOutError::Cancelled));
            }
            if this.ended.as_ref().is_some_and(|ended| !ended.is_empty()) {
                continue;
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
        // had woken but were not polled yet. (Streaming, tasks added after a cut are cut as
        // they come.)
        let mut cuts = Cuts::default();
        for index in *this.cut..this.slots.len() {
            if this.cancel.is_cancelled() {
                return Poll::Ready(Err(FanOutError::Cancelled));
            }
            let slot = this.slots.get_mut(index);
            let open = !slot.is_done();
            cuts.add(slot.cut(cx, clock, &mut turn));
            if let Some(ended) = this.ended.as_mut().filter(|_| open) {
                ended.push_back(index as u32);
            }
        }
        *this.cut = this.slots.len();
        *this.next = this.slots.len();
        *this.running = 0;
        Poll::Ready(
            cuts.into_error(this.stop.elapsed(clock))
                .map_or(Ok(()), Err),
        )
    }

    /// What a run that ended comes to, told to whoever watches: a cancel made meanwhile
    /// wins, the wakers a task kept wake nothing from now on, and a run that failed drops
    /// its tasks. Gives the run's elapsed time.
    /// `cancel_wins`: a cancel made after every task had ended fails nothing (streaming).
    pub(super) fn conclude(
        self: Pin<&mut Self>,
        result: Result<(), FanOutError>,
        cancel_wins: bool,
        clock: &mut Clock,
    ) -> (Result<(), FanOutError>, Duration) {
        let this = self.project();
        this.wakeups.close();
        let result = match cancel_wins {
            true => this.stop.conclude(result, this.cancel.is_cancelled()),
            false => result,
        };
        if result.is_err() {
            for slot in this.slots.iter_mut() {
                slot.cancel(clock);
            }
        } else if report::warns() {
            report::warn_degraded(this.slots.iter().map(|slot| slot.record()));
        }
        let elapsed = this.stop.elapsed(clock);
        observe::run_finished(
            || {
                this.slots
                    .iter()
                    .map(|slot| slot.record())
                    .collect::<Vec<_>>()
            },
            || elapsed,
            result.as_ref().err(),
        );
        (result, elapsed)
    }

    /// Since the run's first poll.
    pub(super) fn elapsed(&self, clock: &mut Clock) -> Duration {
        self.stop.elapsed(clock)
    }

    /// `true` once the run has been polled.
    pub(super) fn is_started(&self) -> bool {
        self.stop.is_started()
    }

    /// Gives up the slots, once the run has concluded.
    pub(super) fn take_slots(self: Pin<&mut Self>) -> Slots<'a, M> {
        std::mem::replace(self.project().slots, Slots::new())
    }
}

/// Pushes a task's slot; its index.
pub(super) fn hold<'a, M, F, C>(
    slots: &mut Slots<'a, M>,
    timers: &mut bool,
    task: Task<F, C>,
) -> usize
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
    M: Holds<'a, F, C>,
{
    *timers |= task.timeout.is_some();
    slots.push(task)
}

/// Times out the tasks whose own timeout has come, once the run's timer has fired for it,
/// each with a last chance and its own waker; then arms the timer at the soonest timeout of
/// a task still running (or at the deadline), dropping the entries of tasks that ended, and
/// registers its waker. `Ok(true)` if it had fired (some tasks may have ended, and others
/// may start).
#[allow(clippy::too_many_arguments)]
fn expire_due<'a, M: Threading>(
    slots: &mut Slots<'a, M>,
    wakeups: &Wakeups,
    due: &mut BinaryHeap<Reverse<(Instant, u32)>>,
    mut stop: Pin<&mut Stop>,
    running: &mut usize,
    mut ended: Option<&mut VecDeque<u32>>,
    turn: &mut Turn,
    cx: &mut Context<'_>,
) -> Result<bool, FanOutError> {
    let own_due = stop.own_due();
    let fired = own_due.is_some() && stop.as_mut().poll_alarm(cx);
    let mut clock = Clock::default();
    if let Some(now) = own_due.filter(|_| fired) {
        while let Some(&Reverse((at, index))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            let index = index as usize;
            // A task that ended before its timeout.
            if !slots.get(index).is_running() || slots.get(index).fires_at() != Some(at) {
                continue;
            }
            if turn.is_cancelled() {
                return Err(FanOutError::Cancelled);
            }
            let waker = wakeups.waker(index);
            let mut task_cx = Context::from_waker(&waker);
            let expired = slots
                .get_mut(index)
                .expire(now, &mut task_cx, &mut clock, turn);
            if !slots.get(index).is_running() {
                *running -= 1;
                if expired.is_ok()
                    && let Some(ended) = ended.as_deref_mut()
                {
                    ended.push_back(index as u32);
                }
            }
            expired?;
        }
    }
    // The entries of tasks that ended go, so that the timer waits for one that runs.
    while let Some(&Reverse((at, index))) = due.peek() {
        let slot = slots.get(index as usize);
        if slot.is_running() && slot.fires_at() == Some(at) {
            break;
        }
        due.pop();
    }
    let next = due.peek().map(|&Reverse((at, _))| at);
    if fired || next != own_due {
        stop.as_mut().arm(next);
        // Polled once, so that its waker is registered; if its instant has come already,
        // the caller's next pass takes it. (Armed at the deadline, it is polled as such
        // once the pass ends.)
        if next.is_some() && stop.as_mut().poll_alarm(cx) {
            return Ok(true);
        }
    }
    Ok(fired)
}

/// Polls the tasks on `ready` that still run, each with its own waker, with `turn` and its
/// token. `Err` as soon as one fails the run (a critical failure, or the token cancelled).
/// The tasks that end in it read the clock once between them, as the static engine's do.
fn poll_ready<'a, M: Threading>(
    slots: &mut Slots<'a, M>,
    wakeups: &Wakeups,
    ready: &[u32],
    running: &mut usize,
    mut ended: Option<&mut VecDeque<u32>>,
    turn: &mut Turn,
) -> Result<(), FanOutError> {
    let mut clock = Clock::default();
    for &index in ready {
        let index = index as usize;
        // Off the list first: a wake-up during its poll puts it back.
        wakeups.unqueue(index);
        let slot = slots.get_mut(index);
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
            if let Some(ended) = ended.as_deref_mut() {
                ended.push_back(index as u32);
            }
        }
    }
    Ok(())
}
