//! The timers behind timeouts and deadlines, and the tie rule at their instants.

use std::task::{Context, Poll};

use tokio::task::coop::{self, RestoreOnPending, Unconstrained};
use tokio::time::{Instant, Sleep};

/// A `Sleep` polled outside tokio's cooperative budget.
///
/// A task that spends the whole budget would otherwise make its own timer answer `Pending`
/// on every poll, and the timeout meant to stop it would never fire (tokio's `Timeout`
/// guards against the same thing).
pub(crate) type Timer = Unconstrained<Sleep>;

pub(crate) fn timer_at(at: Instant) -> Timer {
    tokio::task::coop::unconstrained(tokio::time::sleep_until(at))
}

/// The coop budget an engine was polled with, given back for each last chance at a timer's
/// instant.
///
/// Once the budget is spent (by the work itself, or by other work polled before it in the
/// same tokio task), tokio's resources answer `Pending` even when they are ready, so work
/// that finished at a timer's very instant may not have been seen. Before a timer counts,
/// the work it would stop gets one last poll with the budget the engine had when it was
/// polled, refilled for each last chance: it wins the tie, as the rules say, however the
/// budget was spent meanwhile. Not an unconstrained poll: work that loops for as long as
/// the budget lets it (a busy channel) would never return from one.
///
/// The refill is tokio's own `RestoreOnPending`, which puts the budget back as it was when
/// it was taken. An engine polled with its budget already spent has none to give back.
#[doc(hidden)]
#[derive(Debug)]
pub struct Refill(Option<RestoreOnPending>);

impl Refill {
    /// Notes the budget now, at the start of an engine's poll (this costs one unit of it).
    pub(crate) fn note(cx: &mut Context<'_>) -> Self {
        if !coop::has_budget_remaining() {
            return Self(None);
        }
        match coop::poll_proceed(cx) {
            Poll::Ready(noted) => Self(Some(noted)),
            Poll::Pending => Self(None),
        }
    }

    /// Nothing to give back: for an engine that has no timer to tie with.
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// Runs `poll`, a last chance at a timer's instant, with the budget noted.
    pub(crate) fn last_chance<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        if let Some(noted) = self.0.take() {
            // Dropped, it puts the budget back as noted; noted again for the next one.
            drop(noted);
            self.0 = match coop::poll_proceed(cx) {
                Poll::Ready(noted) => Some(noted),
                Poll::Pending => None,
            };
        }
        poll(cx)
    }
}

impl Drop for Refill {
    /// Leaves the budget as the work left it.
    fn drop(&mut self) {
        if let Some(noted) = &self.0 {
            noted.made_progress();
        }
    }
}
