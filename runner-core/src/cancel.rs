//! What ends a run from outside: a cancellation token, if it was given one.
//!
//! A fan-out without one carries nothing for it ([`NoToken`]): the future that waits on a
//! token is most of a run's own state, and most runs have none.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

use pin_project_lite::pin_project;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How a [`FanOut`](crate::FanOut) is cancelled from outside: never ([`NoToken`], the
/// default), or by a token ([`WithToken`], from [`FanOut::cancel_on`](crate::FanOut::cancel_on)).
///
/// Sealed: it is here to name a fan-out's type, as in `FanOut<B, WithToken>`.
pub trait Cancel: sealed::Sealed {
    /// `true` once cancelled; registers the run to be woken when it is.
    fn poll_cancelled(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;

    /// `true` once cancelled: checked before each task poll, so that a cancel made inside
    /// one task's poll stops the tasks after it.
    fn is_cancelled(&self) -> bool;
}

/// No token: the fan-out is cancelled only by being dropped. It carries nothing for one.
#[derive(Debug, Default)]
pub struct NoToken;

impl Cancel for NoToken {
    #[inline]
    fn poll_cancelled(self: Pin<&mut Self>, _: &mut Context<'_>) -> bool {
        false
    }

    #[inline]
    fn is_cancelled(&self) -> bool {
        false
    }
}

pin_project! {
    /// A fan-out's token (see [`FanOut::cancel_on`](crate::FanOut::cancel_on)), and the
    /// future that wakes the run when it is cancelled. (The dynamic engine holds one too,
    /// with or without a token.)
    pub struct WithToken {
        #[pin]
        cancelled: Option<WaitForCancellationFutureOwned>,
        // Checked between task polls; lent to the dynamic engine's tasks (see `lend`).
        token: Option<CancellationToken>,
    }
}

impl WithToken {
    pub(crate) fn new(token: Option<CancellationToken>) -> Self {
        Self {
            cancelled: token.clone().map(CancellationToken::cancelled_owned),
            token,
        }
    }

    /// The token, lent out while the dynamic engine's tasks are polled.
    pub(crate) fn lend(self: Pin<&mut Self>) -> &mut Option<CancellationToken> {
        self.project().token
    }
}

impl Cancel for WithToken {
    fn poll_cancelled(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.project()
            .cancelled
            .as_pin_mut()
            .is_some_and(|cancelled| cancelled.poll(cx).is_ready())
    }

    fn is_cancelled(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoToken {}
    impl Sealed for super::WithToken {}
}
