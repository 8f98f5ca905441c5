//! The bulkhead: at most N calls through a policy in flight at once.

use std::sync::atomic::Ordering;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::error::{PolicyError, says};
use crate::policy::event::EventKind;
use crate::sync::{AtomicU64, Notify};

/// A bulkhead's settings: at most `max` calls through the policy in flight at once. An excess
/// call waits for a free place (within its timeout and the deadline), or, with
/// [`reject_when_full`](Self::reject_when_full), is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub(crate) max: usize,
    pub(crate) reject: bool,
}

impl Limit {
    /// At most `max` calls in flight (1 to 2³¹ − 1); excess calls wait.
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
        if self.max == 0 || self.max > MAX {
            return Err(PolicyError::new("limit.max", says::LIMIT));
        }
        Ok(())
    }
}

/// The largest limit: the gate counts the calls in flight in 31 bits.
pub(crate) const MAX: usize = i32::MAX as usize;

/// One waiting call, in [`Gate`]'s word.
const WAITER: u64 = 1 << 32;
/// The calls in flight, in [`Gate`]'s word.
const IN_FLIGHT: u64 = WAITER - 1;

/// How many calls are in flight through a policy.
///
/// A counter and a `Notify` rather than a `tokio::sync::Semaphore`: a waiting call's future
/// must be a type this crate can hold without boxing, and `Semaphore::acquire`'s cannot be
/// named. A freed place wakes one waiter; a new call may take it first (no strict FIFO).
///
/// The calls in flight and the calls waiting share one word, so that the call that frees a
/// place learns in the same step whether anyone waits: a call that finds a place at once,
/// and one that frees it with nobody waiting, touch only that word, never the `Notify`.
#[derive(Debug)]
pub(crate) struct Gate {
    // In flight in the low 32 bits, waiting in the high 32.
    state: AtomicU64,
    freed: Notify,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            freed: Notify::new(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & IN_FLIGHT) as usize
    }

    /// How many calls wait for a place now.
    #[cfg(all(test, runner_loom))]
    pub(crate) fn waiting(&self) -> usize {
        (self.state.load(Ordering::Relaxed) / WAITER) as usize
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
        // Counted as waiting until this future ends, however it ends.
        let _waiting = Waiting::new(self);
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered (and counted, above) before the check, so that a place freed after
            // the check wakes it: its release comes later in the word's order than the count.
            freed.as_mut().enable();
            if let Some(pass) = self.try_enter(limit) {
                return Ok(Some(pass));
            }
            freed.await;
            self.freed.woken();
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
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |state| {
                ((state & IN_FLIGHT) < limit.max as u64).then_some(state + 1)
            })
            .ok()
            .map(|_| Pass { gate: self })
    }
}

/// A call waiting for a place, counted in [`Gate`]'s word while it lives.
struct Waiting<'a> {
    gate: &'a Gate,
}

impl<'a> Waiting<'a> {
    fn new(gate: &'a Gate) -> Self {
        gate.state.fetch_add(WAITER, Ordering::Relaxed);
        Self { gate }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.gate.state.fetch_sub(WAITER, Ordering::Relaxed);
    }
}

/// A place in the gate, given back when dropped.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let before = self.gate.state.fetch_sub(1, Ordering::Release);
        if before >= WAITER {
            self.gate.freed.notify_one();
        }
    }
}
