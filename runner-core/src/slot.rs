//! One task inside an engine: it runs the task, then holds its typed slot until it is taken.
//!
//! Both engines drive tasks through [`TaskSlot`], so the rules (own timeout, deadline
//! context, panic boundary, tracing, the record for the report) are written once.

use std::error::Error as StdError;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tracing::Span;

use crate::boundary::{self, Polled, Shielded};
use crate::context::{Cutoff, OwnTimeout, Within};
use crate::criticality::Criticality;
use crate::error::{FanOutError, TaskError};
use crate::label::Label;
use crate::report::{Outcome, TaskRecord};
use crate::task::Task;
use crate::timer::{Clock, OwnTimer, TaskTimer};
use crate::turn::Turn;

/// The slot type of a task future `F` with criticality `C`.
pub(crate) type SlotOf<F, C> =
    <C as Criticality>::Slot<<F as TryFuture>::Ok, <F as TryFuture>::Error>;

pin_project! {
    #[project = StateProj]
    enum State<F, S, T> {
        // `future` is `None` once a run inside it expired: the task then waits, pending, for
        // the timer or the deadline that expired, which settles it.
        Running { #[pin] future: Option<F>, #[pin] timer: T },
        // `None` once the slot has been taken.
        Done { result: Option<S> },
        // The future was dropped without a slot: a critical failure, or cancellation.
        Dropped,
    }
}

pin_project! {
    /// One task inside a fan-out: runs it, then holds its slot until it is taken.
    ///
    /// Built by [`FanOut::new`](crate::FanOut::new); it appears in the fan-out's type but has
    /// no public methods. Dropped, it drops the task's future (or its value) inside the task
    /// boundary: a panic in their `Drop` stays there.
    pub struct TaskSlot<F, C, T = TaskTimer>
    where
        F: TryFuture,
        C: Criticality,
    {
        // Holds the result rather than the slot, so that the slot's auto traits follow
        // `T` and `E` alone, whatever `C` is.
        #[pin]
        state: State<F, Result<F::Ok, TaskError<F::Error>>, T>,
        name: &'static str,
        // Its call's label, its own timeout, and, once it started, when it is stopped: what
        // `deadline()` and its policy's events read inside it.
        within: Within,
        critical: bool,
        started: bool,
        timing: Timing,
        outcome: Option<Outcome>,
        // Set when its value came from its policy's fallback.
        fell_back: bool,
        // The task's span while it runs; closed (`Span::none()`) once it has ended.
        span: Span,
        criticality: PhantomData<fn() -> C>,
    }

    impl<F, C, T> PinnedDrop for TaskSlot<F, C, T>
    where
        F: TryFuture,
        C: Criticality,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Most slots end taken, with nothing of the task's left to drop.
            if !matches!(*this.state, State::Dropped | State::Done { result: None }) {
                boundary::replace(this.state, State::Dropped, this.span, this.within);
            }
        }
    }
}

