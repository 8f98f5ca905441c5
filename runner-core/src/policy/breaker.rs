//! The circuit breaker: one per policy, shared by every call through it.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::breaker_state::BreakerState;
use crate::policy::error::{PolicyError, says};
use crate::policy::event::EventKind;
use crate::sync::{AtomicU8, AtomicU32, Mutex, MutexGuard};

/// A circuit breaker's settings: it opens once `failures` attempts have failed within
/// `window` of the first of them (and, with [`rate`](Self::rate), once they are at least
/// that share of the attempts made since the first), refuses every call for `cooldown`, then
/// lets one probe through (half-open): a success closes it, a failure opens it again.
///
/// A count alone suits a dependency called a few times a second; under heavy traffic, where
/// five failures in ten seconds can be a healthy error rate, give a `rate` too.
///
/// An attempt counts as failed when it returns an error (one the optional predicate calls a
/// failure, see [`Options::breaker_if`](crate::Options::breaker_if)) or when time runs out
/// on it; an attempt dropped for another reason (a hedge that lost, a critical sibling that
/// failed) counts as neither.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breaker {
    pub(crate) failures: u32,
    pub(crate) window: Duration,
    pub(crate) cooldown: Duration,
    // The rate in thousandths, so that `failures / calls >= rate` is exact in integers
    // (`rate(0.6)` opens at 3 failures in 5 calls, as written, not at f32's 0.600000024).
    pub(crate) rate_permille: Option<u32>,
}

impl Breaker {
    /// A breaker that opens after `failures` failures (at least 1) within `window`, for
    /// `cooldown` (both positive).
    pub const fn new(failures: u32, window: Duration, cooldown: Duration) -> Self {
        Self {
            failures,
            window,
            cooldown,
            rate_permille: None,
        }
    }

    /// Opens only when the failures are also at least `rate` of the attempts made since the
    /// first of them within the window (`0.5`: half of them; within `(0.0, 1.0]`).
    pub const fn rate(self, rate: f32) -> Self {
        // NaN and anything past 1.0 are refused by `check`; a positive rate below a
        // thousandth is one.
        let permille = match rate > 0.0 && rate <= 1.0 {
            true => {
                let rounded = (rate * 1000.0 + 0.5) as u32;
                if rounded == 0 { 1 } else { rounded }
            }
            false => 0,
        };
        Self {
            rate_permille: Some(permille),
            ..self
        }
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.failures == 0 {
            return Err(PolicyError::new("breaker.failures", says::FAILURES));
        }
        if self.window.is_zero() {
            return Err(PolicyError::zero("breaker.window", "breaker window"));
        }
        if self.cooldown.is_zero() {
            return Err(PolicyError::zero("breaker.cooldown", "breaker cooldown"));
        }
        if self
            .rate_permille
            .is_some_and(|permille| !(1..=1000).contains(&permille))
        {
            return Err(PolicyError::new("breaker.rate", says::RATE));
        }
        Ok(())
    }
}

impl Breaker {
    /// `true` if `now` is within the window that a failure at `first` began.
    fn in_window(&self, first: Instant, now: Instant) -> bool {
        now.saturating_duration_since(first) < self.window
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
        // Attempts settled since the first failure counted in `failures`, that one included.
        calls: u32,
        // When the first failure counted in `failures` happened.
        since: Option<Instant>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        // The probe out, if one is: a permit is the probe only while this is its number, so
        // that a probe let through before a reset (or a reopening) is an ordinary attempt.
        probing: Option<u32>,
    },
}

impl Inner {
    /// Closed, with nothing counted.
    const CLOSED: Self = Self::Closed {
        failures: 0,
        calls: 0,
        since: None,
    };
}

/// No operator's hand on the breaker.
const FREE: u8 = 0;
/// Forced open: every attempt is refused.
const FORCED_OPEN: u8 = 1;
/// Forced closed: every attempt goes through, and none is counted.
const FORCED_CLOSED: u8 = 2;

