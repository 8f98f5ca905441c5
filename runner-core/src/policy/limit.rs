//! The bulkhead: at most N calls of a task fn in flight in the process.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::error::Rejection;
use crate::policy::event;

/// A bulkhead's settings: at most `max` calls of the task fn in flight at once. An excess
/// call waits for a free place (within its timeout and the deadline), or, with
/// [`reject_when_full`](Self::reject_when_full), is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub(crate) max: usize,
    pub(crate) reject: bool,
}

impl Limit {
    /// At most `max` calls in flight; excess calls wait.
    ///
    /// # Panics
    ///
    /// If `max` is zero: in a `static`, at compile time.
    pub const fn new(max: usize) -> Self {
        assert!(
            max > 0,
            "a limit of zero calls in flight would refuse every call"
        );
        Self { max, reject: false }
    }

    /// Excess calls are refused at once with [`Rejection::LimitReached`] instead of waiting.
    pub const fn reject_when_full(self) -> Self {
        Self {
            reject: true,
            ..self
        }
    }
}

/// How many calls are in flight, in the task fn's `static` policy.
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
    pub(crate) const fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            freed: Notify::const_new(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Enters the gate, waiting for a free place unless the limit rejects.
    pub(crate) async fn enter(
        &self,
        limit: Limit,
        task: &'static str,
    ) -> Result<Pass<'_>, Rejection> {
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the check, so that a place freed between the two wakes it.
            freed.as_mut().enable();
            if let Some(pass) = self.try_enter(limit) {
                return Ok(pass);
            }
            if limit.reject {
                event::rejected(task, Rejection::LimitReached);
                return Err(Rejection::LimitReached);
            }
            freed.await;
        }
    }

    fn try_enter(&self, limit: Limit) -> Option<Pass<'_>> {
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
