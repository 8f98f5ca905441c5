//! How many calls are in flight through a policy, who waits for a place, and who gets the
//! place freed: a critical call before a best-effort one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::event::EventKind;
use crate::policy::limit::Limit;
use crate::policy::limit::adaptive::{Learned, Sample};
use crate::sync::{AtomicU32, AtomicU64, Notify};

/// One critical call waiting, in [`Gate`]'s word.
const CRITICAL_WAITING: u64 = 1 << 32;
/// The calls in flight, in [`Gate`]'s word.
const IN_FLIGHT: u64 = CRITICAL_WAITING - 1;

/// The calls in flight through a policy, and those waiting for a place.
///
/// A counter and two `Notify`s rather than a `tokio::sync::Semaphore`: a waiting call's
/// future must be a type this crate can hold without boxing, and `Semaphore::acquire`'s
/// cannot be named; and a place freed must go to a critical call first, which a semaphore's
/// one queue cannot say. A freed place wakes one waiter; a new call may take it first (no
/// strict FIFO within a kind).
///
/// The calls in flight and the critical calls waiting share one word, so that a best-effort
/// call checks in one step that a place is free and no critical call waits for it, and the
/// call that frees a place learns in the same step whether a critical call waits. The
/// best-effort calls waiting are counted apart: a call that finds a place at once touches
/// only the word, and one that frees it reads the count.
#[derive(Debug)]
pub(crate) struct Gate {
    // In flight in the low 32 bits, critical calls waiting in the high 32.
    state: AtomicU64,
    best_effort_waiting: AtomicU32,
    critical_freed: Notify,
    best_effort_freed: Notify,
    learned: Learned,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            best_effort_waiting: AtomicU32::new(0),
            critical_freed: Notify::new(),
            best_effort_freed: Notify::new(),
            learned: Learned::new(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & IN_FLIGHT) as usize
    }

    /// How many calls wait for a place now.
    #[cfg(all(test, runner_loom))]
    pub(crate) fn waiting(&self) -> usize {
        let critical = self.state.load(Ordering::Relaxed) / CRITICAL_WAITING;
        critical as usize + self.best_effort_waiting.load(Ordering::Relaxed) as usize
    }

    /// The limit now: `limit`'s, or what its adaptive limit has learned.
    #[inline]
    pub(crate) fn limit(&self, limit: &Limit) -> usize {
        match &limit.adaptive {
            Some(adaptive) => self.learned.limit(adaptive),
            None => limit.max,
        }
    }

    /// Forgets what an adaptive limit learned.
    pub(crate) fn reset(&self) {
        self.learned.reset();
        self.wake_all();
    }

    /// Waits for a free place under `limit`, for a call that [`try_enter`](Self::try_enter)
    /// found none for, unless the limit rejects; `critical` calls ahead of best-effort ones.
    /// A waiting call reads the policy's limit again each time it is woken, so that a limit
    /// raised by [`Policy::update`] (or learned) lets it in; a limit removed lets it in
    /// without a place.
    pub(crate) async fn wait<'a>(
        &'a self,
        policy: &'a Policy,
        mut limit: Limit,
        task: &'static str,
        critical: bool,
    ) -> Result<Option<Pass<'a>>, Rejection> {
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
        let mut waiting = Waiting::new(self, critical, limit);
        let freed = match critical {
            true => &self.critical_freed,
            false => &self.best_effort_freed,
        };
        loop {
            let notified = freed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered (and counted, above) before the check, so that a place freed after
            // the check wakes it: its release comes later in the word's order than the count.
            notified.as_mut().enable();
            // Read after registering: an update (and its `wake_all`) before this is seen here.
            match policy.settings().limit {
                Some(now) => {
                    limit = now;
                    waiting.limit = now;
                }
                None => return Ok(None),
            }
            if let Some(pass) = self.try_enter(policy, &limit, task, critical) {
                return Ok(Some(pass));
            }
            notified.await;
            freed.woken();
        }
    }

    /// Wakes every waiting call, to read a changed limit.
    pub(crate) fn wake_all(&self) {
        self.critical_freed.notify_waiters();
        self.best_effort_freed.notify_waiters();
    }

    /// A place now, if one is free (and, for a best-effort call, no critical call waits),
    /// for a call of `task` through `policy`, whose gate this is.
    pub(crate) fn try_enter<'a>(
        &'a self,
        policy: &'a Policy,
        limit: &Limit,
        task: &'static str,
        critical: bool,
    ) -> Option<Pass<'a>> {
        let max = self.limit(limit) as u64;
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                let free = (state & IN_FLIGHT) < max;
                let first = critical || state < CRITICAL_WAITING;
                (free && first).then_some(state + 1)
            })
            .ok()
            .map(|_| Pass {
                policy,
                learning: limit.adaptive.map(|_| Learning {
                    taken: Instant::now(),
                    task,
                }),
            })
    }

    /// Gives a place back: to a critical call waiting, else to a best-effort one.
    fn release(&self) {
        let before = self.state.fetch_sub(1, Ordering::AcqRel);
        self.wake_next(before - 1);
    }

    /// Wakes the next waiter for a place, if one may be free in `state`.
    #[inline]
    fn wake_next(&self, state: u64) {
        if state >= CRITICAL_WAITING {
            self.critical_freed.notify_one();
        } else if self.best_effort_waiting.load(Ordering::Relaxed) > 0 {
            self.wake_best_effort();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_best_effort(&self) {
        self.best_effort_freed.notify_one();
    }
}

/// A call waiting for a place, counted in [`Gate`] while it lives.
struct Waiting<'a> {
    gate: &'a Gate,
    critical: bool,
    // The limit it waits under, last read.
    limit: Limit,
}

