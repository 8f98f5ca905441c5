//! What an engine's poll lends the tasks it polls: the coop budget it was polled with, for a
//! task's last chance at a timer's instant, and the run's cancellation token, checked before
//! a task is polled again.

use std::task::{Context, Poll};

use tokio::task::coop::{self, RestoreOnPending};
use tokio_util::sync::CancellationToken;

/// One poll of an engine, as its tasks see it.
///
/// **The last chance.** Once tokio's coop budget is spent (by the work itself, or by other
/// work polled before it in the same tokio task), tokio's resources answer `Pending` even
/// when they are ready, so work that finished at a timer's very instant may not have been
/// seen. Before a timer counts, the work it would stop gets one more poll with the budget
/// the engine was polled with (less the unit that noting it costs): it wins the tie, as the
/// rules say, however the budget was spent meanwhile. Then the budget is put back as it was
/// before that poll, so the refill hands no extra budget to what runs after. Not an
/// unconstrained poll: work that loops for as long as the budget lets it (a busy channel)
/// would never return from one.
///
/// The refill is tokio's own `RestoreOnPending`, which puts the budget back as it was when
/// it was taken. An engine polled with its budget already spent has none to give back.
///
/// **The token.** The dynamic engine lends its token to the tasks it polls, so that none is
/// polled, not even for a last chance, once a task before it cancelled it.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Turn {
    noted: Option<RestoreOnPending>,
    token: Option<CancellationToken>,
}

impl Turn {
    /// Notes the budget now, at the start of an engine's poll: this costs one unit of it.
    pub(crate) fn note_budget(&mut self, cx: &mut Context<'_>) {
        self.noted = take_unit(cx);
    }

    /// Lends the run's token for this turn.
    pub(crate) fn lend_token(&mut self, token: Option<CancellationToken>) {
        self.token = token;
    }

    /// Gives the run's token back.
    pub(crate) fn return_token(&mut self) -> Option<CancellationToken> {
        self.token.take()
    }

    /// `true` once the lent token is cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Runs `poll`, a last chance at a timer's instant, with the budget noted; `None`, and
    /// no poll, once the lent token is cancelled.
    pub(crate) fn last_chance<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> R,
    ) -> Option<R> {
        if self.is_cancelled() {
            return None;
        }
        let Some(noted) = self.noted.take() else {
            return Some(poll(cx));
        };
        // The budget as it is now, to put back after.
        let now = take_unit(cx);
        // Dropped, `noted` puts the budget back as noted; it is noted again for the next.
        drop(noted);
        self.noted = take_unit(cx);
        let result = poll(cx);
        match now {
            Some(now) => drop(now),
            None => spend_all(cx),
        }
        Some(result)
    }
}

impl Drop for Turn {
    /// Leaves the budget as the work left it.
    fn drop(&mut self) {
        if let Some(noted) = &self.noted {
            noted.made_progress();
        }
    }
}

/// A unit of the budget, held: dropped, it puts the budget back as it was before it.
fn take_unit(cx: &mut Context<'_>) -> Option<RestoreOnPending> {
    if !coop::has_budget_remaining() {
        return None;
    }
    match coop::poll_proceed(cx) {
        Poll::Ready(unit) => Some(unit),
        Poll::Pending => None,
    }
}

/// Spends what is left of a budget that a last chance refilled after it was spent. A budget
/// holds at most 255 units; the bound also keeps an unconstrained one from looping.
fn spend_all(cx: &mut Context<'_>) {
    for _ in 0..=u8::MAX {
        match take_unit(cx) {
            Some(unit) => unit.made_progress(),
            None => return,
        }
    }
}
