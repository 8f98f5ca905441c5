//! A task's fallback: the value for its slot when it fails, is refused, or runs out of time;
//! and the race of a call against its cutoff that lets the fallback answer at that instant.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::error::TaskError;
use crate::timer::{Timer, timer_at};
use crate::turn::Turn;

/// A fallback as a fn pointer, what `#[task(fallback = path)]` gives.
#[doc(hidden)]
pub type FallbackFn<T, E> = fn(&TaskError<E>) -> T;

/// A task's fallback: a `fn(&TaskError<E>) -> T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the fallback of a task returning `Result<{T}, {E}>`",
    label = "not a `fn(&TaskError<{E}>) -> {T}`",
    note = "a fallback gets why the task failed, `&runner_core::TaskError<E>`, and returns the value for its slot, a `T`"
)]
pub trait Fallback<T, E> {
    /// `false` only for [`NoFallback`].
    const PRESENT: bool = true;

    /// The value for a task that failed with `error`, if there is a fallback.
    fn value(&self, error: &TaskError<E>) -> Option<T>;
}

#[diagnostic::do_not_recommend]
impl<T, E, G> Fallback<T, E> for G
where
    G: Fn(&TaskError<E>) -> T,
{
    fn value(&self, error: &TaskError<E>) -> Option<T> {
        Some(self(error))
    }
}

/// No fallback: a failed task stays failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<T, E> Fallback<T, E> for NoFallback {
    const PRESENT: bool = false;

    fn value(&self, _: &TaskError<E>) -> Option<T> {
        None
    }
}

pin_project! {
    /// `call`'s outcome if it comes before `at`, or at that instant; `None` if time ran out.
    ///
    /// The timer is polled after the call, and when it fires the call gets a last chance with
    /// the budget it was polled with (see [`Turn`]), so a call that finishes at the very
    /// instant wins, as in the engines.
    ///
    /// A named future rather than an `async fn`: an `async fn`'s state keeps its argument
    /// beside the local it is pinned in, and the call is the largest thing a policy holds.
    pub(super) struct Before<F> {
        #[pin]
        call: F,
        #[pin]
        timer: Timer,
    }
}

/// See [`Before`].
pub(super) fn before<F: Future>(call: F, at: Instant) -> Before<F> {
    Before {
        call,
        timer: timer_at(at),
    }
}

impl<F: Future> Future for Before<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut turn = Turn::default();
        turn.note_budget(cx);
        if let Poll::Ready(output) = this.call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if this.timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        match turn.last_chance(cx, |cx| this.call.as_mut().poll(cx)) {
            Some(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Some(Poll::Pending) | None => Poll::Ready(None),
        }
    }
}
