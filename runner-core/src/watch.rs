//! What both engines watch besides their tasks: the overall deadline and a cancellation token.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::timer::{self, Timer, timer_at};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::context;
use crate::slot::Clock;

pin_project! {
    pub(crate) struct Watch {
        #[pin]
        timer: Option<Timer>,
        #[pin]
        cancelled: Option<WaitForCancellationFutureOwned>,
        deadline: Option<Duration>,
        deadline_at: Option<Instant>,
        started: bool,
        // When it started, if anything needs its elapsed time.
        started_at: Option<Instant>,
        // Set once the fired deadline has waited one poll for work starved of coop budget.
        deferred: bool,
    }
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self {
            timer: None,
            cancelled: None,
            deadline: None,
            deadline_at: None,
            started: false,
            started_at: None,
            deferred: false,
        }
    }

    pub(crate) fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = Some(deadline);
    }

    pub(crate) fn set_cancel(&mut self, token: CancellationToken) {
        self.cancelled = Some(token.cancelled_owned());
    }

    /// On the first poll: fixes the deadline (the tighter of this fan-out's own, counted from
    /// now, and the one it runs under) and arms its timer. Returns it. `timed` asks for the
    /// run's elapsed time; a deadline asks for it too.
    pub(crate) fn start(self: Pin<&mut Self>, clock: &mut Clock, timed: bool) -> Option<Instant> {
        let mut this = self.project();
        *this.started = true;
        if timed || this.deadline.is_some() {
            *this.started_at = Some(clock.now());
        }
        // A deadline too far off to represent is no deadline, as with `tokio::time::sleep`.
        let own = this
            .deadline
            .zip(*this.started_at)
            .and_then(|(deadline, now)| now.checked_add(deadline));
        *this.deadline_at = context::earliest(own, context::deadline());
        this.timer.set(this.deadline_at.map(timer_at));
        *this.deadline_at
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    pub(crate) fn deadline_at(&self) -> Option<Instant> {
        self.deadline_at
    }

    pub(crate) fn elapsed(&self, clock: &mut Clock) -> Duration {
        self.started_at
            .map_or(Duration::ZERO, |started| clock.now() - started)
    }

    pub(crate) fn poll_cancelled(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.project()
            .cancelled
            .as_pin_mut()
            .is_some_and(|cancelled| cancelled.poll(cx).is_ready())
    }

    /// `true` once the deadline has passed.
    pub(crate) fn poll_deadline(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let this = self.project();
        let fired = this
            .timer
            .as_pin_mut()
            .is_some_and(|timer| timer.poll(cx).is_ready());
        fired && !timer::defer(this.deferred, cx)
    }
}
