//! One attempt behind the circuit breaker: made only once the breaker let it through, and
//! telling the breaker, and the policy's observer, how it went.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::error::Rejection;
use crate::policy::breaker::{Breaker, Permit};
use crate::policy::event::{AttemptOutcome, EventKind};
use crate::policy::{Failure, Policy};

/// Whose attempt it is: the policy, the task, and how the breaker judges it.
pub(crate) struct Maker<'p, E> {
    pub(crate) policy: &'p Policy,
    pub(crate) task: &'static str,
    // The breaker's settings when the call started.
    pub(crate) breaker: Option<&'p Breaker>,
    pub(crate) breaker_if: Option<fn(&E) -> bool>,
    pub(crate) cooldown_from: Option<fn(&E) -> Option<Duration>>,
}

// By hand: a derive would ask `E: Copy`.
impl<E> Clone for Maker<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Maker<'_, E> {}

pin_project! {
    /// An attempt the breaker let through (with its permit, if the policy has a breaker), or
    /// its refusal.
    ///
    /// A named future rather than an `async fn`, so that a hedged round can tell an attempt
    /// it drops that it lost ([`lose`](Self::lose)): a hedge that lost counts as neither
    /// success nor failure, even when it is dropped at the very instant time runs out.
    pub(crate) struct Guarded<'p, F, E> {
        #[pin]
        attempt: Option<F>,
        permit: Option<Permit<'p>>,
        refused: Option<Rejection>,
        maker: Maker<'p, E>,
        number: u32,
        // When the attempt started, read only for an observer.
        started: Option<Instant>,
        deadline: Option<Instant>,
    }

    impl<'p, F, E> PinnedDrop for Guarded<'p, F, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.attempt.is_some() {
                let timed_out = this.deadline.is_some_and(|deadline| Instant::now() >= deadline);
                let outcome = match timed_out {
                    true => AttemptOutcome::TimedOut,
                    false => AttemptOutcome::Dropped,
                };
                finished(this.maker, *this.number, *this.started, outcome);
            }
        }
    }
}

impl<'p, F, E> Guarded<'p, F, E> {
    /// Attempt `number` of the call, asking the breaker first; `make` is called only if it
    /// lets the attempt through.
    pub(crate) fn new(
        maker: Maker<'p, E>,
        number: u32,
        hedge: bool,
        deadline: Option<Instant>,
        make: impl FnOnce() -> F,
    ) -> Self {
        let (permit, attempt, refused) =
            match maker.policy.admit(maker.task, maker.breaker, deadline) {
                Ok(permit) => (permit, Some(make()), None),
                Err(reason) => (None, None, Some(reason)),
            };
        let started = match attempt.is_some() && maker.policy.observed() {
            true => {
                maker.policy.emit(
                    maker.task,
                    EventKind::AttemptStarted {
                        attempt: number,
                        hedge,
                    },
                );
                Some(Instant::now())
            }
            false => None,
        };
        Self {
            attempt,
            permit,
            refused,
            maker,
            number,
            started,
            deadline,
        }
    }

    /// Another attempt won: this one is about to be dropped, and says nothing of the
    /// dependency's health.
    pub(crate) fn lose(self: Pin<&mut Self>) {
        let this = self.project();
        if let Some(permit) = this.permit.take() {
            permit.ignored();
        }
        // Dropped at the deadline or not, a loser did not time out.
        *this.deadline = None;
    }
}

impl<F, T, E> Future for Guarded<'_, F, E>
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
        let counts = |error: &E| this.maker.breaker_if.is_none_or(|counts| counts(error));
        let outcome = match &result {
            Ok(_) => AttemptOutcome::Succeeded,
            Err(error) if counts(error) => AttemptOutcome::Failed,
            Err(_) => AttemptOutcome::Ignored,
        };
        if let Some(permit) = this.permit.take() {
            match outcome {
                AttemptOutcome::Succeeded => permit.succeeded(),
                AttemptOutcome::Failed => {
                    let cooldown = this.maker.cooldown_from.zip(result.as_ref().err());
                    permit.failed(cooldown.and_then(|(cooldown, error)| cooldown(error)))
                }
                _ => permit.ignored(),
            }
        }
        finished(this.maker, *this.number, *this.started, outcome);
        Poll::Ready(result.map_err(Failure::Failed))
    }
}

/// Tells the observer, if the attempt was observed from its start, how it went.
fn finished<E>(
    maker: &Maker<'_, E>,
    attempt: u32,
    started: Option<Instant>,
    outcome: AttemptOutcome,
) {
    if let Some(started) = started {
        let latency = started.elapsed();
        maker.policy.emit(
            maker.task,
            EventKind::AttemptFinished {
                attempt,
                outcome,
                latency,
            },
        );
    }
}
