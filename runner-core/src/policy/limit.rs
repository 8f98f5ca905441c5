//! The bulkhead: at most N calls through a policy in flight at once.

use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::error::{PolicyError, says};
use crate::policy::event::EventKind;
use crate::sync::AtomicUsize;

/// A bulkhead's settings: at most `max` calls through the policy in flight at once. An excess
/// call waits for a free place (within its timeout and the deadline), or, with
/// [`reject_when_full`](Self::reject_when_full), is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub(crate) max: usize,
    pub(crate) reject: bool,
}

impl Limit {
    /// At most `max` calls in flight (at least 1); excess calls wait.
    pub const fn new(max: usize) -> Self {
        Self { max, reject: false }
    }

    /// Excess calls are refused at once with [`Rejection::LimitReached`] instead of waiting.
    pub const fn reject_when_full(self) -> Self {
        Self {
            reject: true,
            ..self
        }
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        // tokio's limit on permits, the largest count the gate is meant for.
        if self.max == 0 || self.max > usize::MAX >> 3 {
            return Err(PolicyError::new("limit.max", says::LIMIT));
        }
        Ok(())
    }
}

/// How many calls are in flight through a policy.
///
/// A counter and a `Notify` rather than a `tokio::sync::Semaphore`: a waiting call's future
/// must be a type this crate can hold without boxing, and `Semaphore::acquire`'s cannot be
/// named. A freed place wakes one waiter; a new call may take it first (no strict FIFO).
#[derive(Debug)]
pub(crate) struct Gate {
    in_flight: AtomicUsize,
    freed: Notify,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Enters the gate under `limit`, waiting for a free place unless the limit rejects. A
    /// waiting call reads the policy's limit again each time a place is freed, so that a
    /// limit raised by [`Policy::update`] lets it in; a limit removed lets it in without a
    /// place.
    pub(crate) async fn enter<'a>(
        &'a self,
        policy: &Policy,
        mut limit: Limit,
        task: &'static str,
    ) -> Result<Option<Pass<'a>>, Rejection> {
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the check, so that a place freed between the two wakes it.
            freed.as_mut().enable();
            if let Some(pass) = self.try_enter(limit) {
                return Ok(Some(pass));
            }
            if limit.reject {
                policy.emit(
                    task,
                    EventKind::Rejected {
                        reason: Rejection::LimitReached,
                    },
                );
                return Err(Rejection::LimitReached);
            }
            freed.await;
            match policy.settings().limit {
                Some(now) => limit = now,
                None => return Ok(None),
            }
        }
    }

    /// Wakes every waiting call, to read a changed limit.
    pub(crate) fn wake_all(&self) {
        self.freed.notify_waiters();
    }

    pub(crate) fn try_enter(&self, limit: Limit) -> Option<Pass<'_>> {
        self.in_flight
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < limit.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Pass { gate: self })
    }
}

/// A place in the gate, given back when dropped.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Release);
        self.gate.freed.notify_one();
    }
}