/// What a deadline did to a slot that was still pending.
#[doc(hidden)]
pub enum Cut {
    /// The slot is filled (or the task had finished already).
    Filled,
    /// A critical task was still pending: the fan-out fails naming it.
    CriticalPending(&'static str),
    /// A critical task failed in its last poll.
    CriticalFailed(FanOutError),
}

impl<F, C, T> TaskSlot<F, C, T>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
    T: OwnTimer,
{
    pub(crate) fn new(task: Task<F, C>) -> Self {
        Self::from_parts(
            task.name,
            task.label,
            task.timeout,
            task.future,
            C::CRITICAL,
        )
    }

    /// `critical` is what tracing and the report say, which for a task awaited on its own
    /// is its declared criticality rather than `C`.
    pub(crate) fn from_parts(
        name: &'static str,
        label: Option<Label>,
        timeout: Option<Duration>,
        future: F,
        critical: bool,
    ) -> Self {
        Self {
            state: State::Running {
                future: Some(future),
                timer: T::default(),
            },
            name,
            within: Within {
                at: None,
                own_timeout: OwnTimeout::new(timeout),
                label,
            },
            critical,
            started: false,
            timing: Timing::Off,
            outcome: None,
            fell_back: false,
            span: Span::none(),
            criticality: PhantomData,
        }
    }

    /// Starts the task; `deadline` is the fan-out's, already tightened by any enclosing one.
    /// `timed` asks for its elapsed time (for a report); a timeout or an enabled span asks
    /// for it too.
    pub(crate) fn start(
        self: Pin<&mut Self>,
        clock: &mut Clock,
        deadline: Option<Instant>,
        timed: bool,
    ) {
        let this = self.project();
        *this.started = true;
        // The slot holds `Span::none()` until now: a span no subscriber takes is not copied
        // in (40 bytes, read back from where it was just written, at every task's start).
        let span = boundary::task_span(this.name, this.within.label.as_ref(), *this.critical);
        if !span.is_disabled() {
            *this.span = span;
        }
        let timeout = this.within.own_timeout.get();
        let now = (timed || timeout.is_some() || !this.span.is_disabled()).then(|| clock.now());
        if let Some(now) = now {
            *this.timing = Timing::Since(now);
        }
        // A timeout too long to represent is no limit, as with `tokio::time::sleep`.
        let own = timeout
            .zip(now)
            .and_then(|(timeout, now)| now.checked_add(timeout));
        // The own timeout counts only if it comes before the deadline. At or after it, the
        // deadline is what stops the task, and a critical one is named together with every
        // other critical task still pending.
        match (own, deadline) {
            (Some(at), deadline) if deadline.is_none_or(|deadline| at < deadline) => {
                this.within.at = Some(at);
            }
            (_, deadline) => {
                this.within.at = deadline;
                this.within.own_timeout = OwnTimeout::NONE;
            }
        }
        if let (Some(at), StateProj::Running { timer, .. }) =
            (own_timer_at(this.within), this.state.project())
        {
            timer.arm(at);
        }
    }

    /// When its own timer fires, while it runs.
    pub(crate) fn fires_at(&self) -> Option<Instant> {
        match self.state {
            State::Running { .. } => own_timer_at(&self.within),
            _ => None,
        }
    }

    /// With a [`SharedTimer`]: times the task out if its own timer's instant has come, after
    /// a last chance to finish (see [`Turn`]). The fan-out calls this after polling the
    /// task in the same poll, so work that finished at that very instant wins.
    pub(crate) fn expire(
        mut self: Pin<&mut Self>,
        now: Instant,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Result<(), FanOutError> {
        match self.fires_at() {
            Some(at) if at <= now => match self.as_mut().last_poll(cx, turn) {
                Some(result) => self.finish(result, clock),
                None => self.time_out(clock),
            },
            _ => Ok(()),
        }
    }

    /// `true` once started.
    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    /// `false` while it runs.
    pub(crate) fn is_done(&self) -> bool {
        !matches!(self.state, State::Running { .. })
    }

    /// Polls the task if it is still running. `Ready(Ok)` once its slot is filled;
    /// `Ready(Err)` if it was critical and failed, in which case its future is dropped.
    pub(crate) fn poll_slot(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Poll<Result<(), FanOutError>> {
        let this = self.as_mut().project();
        let StateProj::Running { future, timer } = this.state.project() else {
            return Poll::Ready(Ok(()));
        };
        // The future is polled before its timer, so work that finishes at the very instant
        // its timeout elapses counts as finished.
        let polled = boundary::poll(future, cx, this.span, this.within);
        let result = match polled {
            Polled::Done { result, fell_back } => {
                *this.fell_back = fell_back;
                result
            }
            // Its future is gone: it waits for its timer.
            Polled::Expired => {
                return match timer.poll_fired(cx) {
                    true => Poll::Ready(self.time_out(clock)),
                    false => Poll::Pending,
                };
            }
            Polled::Pending if timer.poll_fired(cx) => match self.as_mut().last_poll(cx, turn) {
                Some(result) => result,
                None => return Poll::Ready(self.time_out(clock)),
            },
            Polled::Pending => return Poll::Pending,
        };
        Poll::Ready(self.finish(result, clock))
    }

    /// Settles a task still pending when the fan-out's deadline passed: a last chance to
    /// finish (see [`Turn`]), so that work ready at this very instant wins even if the
    /// engine had not polled it since it woke, or the coop budget was spent; then, if it is
    /// still pending, its future is dropped and its slot says the deadline cut it. A task
    /// that never started is not polled.
    pub(crate) fn cut(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Cut {
        if self.is_done() {
            return Cut::Filled;
        }
        let last = match self.started {
            true => self.as_mut().last_poll(cx, turn),
            false => None,
        };
        let (result, by_deadline) = match last {
            Some(result) => (result, false),
            None => (Err(TaskError::DeadlineExceeded), true),
        };
        let name = self.name;
        match self.finish(result, clock) {
            Ok(()) => Cut::Filled,
            Err(_) if by_deadline => Cut::CriticalPending(name),
            Err(error) => Cut::CriticalFailed(error),
        }
    }

    /// Drops the task's future if it is still running: the fan-out ended without it.
    pub(crate) fn cancel(self: Pin<&mut Self>, clock: &mut Clock) {
        let this = self.project();
        if let State::Running { .. } = *this.state {
            let elapsed = this.timing.end(clock);
            *this.outcome = Some(Outcome::Cancelled);
            boundary::replace(this.state, State::Dropped, this.span, this.within);
            boundary::end_span(this.span, Outcome::Cancelled, elapsed);
        }
    }

    /// Takes the slot; `None` unless the task finished and the slot is still there.
    pub(crate) fn take(self: Pin<&mut Self>) -> Option<SlotOf<F, C>> {
        match self.project().state.project() {
            // A failed critical task never reaches `Done`, so `into_slot` cannot fail here.
            StateProj::Done { result } => C::into_slot(result.take()?).ok(),
            _ => None,
        }
    }

    pub(crate) fn record(&self) -> TaskRecord {
        TaskRecord {
            name: self.name,
            label: self.within.label,
            critical: self.critical,
            outcome: self.outcome.unwrap_or(Outcome::Cancelled),
            elapsed: self.timing.took(),
        }
    }

    /// The task's last chance at its timer's instant: one more poll, with the budget the
    /// engine was polled with, if its future is still there and the run was not cancelled
    /// meanwhile (see [`Turn`]). `None` if it is still pending.
    fn last_poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        turn: &mut Turn,
    ) -> Option<Result<F::Ok, TaskError<F::Error>>> {
        let this = self.project();
        let StateProj::Running { future, .. } = this.state.project() else {
            return None;
        };
        if future.is_none() {
            return None;
        }
        let (span, within) = (&*this.span, &*this.within);
        match turn.last_chance(cx, |cx| boundary::poll(future, cx, span, within)) {
            Some(Polled::Done { result, fell_back }) => {
                *this.fell_back = fell_back;
                Some(result)
            }
            Some(Polled::Pending | Polled::Expired) | None => None,
        }
    }

    /// Ends the task as its own timer says: the timer fires only when the cutoff is the
    /// task's own timeout, so this is `TimedOut` with it, as `Cutoff::error` says everywhere.
    fn time_out(self: Pin<&mut Self>, clock: &mut Clock) -> Result<(), FanOutError> {
        let error = self
            .within
            .cutoff()
            .map_or(TaskError::DeadlineExceeded, Cutoff::error);
        self.finish(Err(error), clock)
    }

    fn finish(
        self: Pin<&mut Self>,
        result: Result<F::Ok, TaskError<F::Error>>,
        clock: &mut Clock,
    ) -> Result<(), FanOutError> {
        let mut this = self.project();
        let elapsed = this.timing.end(clock);
        let outcome = match &result {
            Ok(_) if *this.fell_back => Outcome::Fallback,
            Ok(_) => Outcome::Ok,
            Err(TaskError::Failed(_)) => Outcome::Failed,
            Err(TaskError::TimedOut(_)) => Outcome::TimedOut,
            Err(TaskError::DeadlineExceeded) => Outcome::DeadlineExceeded,
            Err(TaskError::Panicked(_)) => Outcome::Panicked,
            Err(TaskError::Rejected(_)) => Outcome::Rejected,
        };
        *this.outcome = Some(outcome);
        // One event per task, at DEBUG: the run sums up the degraded ones in one WARN.
        if let Err(error) = &result {
            let error = Shielded(error);
            match *this.critical {
                true => {
                    tracing::debug!(parent: &*this.span, task = *this.name, %error, "critical task failed")
                }
                false => {
                    tracing::debug!(parent: &*this.span, task = *this.name, %error, "best-effort task degraded")
                }
            }
        }
        let (next, verdict) = match result {
            Err(error) if C::CRITICAL => (
                State::Dropped,
                Err(FanOutError::from_critical(
                    this.name,
                    this.within.label,
                    error,
                    elapsed,
                )),
            ),
            result => (
                State::Done {
                    result: Some(result),
                },
                Ok(()),
            ),
        };
        match *this.state {
            // Its future ended, and was dropped in the boundary as it did: nothing of the
            // task's is left to drop.
            State::Running { future: None, .. } => this.state.set(next),
            _ => boundary::replace(this.state, next, this.span, this.within),
        }
        boundary::end_span(this.span, outcome, elapsed);
        verdict
    }
}

/// When a task's own timer fires, once it started: its cutoff's instant, if that is its own
/// timeout's.
#[inline]
fn own_timer_at(within: &Within) -> Option<Instant> {
    within.at.filter(|_| within.own_timeout.is_some())
}

/// A task's time: when it started, while it runs, and how long it ran, once it ended. It
/// never needs both, so one field holds either, and nothing unless something asks for the
/// time (a report, a timeout, a span a subscriber takes).
#[derive(Clone, Copy)]
enum Timing {
    Off,
    Since(Instant),
    /// In nanoseconds, which keeps this as small as the instant: 584 years, then it
    /// saturates.
    Took(u64),
}

impl Timing {
    /// Ends the timing: how long the task ran (zero if it was not timed).
    #[inline]
    fn end(&mut self, clock: &mut Clock) -> Duration {
        let Timing::Since(started) = *self else {
            return self.took();
        };
        let elapsed = clock.now() - started;
        *self = Timing::Took(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        elapsed
    }

    /// How long the task ran, once it ended; zero before, or if it was not timed.
    #[inline]
    fn took(self) -> Duration {
        match self {
            Timing::Took(nanos) => Duration::from_nanos(nanos),
            Timing::Off | Timing::Since(_) => Duration::ZERO,
        }
    }
}

/// Collects what a deadline did to every pending slot into the fan-out's verdict.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Cuts {
    failed: Option<FanOutError>,
    pending: Vec<&'static str>,
}

impl Cuts {
    pub(crate) fn add(&mut self, cut: Cut) {
        match cut {
            Cut::Filled => {}
            Cut::CriticalPending(name) => self.pending.push(name),
            // The first failure is the run's; a later one holds a task's error, its to drop.
            Cut::CriticalFailed(error) => match self.failed {
                Some(_) => boundary::drop_caught(error),
                None => self.failed = Some(error),
            },
        }
    }

    /// `None` if the fan-out survives the deadline: no critical task was pending.
    pub(crate) fn into_error(self, elapsed: Duration) -> Option<FanOutError> {
        if self.failed.is_some() {
            return self.failed;
        }
        (!self.pending.is_empty()).then_some(FanOutError::DeadlineExceeded {
            pending: self.pending,
            elapsed,
        })
    }
}