impl<'a> Waiting<'a> {
    fn new(gate: &'a Gate, critical: bool, limit: Limit) -> Self {
        if critical {
            gate.state.fetch_add(CRITICAL_WAITING, Ordering::AcqRel);
        } else {
            gate.best_effort_waiting.fetch_add(1, Ordering::Relaxed);
            // Published through the word: a place freed later in the word's order sees
            // this count (its release reads it after), and one freed earlier is seen by this
            // caller's check.
            gate.state.fetch_or(0, Ordering::AcqRel);
        }
        Self {
            gate,
            critical,
            limit,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.critical {
            self.gate
                .best_effort_waiting
                .fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let before = self
            .gate
            .state
            .fetch_sub(CRITICAL_WAITING, Ordering::AcqRel);
        let after = before - CRITICAL_WAITING;
        // The last critical call to stop waiting hands on a place still free: one it was
        // woken for and did not take (it was dropped, or the limit went away), or one freed
        // for it while it was taking another. A best-effort call may take it now.
        let free = (after & IN_FLIGHT) < self.gate.limit(&self.limit) as u64;
        if after < CRITICAL_WAITING && free {
            self.gate.wake_next(after);
        }
    }
}

/// A place in the gate, given back when dropped; under an adaptive limit, with what its
/// call's sample needs.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    policy: &'a Policy,
    learning: Option<Learning>,
}

/// When the call took its place under an adaptive limit, and its task. (The limit's
/// settings are read again when it ends: held here, they would grow every call's future.)
#[derive(Debug)]
struct Learning {
    taken: Instant,
    task: &'static str,
}

impl Pass<'_> {
    /// Gives the place back, once the adaptive limit (if any) has learned from how the call
    /// went: `sample` is told how long it held the place.
    #[inline]
    pub(crate) fn finish(mut self, sample: impl FnOnce(Duration) -> Sample) {
        if let Some(learning) = self.learning.take() {
            let sample = sample(learning.taken.elapsed());
            self.learn(&learning, sample);
        }
    }

    /// Learns from the call, under the policy's adaptive limit now (if it still has one);
    /// wakes the calls waiting if the limit grew. Out of line: a fixed limit's calls never
    /// come here.
    #[cold]
    #[inline(never)]
    fn learn(&self, learning: &Learning, sample: Sample) {
        let Some(settings) = self
            .policy
            .settings()
            .limit
            .and_then(|limit| limit.adaptive)
        else {
            return;
        };
        let gate = &self.policy.gate;
        let in_flight = gate.in_flight();
        if let Some((from, to)) = gate.learned.learn(&settings, sample, in_flight) {
            if to > from {
                gate.wake_all();
            }
            self.policy
                .emit(learning.task, EventKind::LimitChanged { from, to });
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if let Some(learning) = self.learning.take() {
            // Dropped unfinished: by its timeout or the deadline (time ran out on it), or
            // because the call is no longer needed, which says nothing of the dependency.
            let expired =
                crate::context::cutoff().is_some_and(|cutoff| cutoff.at <= Instant::now());
            if expired {
                self.learn(&learning, Sample::Overloaded);
            }
        }
        self.policy.gate.release();
    }
}