/// A breaker's state, in its policy.
#[derive(Debug)]
pub(crate) struct BreakerCell {
    inner: Mutex<Inner>,
    // An operator's override, read without the lock on every attempt.
    forced: AtomicU8,
    // The number of the next probe.
    probes: AtomicU32,
}

impl BreakerCell {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::CLOSED),
            forced: AtomicU8::new(FREE),
            probes: AtomicU32::new(0),
        }
    }

    /// Where the breaker stands now (an open breaker whose cooldown has ended reads as
    /// half-open: the next call will probe).
    pub(crate) fn state(&self) -> BreakerState {
        match self.forced.load(Ordering::Acquire) {
            FORCED_OPEN => return BreakerState::ForcedOpen,
            FORCED_CLOSED => return BreakerState::ForcedClosed,
            _ => {}
        }
        self.inner_state(&self.lock())
    }

    fn inner_state(&self, inner: &Inner) -> BreakerState {
        match *inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The operator's override, if any: `Some(Err)` refuses, `Some(Ok)` lets through
    /// uncounted.
    pub(crate) fn forced(&self) -> Option<Result<(), Rejection>> {
        match self.forced.load(Ordering::Acquire) {
            FREE => None,
            FORCED_OPEN => Some(Err(Rejection::BreakerOpen)),
            _ => Some(Ok(())),
        }
    }

    /// Forces the breaker open or closed; the state beneath is kept for when it is freed.
    pub(crate) fn force(&self, open: bool) -> BreakerState {
        let to = match open {
            true => FORCED_OPEN,
            false => FORCED_CLOSED,
        };
        let from = self.state();
        self.forced.store(to, Ordering::Release);
        from
    }

    /// Closed, nothing counted, no override.
    pub(crate) fn reset(&self) -> BreakerState {
        let from = self.state();
        self.clear();
        self.forced.store(FREE, Ordering::Release);
        from
    }

    /// Closed, nothing counted; an operator's override stays.
    pub(crate) fn clear(&self) {
        *self.lock() = Inner::CLOSED;
    }

    /// Lets an attempt through, or refuses it. The permit records the attempt's outcome.
    pub(crate) fn admit<'a>(
        &self,
        policy: &'a Policy,
        config: &'a Breaker,
        task: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Permit<'a>, Rejection> {
        let mut inner = self.lock();
        let probe = match *inner {
            Inner::Closed { .. } => None,
            Inner::Open { until } if Instant::now() < until => return Err(Rejection::BreakerOpen),
            Inner::Open { .. } => {
                let number = self.probes.fetch_add(1, Ordering::Relaxed);
                *inner = Inner::HalfOpen {
                    probing: Some(number),
                };
                drop(inner);
                changed(policy, task, BreakerState::Open, BreakerState::HalfOpen);
                Some(number)
            }
            // Half-open already, its last probe released: the next one, with no event.
            Inner::HalfOpen { probing: None } => {
                let number = self.probes.fetch_add(1, Ordering::Relaxed);
                *inner = Inner::HalfOpen {
                    probing: Some(number),
                };
                Some(number)
            }
            Inner::HalfOpen { probing: Some(_) } => return Err(Rejection::BreakerOpen),
        };
        Ok(Permit {
            policy,
            config,
            task,
            probe,
            deadline,
            settled: false,
        })
    }

    /// `true` if a call made at `at` would be refused, as far as can be told now.
    pub(crate) fn refuses_at(&self, at: Instant) -> bool {
        match self.forced.load(Ordering::Acquire) {
            FORCED_OPEN => return true,
            FORCED_CLOSED => return false,
            _ => {}
        }
        match *self.lock() {
            Inner::Open { until } => at < until,
            Inner::HalfOpen { probing } => probing.is_some(),
            Inner::Closed { .. } => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; if something ever did, the state is still
        // a valid state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn changed(policy: &Policy, task: &'static str, from: BreakerState, to: BreakerState) {
    policy.emit(task, EventKind::BreakerChanged { from, to });
}

/// One attempt let through by the breaker.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    policy: &'a Policy,
    config: &'a Breaker,
    task: &'static str,
    // The probe's number, if the breaker let the attempt through as its probe.
    probe: Option<u32>,
    // When time runs out on the attempt: dropped at or after it, the attempt timed out.
    deadline: Option<Instant>,
    settled: bool,
}

