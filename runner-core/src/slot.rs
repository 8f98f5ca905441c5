//! One task inside an engine: it runs the task, then holds its typed slot until it is taken.
//!
//! Both engines drive tasks through [`TaskSlot`], so the rules (own timeout, deadline
//! context, panic boundary, tracing, the record for the report) are written once.

use std::any::Any;
use std::error::Error as StdError;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::timer::{self, Timer, timer_at};
use tracing::Span;

use crate::context::{self, Verdict};
use crate::criticality::Criticality;
use crate::report::{Outcome, TaskRecord};
use crate::{FanOutError, Task, TaskError};

/// The slot type of a task future `F` with criticality `C`.
pub(crate) type SlotOf<F, C> =
    <C as Criticality>::Slot<<F as TryFuture>::Ok, <F as TryFuture>::Error>;

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
/// (see `TaskSlot::expire`), which keeps each task's state 112 bytes smaller and registers
/// one timer per fan-out instead of one per task.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct SharedTimer;

impl OwnTimer for SharedTimer {
    fn arm(self: Pin<&mut Self>, _: Instant) {}

    fn poll_fired(self: Pin<&mut Self>, _: &mut Context<'_>) -> bool {
        false
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, T> {
        Running { #[pin] future: F, #[pin] timer: T },
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
    /// no public methods.
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
        critical: bool,
        timeout: Option<Duration>,
        started: bool,
        // When it started, if anything needs its elapsed time.
        started_at: Option<Instant>,
        // When the task's own timeout elapses.
        own_deadline: Option<Instant>,
        // When its own timer fires: `own_deadline`, if that is before the fan-out's deadline.
        fires_at: Option<Instant>,
        // The tighter of `own_deadline` and the fan-out's deadline: what `deadline()` says.
        work_deadline: Option<Instant>,
        // Set once its fired timer has waited one poll for work starved of coop budget.
        deferred: bool,
        outcome: Option<Outcome>,
        // Set when its value came from its policy's fallback.
        fell_back: bool,
        elapsed: Duration,
        // The task's span while it runs; closed (`Span::none()`) once it has ended.
        span: Span,
        criticality: PhantomData<fn() -> C>,
    }
}

/// What a deadline did to a slot that was still pending.
pub(crate) enum Cut {
    /// The slot is filled (or the task had finished already).
    Filled,
    /// A critical task was still pending: the fan-out fails naming it.
    CriticalPending(&'static str),
    /// A critical task failed in its last poll.
    CriticalFailed(FanOutError),
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

impl<F, C, T> TaskSlot<F, C, T>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
    T: OwnTimer,
{
    pub(crate) fn new(task: Task<F, C>) -> Self {
        Self::from_parts(task.name, task.timeout, task.future, C::CRITICAL)
    }

    /// `critical` is what tracing and the report say, which for a task awaited on its own
    /// is its declared criticality rather than `C`.
    pub(crate) fn from_parts(
        name: &'static str,
        timeout: Option<Duration>,
        future: F,
        critical: bool,
    ) -> Self {
        Self {
            state: State::Running {
                future,
                timer: T::default(),
            },
            name,
            critical,
            timeout,
            started: false,
            started_at: None,
            own_deadline: None,
            fires_at: None,
            work_deadline: None,
            deferred: false,
            outcome: None,
            fell_back: false,
            elapsed: Duration::ZERO,
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
        *this.span = tracing::info_span!(
            "task",
            task = *this.name,
            critical = *this.critical,
            outcome = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        if timed || this.timeout.is_some() || !this.span.is_disabled() {
            *this.started_at = Some(clock.now());
        }
        // A timeout too long to represent is no limit, as with `tokio::time::sleep`.
        *this.own_deadline = this
            .timeout
            .zip(*this.started_at)
            .and_then(|(timeout, now)| now.checked_add(timeout));
        *this.work_deadline = context::earliest(*this.own_deadline, deadline);
        // The own timer is armed only if it would fire before the deadline. At or after
        // it, the deadline is what stops the task, and a critical one is named together
        // with every other critical task still pending.
        *this.fires_at = this
            .own_deadline
            .filter(|own| deadline.is_none_or(|deadline| *own < deadline));
        if let (Some(at), StateProj::Running { timer, .. }) = (*this.fires_at, this.state.project())
        {
            timer.arm(at);
        }
    }

    /// When its own timer fires, while it runs.
    pub(crate) fn fires_at(&self) -> Option<Instant> {
        match self.state {
            State::Running { .. } => self.fires_at,
            _ => None,
        }
    }

    /// With a [`SharedTimer`]: times the task out if its own timer's instant has come. The
    /// fan-out calls this after polling the task in the same poll, so work that finished at
    /// that very instant has already won.
    pub(crate) fn expire(
        self: Pin<&mut Self>,
        now: Instant,
        clock: &mut Clock,
    ) -> Result<(), FanOutError> {
        match (self.fires_at(), self.timeout) {
            (Some(at), Some(timeout)) if at <= now => {
                self.finish(Err(TaskError::TimedOut(timeout)), clock)
            }
            _ => Ok(()),
        }
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
    ) -> Poll<Result<(), FanOutError>> {
        let this = self.as_mut().project();
        let StateProj::Running { mut future, timer } = this.state.project() else {
            return Poll::Ready(Ok(()));
        };
        // The future is polled before its timer, so work that finishes at the very instant
        // its timeout elapses counts as finished.
        let polled = poll_task(
            future.as_mut(),
            cx,
            this.span,
            *this.work_deadline,
            this.fell_back,
        );
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending if timer.poll_fired(cx) && !timer::defer(this.deferred, cx) => {
                Err(TaskError::TimedOut(this.timeout.unwrap_or_default()))
            }
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(self.finish(result, clock))
    }

    /// Settles a task still pending when the fan-out's deadline passed: one last poll, so that
    /// work ready at this very instant wins even if the engine had not polled it since it
    /// woke; then, if it is still pending, its future is dropped and its slot says the
    /// deadline cut it. A task that never started is not polled.
    pub(crate) fn cut(mut self: Pin<&mut Self>, cx: &mut Context<'_>, clock: &mut Clock) -> Cut {
        let this = self.as_mut().project();
        let started = *this.started;
        let (span, deadline, fell_back) = (&*this.span, *this.work_deadline, this.fell_back);
        let StateProj::Running { future, .. } = this.state.project() else {
            return Cut::Filled;
        };
        let last = match started {
            true => poll_task(future, cx, span, deadline, fell_back),
            false => Poll::Pending,
        };
        let (result, by_deadline) = match last {
            Poll::Ready(result) => (result, false),
            Poll::Pending => (Err(TaskError::DeadlineExceeded), true),
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
            let elapsed = this
                .started_at
                .map_or(Duration::ZERO, |started| clock.now() - started);
            *this.outcome = Some(Outcome::Cancelled);
            *this.elapsed = elapsed;
            settle(this.state, State::Dropped, *this.work_deadline, this.span);
            end_span(this.span, Outcome::Cancelled, elapsed);
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
            critical: self.critical,
            outcome: self.outcome.unwrap_or(Outcome::Cancelled),
            elapsed: self.elapsed,
        }
    }

    fn finish(
        self: Pin<&mut Self>,
        result: Result<F::Ok, TaskError<F::Error>>,
        clock: &mut Clock,
    ) -> Result<(), FanOutError> {
        let this = self.project();
        let elapsed = this
            .started_at
            .map_or(Duration::ZERO, |started| clock.now() - started);
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
        *this.elapsed = elapsed;
        if let Err(error) = &result {
            if *this.critical {
                tracing::debug!(parent: &*this.span, task = *this.name, %error, "critical task failed");
            } else {
                tracing::warn!(parent: &*this.span, task = *this.name, %error, "best-effort task degraded");
            }
        }
        let (next, verdict) = match result {
            Err(error) if C::CRITICAL => (
                State::Dropped,
                Err(FanOutError::from_critical(this.name, error, elapsed)),
            ),
            result => (
                State::Done {
                    result: Some(result),
                },
                Ok(()),
            ),
        };
        settle(this.state, next, *this.work_deadline, this.span);
        end_span(this.span, outcome, elapsed);
        verdict
    }
}

/// Polls a task's future inside the task boundary: in its span, under its deadline, with a
/// panic caught and turned into the task's error, and with what its policy posted (a
/// rejection, a fallback) read back; `fell_back` is set if its value is a fallback's.
fn poll_task<F>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
    span: &Span,
    deadline: Option<Instant>,
    fell_back: &mut bool,
) -> Poll<Result<F::Ok, TaskError<F::Error>>>
where
    F: TryFuture,
{
    let _entered = span.enter();
    let polled = context::with_deadline(deadline, || {
        panic::catch_unwind(AssertUnwindSafe(|| future.try_poll(cx)))
    });
    match (polled, context::take_verdict()) {
        (Ok(Poll::Pending), Some(Verdict::Rejected(reason))) => {
            Poll::Ready(Err(TaskError::Rejected(reason)))
        }
        (Ok(Poll::Pending), _) => Poll::Pending,
        (Ok(Poll::Ready(result)), verdict) => {
            *fell_back = result.is_ok() && verdict == Some(Verdict::Fallback);
            Poll::Ready(result.map_err(TaskError::Failed))
        }
        (Err(payload), _) => Poll::Ready(Err(TaskError::Panicked(panic_message(payload)))),
    }
}

/// Moves a slot's state on, dropping the task's future (if it still has one) inside the task
/// boundary: in its span, under its deadline, and with a panic in its `Drop` caught rather
/// than unwinding into the engine.
fn settle<F, S, T>(
    mut state: Pin<&mut State<F, S, T>>,
    next: State<F, S, T>,
    deadline: Option<Instant>,
    span: &Span,
) {
    let _entered = span.enter();
    context::with_deadline(deadline, || {
        // On unwinding, assignment still writes `next`: the state moves on either way.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| state.set(next)));
    });
}

/// Records how the task ended on its span and closes it, so that the span's lifetime is the
/// task's, not that of the slot holding its result.
fn end_span(span: &mut Span, outcome: Outcome, elapsed: Duration) {
    span.record("outcome", outcome.as_str());
    span.record("elapsed_ms", elapsed.as_secs_f64() * 1e3);
    *span = Span::none();
}

/// The object-safe face of a [`TaskSlot`], for the dynamic runner's mixed task types.
pub(crate) trait ErasedSlot: Send {
    fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool);
    fn poll_slot(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
    ) -> Poll<Result<(), FanOutError>>;
    fn cut(self: Pin<&mut Self>, cx: &mut Context<'_>, clock: &mut Clock) -> Cut;
    fn cancel(self: Pin<&mut Self>, clock: &mut Clock);
    fn record(&self) -> TaskRecord;
    /// Moves the slot into `out` if `out` is an `Option` of this slot's type.
    fn take_into(self: Pin<&mut Self>, out: &mut dyn Any);
}

impl<F, C> ErasedSlot for TaskSlot<F, C>
where
    F: TryFuture + Send,
    F::Ok: Send + 'static,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
{
    fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool) {
        TaskSlot::start(self, clock, deadline, timed);
    }

    fn poll_slot(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
    ) -> Poll<Result<(), FanOutError>> {
        TaskSlot::poll_slot(self, cx, clock)
    }

    fn cut(self: Pin<&mut Self>, cx: &mut Context<'_>, clock: &mut Clock) -> Cut {
        TaskSlot::cut(self, cx, clock)
    }

    fn cancel(self: Pin<&mut Self>, clock: &mut Clock) {
        TaskSlot::cancel(self, clock);
    }

    fn record(&self) -> TaskRecord {
        TaskSlot::record(self)
    }

    fn take_into(self: Pin<&mut Self>, out: &mut dyn Any) {
        if let Some(out) = out.downcast_mut::<Option<SlotOf<F, C>>>() {
            *out = self.take();
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
            Cut::CriticalFailed(error) => {
                self.failed.get_or_insert(error);
            }
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

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast_ref::<&'static str>() {
            Some(message) => (*message).to_owned(),
            None => "panic payload is not a string".to_owned(),
        },
    }
}
