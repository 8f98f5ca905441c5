//! One attempt behind the circuit breaker: made only once the breaker let it through, and
//! telling the breaker how it went.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::error::Rejection;
use crate::policy::Failure;
use crate::policy::breaker::Permit;

pin_project! {
    /// An attempt the breaker let through (with its permit, if the policy has a breaker), or
    /// its refusal.
    ///
    /// A named future rather than an `async fn`, so that a hedged round can tell an attempt
    /// it drops that it lost ([`lose`](Self::lose)): a hedge that lost counts as neither
    /// success nor failure, even when it is dropped at the very instant time runs out.
    pub(crate) struct Guarded<F, E> {
        #[pin]
        attempt: Option<F>,
        permit: Option<Permit<'static>>,
        refused: Option<Rejection>,
        breaker_if: Option<fn(&E) -> bool>,
    }
}

impl<F, E> Guarded<F, E> {
    pub(crate) fn new(
        admitted: Result<(Option<Permit<'static>>, F), Rejection>,
        breaker_if: Option<fn(&E) -> bool>,
    ) -> Self {
        let (permit, attempt, refused) = match admitted {
            Ok((permit, attempt)) => (permit, Some(attempt), None),
            Err(reason) => (None, None, Some(reason)),
        };
        Self {
            attempt,
            permit,
            refused,
            breaker_if,
        }
    }

    /// Another attempt won: this one is about to be dropped, and says nothing of the
    /// dependency's health.
    pub(crate) fn lose(self: Pin<&mut Self>) {
        if let Some(permit) = self.project().permit.take() {
            permit.ignored();
        }
    }
}

impl<F, T, E> Future for Guarded<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Failure<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(reason) = this.refused.take() {
            return Poll::Ready(Err(Failure::Rejected(reason)));
        }
        let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let result = ready!(attempt.poll(cx));
        this.attempt.set(None);
        match (this.permit.take(), &result) {
            (None, _) => {}
            (Some(permit), Ok(_)) => permit.succeeded(),
            (Some(permit), Err(error)) if this.breaker_if.is_none_or(|counts| counts(error)) => {
                permit.failed()
            }
            (Some(permit), Err(_)) => permit.ignored(),
        }
        Poll::Ready(result.map_err(Failure::Failed))
    }
}