impl Permit<'_> {
    /// `true` for the one attempt a half-open breaker lets through.
    #[cfg(all(test, runner_loom))]
    pub(crate) fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// `true` if `inner` is half-open with this permit's probe out.
    fn probing(&self, inner: &Inner) -> bool {
        matches!(*inner, Inner::HalfOpen { probing: Some(number) } if self.probe == Some(number))
    }

    fn cell(&self) -> &BreakerCell {
        &self.policy.breaker
    }

    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        // Without a rate, a success changes nothing but a probe's breaker: no lock.
        if self.probe.is_none() && self.config.rate_permille.is_none() {
            return;
        }
        let mut inner = self.cell().lock();
        let probing = self.probing(&inner);
        match &mut *inner {
            _ if probing => {
                *inner = Inner::CLOSED;
                drop(inner);
                changed(
                    self.policy,
                    self.task,
                    BreakerState::HalfOpen,
                    BreakerState::Closed,
                );
            }
            Inner::Closed {
                calls,
                since: Some(first),
                ..
            } if self.config.in_window(*first, Instant::now()) => {
                *calls += 1;
            }
            _ => {}
        }
    }

    pub(crate) fn failed(mut self) {
        self.settled = true;
        self.record_failure();
    }

    /// Neither a success nor a failure (an error the predicate does not count).
    pub(crate) fn ignored(mut self) {
        self.settled = true;
        self.release_probe();
    }

    fn record_failure(&self) {
        let now = Instant::now();
        let mut inner = self.cell().lock();
        let probing = self.probing(&inner);
        let opens = match &mut *inner {
            _ if probing => true,
            Inner::Closed {
                failures,
                calls,
                since,
            } => {
                match since {
                    Some(first) if self.config.in_window(*first, now) => {
                        *failures += 1;
                        *calls += 1;
                    }
                    _ => (*failures, *calls, *since) = (1, 1, Some(now)),
                }
                let permille = u64::from(self.config.rate_permille.unwrap_or(0));
                *failures >= self.config.failures
                    && u64::from(*failures) * 1000 >= permille * u64::from(*calls)
            }
            // An attempt let through before the breaker opened: already counted as open.
            Inner::Open { .. } | Inner::HalfOpen { .. } => false,
        };
        if opens {
            let from = match probing {
                true => BreakerState::HalfOpen,
                false => BreakerState::Closed,
            };
            // A cooldown too long to represent is "open for good", as with `sleep`.
            let until = now
                .checked_add(self.config.cooldown)
                .unwrap_or(now + Duration::from_secs(86_400 * 365 * 30));
            *inner = Inner::Open { until };
            drop(inner);
            changed(self.policy, self.task, from, BreakerState::Open);
        }
    }

    fn release_probe(&self) {
        if self.probe.is_some() {
            let mut inner = self.cell().lock();
            if self.probing(&inner) {
                *inner = Inner::HalfOpen { probing: None };
            }
        }
    }
}

impl Drop for Permit<'_> {
    /// An attempt dropped before it settled either ran out of time (a failure: a hanging
    /// dependency must open the breaker) or was no longer needed (neither).
    fn drop(&mut self) {
        if !self.settled {
            match self.deadline {
                Some(deadline) if Instant::now() >= deadline => self.record_failure(),
                _ => self.release_probe(),
            }
        }
    }
}
