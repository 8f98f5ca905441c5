//! What both engines stop at besides their tasks' own ends: the overall deadline (a token,
//! if there is one, is in `cancel`).

use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::boundary;
use crate::context::{self, Verdict};
use crate::error::FanOutError;
use crate::timer::{Clock, poll_unconstrained, sleep_at};

pin_project! {
    pub(crate) struct Stop {
        // The run's one timer: at the soonest own timeout of a running task while there is
        // one (each comes before the deadline, or it would not count), else at the deadline.
        // One timer rather than two keeps the run smaller and registers one `Sleep` a run.
        // A bare `Sleep`, so that it tells the instant it is armed for.
        #[pin]
        alarm: Option<Sleep>,
        // The alarm is armed for an own timeout, not the deadline.
        for_own: bool,
        deadline: Option<Duration>,
        deadline_at: Option<Instant>,
        // The deadline in force is the one the run inherited from the task it runs in.
        inherited: bool,
        started: bool,
        // When it started, if anything needs its elapsed time.
        started_at: Option<Instant>,
    }
}

impl Stop {
    pub(crate) fn new() -> Self {
        Self {
            alarm: None,
            for_own: false,
            deadline: None,
            deadline_at: None,
            inherited: false,
            started: false,
            started_at: None,
        }
    }

    pub(crate) fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = Some(deadline);
    }

    /// On the first poll: fixes the deadline (the tighter of this fan-out's own, counted from
    /// now, and the one it runs under) and returns it. The engine arms the alarm next, with
    /// its tasks' own timeouts ([`arm`](Self::arm)). `timed` asks for the
    /// run's elapsed time; a deadline asks for it too, so that a deadline error says how long
    /// the run ran.
    pub(crate) fn start(self: Pin<&mut Self>, clock: &mut Clock, timed: bool) -> Option<Instant> {
        let this = self.project();
        *this.started = true;
        let inherited = context::deadline();
        if timed || this.deadline.is_some() || inherited.is_some() {
            *this.started_at = Some(clock.now());
        }
        // A deadline too far off to represent is no deadline, as with `tokio::time::sleep`.
        let own = this
            .deadline
            .zip(*this.started_at)
            .and_then(|(deadline, now)| now.checked_add(deadline));
        *this.inherited = inherited.is_some_and(|inherited| own.is_none_or(|own| inherited <= own));
        *this.deadline_at = context::earliest(own, inherited);
        *this.deadline_at
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    pub(crate) fn deadline_at(&self) -> Option<Instant> {
        self.deadline_at
    }

    /// `true` once the deadline has come, by the clock: no task starts then.
    pub(crate) fn has_passed(&self, clock: &mut Clock) -> bool {
        self.deadline_at.is_some_and(|at| clock.now() >= at)
    }

    pub(crate) fn elapsed(&self, clock: &mut Clock) -> Duration {
        self.started_at
            .map_or(Duration::ZERO, |started| clock.now() - started)
    }

    /// Arms the alarm at `own`, the soonest own timeout of a running task (before the
    /// deadline), or at the deadline when no task has one; a new timer only if that instant
    /// changed.
    pub(crate) fn arm(self: Pin<&mut Self>, own: Option<Instant>) {
        let mut this = self.project();
        // `poll_deadline` relies on it: an own timeout at or past the deadline does not count.
        debug_assert!(
            own.zip(*this.deadline_at)
                .is_none_or(|(own, deadline)| own < deadline),
            "an own timeout armed at or past the deadline"
        );
        let at = own.or(*this.deadline_at);
        let armed_at = this
            .alarm
            .as_ref()
            .as_pin_ref()
            .map(|alarm| alarm.deadline());
        if armed_at != at {
            this.alarm.set(at.map(sleep_at));
        }
        *this.for_own = own.is_some();
    }

    /// The soonest own timeout the alarm is armed for, if it is armed for one.
    pub(crate) fn own_due(&self) -> Option<Instant> {
        self.alarm
            .as_ref()
            .filter(|_| self.for_own)
            .map(Sleep::deadline)
    }

    /// `true` once the alarm has fired; registers the run to be woken when it does.
    pub(crate) fn poll_alarm(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.project()
            .alarm
            .as_pin_mut()
            .is_some_and(|alarm| poll_unconstrained(alarm, cx).is_ready())
    }

    /// `true` once the deadline has passed, by the alarm: armed at the deadline once no own
    /// timeout is due before it.
    pub(crate) fn poll_deadline(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        !self.for_own && self.poll_alarm(cx)
    }

    /// The run's result as it ends: a cancel made meanwhile (`cancelled`: inside a task's
    /// poll, or on another thread) ends it cancelled, whatever it came to; and a deadline
    /// error on the deadline the run inherited tells the engine polling the enclosing task
    /// that time ran out on that task (see [`Verdict::Expired`]).
    pub(crate) fn conclude<T>(
        &self,
        result: Result<T, FanOutError>,
        cancelled: bool,
    ) -> Result<T, FanOutError> {
        if cancelled {
            // What it came to holds the tasks' values or a task's error: theirs to drop.
            boundary::drop_caught(result);
            return Err(FanOutError::Cancelled);
        }
        if self.inherited && matches!(result, Err(FanOutError::DeadlineExceeded { .. })) {
            context::post(Verdict::Expired);
        }
        result
    }
}
