//! The rate limit: at most `max` calls per `per` through a policy, with a burst: the GCRA
//! (generic cell rate algorithm) with reservations, on tokio's clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::Either;
use tokio::time::Instant;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::error::{PolicyError, says};
use crate::policy::event::EventKind;
use crate::sync::AtomicU64;

/// A rate limit's settings: at most `max` calls start per `per`, evenly spaced (one each
/// `per / max`), with up to `burst` at once after a quiet spell (`max` unless set).
///
/// A call that finds no room waits for its turn, within its timeout and the deadline: one
/// whose turn comes after them is refused at once with [`Rejection::RateLimited`], rather
/// than waiting in vain. With [`reject_when_empty`](Self::reject_when_empty), every such call
/// is refused at once.
///
/// The limit counts calls, as Envoy's local rate limit counts requests: a call's retries and
/// hedges are bounded by the retry budget, a share of the calls.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Policy, RateLimit};
///
/// // 100 calls a second, one each 10 ms, and 20 at once after a quiet spell.
/// let policy = Policy::builder()
///     .rate_limit(RateLimit::new(100, Duration::from_secs(1)).burst(20))
///     .build()
///     .unwrap();
/// assert_eq!(policy.settings().rate_limit.unwrap().burst_size(), 20);
///
/// let error = Policy::builder().rate_limit(RateLimit::per_second(0)).build().unwrap_err();
/// assert_eq!(error.field(), "rate_limit.max");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub(crate) max: u32,
    pub(crate) per: Duration,
    pub(crate) burst: Option<u32>,
    pub(crate) reject: bool,
}

impl RateLimit {
    /// At most `max` calls per `per` (up to an hour), one each `per / max`; excess calls
    /// wait for their turn.
    pub const fn new(max: u32, per: Duration) -> Self {
        Self {
            max,
            per,
            burst: None,
            reject: false,
        }
    }

    /// At most `max` calls a second.
    pub const fn per_second(max: u32) -> Self {
        Self::new(max, Duration::from_secs(1))
    }

    /// Up to `burst` calls at once after a quiet spell (1 to 1,000,000; `max`, at most
    /// 1,000,000, unless set): the bucket's size, refilled at the rate.
    pub const fn burst(self, burst: u32) -> Self {
        Self {
            burst: Some(burst),
            ..self
        }
    }

    /// Excess calls are refused at once with [`Rejection::RateLimited`] instead of waiting.
    pub const fn reject_when_empty(self) -> Self {
        Self {
            reject: true,
            ..self
        }
    }

    /// The most calls let through at once.
    pub const fn burst_size(&self) -> u32 {
        match self.burst {
            Some(burst) => burst,
            None if self.max > MAX_BURST => MAX_BURST,
            None => self.max,
        }
    }

    /// The time between two calls at the rate: `per / max`.
    pub fn interval(&self) -> Duration {
        self.per / self.max.max(1)
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.max == 0 {
            return Err(PolicyError::new("rate_limit.max", says::RATE_MAX));
        }
        if self.per.is_zero() || self.per > MAX_PER {
            return Err(PolicyError::new("rate_limit.per", says::RATE_PER));
        }
        if self.per.as_nanos() < u128::from(self.max) {
            return Err(PolicyError::new("rate_limit.max", says::RATE_TOO_FAST));
        }
        if !(1..=MAX_BURST).contains(&self.burst_size()) {
            return Err(PolicyError::new("rate_limit.burst", says::RATE_BURST));
        }
        Ok(())
    }

    /// `true` if `other` lets calls through at the same pace: a reload between the two
    /// keeps the limiter's state.
    pub(crate) fn same_pace(&self, other: &Self) -> bool {
        (self.interval(), self.burst_size()) == (other.interval(), other.burst_size())
    }

    /// The limiter, empty of calls (its whole burst free). The settings are checked.
    pub(crate) fn limiter(&self) -> Limiter {
        let interval = nanos(self.interval()).max(1);
        Limiter {
            epoch: Instant::now(),
            interval,
            tolerance: interval.saturating_mul(u64::from(self.burst_size().max(1) - 1)),
            next: AtomicU64::new(0),
        }
    }
}

/// `[rate_limit]` of a `PolicyConfig`, and the keys of `#[task(rate_limit(...))]`: see
/// [`RateLimit`].
///
/// ```
/// use std::time::Duration;
/// use runner_core::{RateLimit, RateLimitConfig};
///
/// // `[rate_limit]` with `max = 100`, `burst = 20`:
/// let keys = RateLimitConfig { max: 100, per: None, burst: Some(20), reject: false };
/// assert_eq!(keys.rate_limit().unwrap(), RateLimit::per_second(100).burst(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RateLimitConfig {
    /// The most calls per `per`.
    pub max: u32,
    /// The time `max` calls are spread over (1 s if unset).
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub per: Option<Duration>,
    /// The most calls at once after a quiet spell (`max` if unset).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub burst: Option<u32>,
    /// Refuse excess calls at once rather than let them wait for their turn.
    #[cfg_attr(feature = "serde", serde(default))]
    pub reject: bool,
}

impl RateLimitConfig {
    /// The rate limit these keys give, checked.
    pub fn rate_limit(&self) -> Result<RateLimit, PolicyError> {
        let mut limit = RateLimit::new(self.max, self.per.unwrap_or(Duration::from_secs(1)));
        if let Some(burst) = self.burst {
            limit = limit.burst(burst);
        }
        if self.reject {
            limit = limit.reject_when_empty();
        }
        limit.check()?;
        Ok(limit)
    }
}

/// The longest `per`: so that the burst's tolerance (`per / max × burst`, about 114 years at
/// most) stays well within the nanoseconds a `u64` counts. (Turns reserved without a
/// deadline move the schedule on by an interval each, and saturate at 584 years.)
const MAX_PER: Duration = Duration::from_secs(3_600);
/// The largest burst.
pub(crate) const MAX_BURST: u32 = 1_000_000;

/// A policy's rate limiter: the GCRA, with reservations as resilience4j's rate limiter
/// makes them. A call that finds no turn free reserves the next one, so that it learns at
/// once whether that turn comes by its deadline (and is refused at once if not), each call
/// waiting wakes for a turn of its own, and the calls waiting go in the order they came.
///
/// Written here rather than taken from governor, whose GCRA only takes a turn that is free
/// now: without a reservation, every call waiting wakes at each turn and all but one sleep
/// again, and a call cannot tell before waiting whether its turn will come in time.
///
/// One word of state, updated by compare-and-swap: a call takes no lock and allocates
/// nothing.
pub(crate) struct Limiter {
    epoch: Instant,
    // Nanoseconds between two turns at the rate, at least 1.
    interval: u64,
    // How far ahead of the schedule calls may run: the burst after the first, in
    // nanoseconds.
    tolerance: u64,
    // The theoretical arrival time of the next call (the GCRA's TAT), in nanoseconds since
    // `epoch`: when it would go if calls came exactly at the rate.
    next: AtomicU64,
}

impl Limiter {
    /// Takes the next turn, if it comes before `deadline` (any time for `None`): `Ok(None)`
    /// if one is free now, else the turn reserved; `Err(())` if it comes too late, with
    /// nothing reserved.
    pub(super) fn reserve(
        self: &Arc<Self>,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<Option<Reservation>, ()> {
        let since = nanos(now.saturating_duration_since(self.epoch));
        let most = deadline.map(|deadline| nanos(deadline.saturating_duration_since(now)));
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let wait = next.saturating_sub(self.tolerance).saturating_sub(since);
            // A turn at the deadline itself would start a call only to end it.
            if wait > 0 && most.is_some_and(|most| wait >= most) {
                return Err(());
            }
            let after = next.max(since).saturating_add(self.interval);
            match self
                .next
                .compare_exchange_weak(next, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) if wait == 0 => return Ok(None),
                Ok(_) => {
                    return Ok(Some(Reservation {
                        limiter: Arc::clone(self),
                        at: crate::timer::after(now, Duration::from_nanos(wait)),
                        next: Some(after),
                    }));
                }
                Err(moved) => next = moved,
            }
        }
    }

    /// Gives back the turn that left the schedule at `next`, if no call reserved one after
    /// it; otherwise it stays taken, as in resilience4j.
    fn give_back(&self, next: u64) {
        let _ = self.next.compare_exchange(
            next,
            next - self.interval,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("interval", &Duration::from_nanos(self.interval))
            .field("tolerance", &Duration::from_nanos(self.tolerance))
            .finish_non_exhaustive()
    }
}

/// A turn reserved on `limiter`, at `at`: given back if the call stops waiting for it (it
/// is dropped, or the limiter is replaced) unless [`used`](Self::used).
pub(super) struct Reservation {
    limiter: Arc<Limiter>,
    pub(super) at: Instant,
    // The schedule this turn left; `None` once the turn is used.
    next: Option<u64>,
}

impl Reservation {
    /// The turn is taken for good: nothing to give back (the limiter's reference is still
    /// dropped).
    pub(super) fn used(mut self) {
        self.next = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(next) = self.next {
            self.limiter.give_back(next);
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Policy {
    /// Waits for the call's turn under the rate limit, if the policy has one, by `deadline`:
    /// refused at once if it rejects excess calls, or if its turn comes after the deadline.
    ///
    /// A reload (or a reset) wakes the calls waiting, to read the limit again: one that
    /// keeps the pace keeps their turns; a new pace gives them turns under it (its burst
    /// free), and a limit removed lets them through.
    pub(super) async fn throttle(
        &self,
        task: &'static str,
        deadline: Option<Instant>,
    ) -> Result<(), Rejection> {
        let Some(mut reservation) = self.reserve(task, deadline)? else {
            return Ok(());
        };
        // A breaker that will refuse the call when its turn comes refuses it now: an open
        // breaker fails a call at once, rate limit or not.
        if self.breaker_refuses_at(reservation.at) {
            drop(reservation);
            let reason = Rejection::BreakerOpen;
            self.emit(task, EventKind::Rejected { reason });
            return Err(reason);
        }
        let wait = reservation.at.saturating_duration_since(Instant::now());
        self.emit(task, EventKind::Throttled { wait });
        loop {
            let reloaded = self.reloaded.notified();
            let mut reloaded = std::pin::pin!(reloaded);
            // Registered before the limiter is read again, so that a reload after the read
            // wakes it.
            reloaded.as_mut().enable();
            let kept = {
                let live = self.live.load();
                live.rate
                    .as_ref()
                    .is_some_and(|now| Arc::ptr_eq(now, &reservation.limiter))
            };
            if !kept {
                match self.reserve(task, deadline)? {
                    Some(anew) => reservation = anew,
                    None => return Ok(()),
                }
            }
            let timer = std::pin::pin!(crate::timer::timer_at(reservation.at));
            match futures::future::select(timer, reloaded).await {
                Either::Left(_) => {
                    reservation.used();
                    return Ok(());
                }
                Either::Right(_) => self.reloaded.woken(),
            }
        }
    }

    /// Takes the call's turn if one is free now (`None`), else reserves the next if it
    /// comes by `deadline` and the limit lets calls wait; else refuses the call.
    fn reserve(
        &self,
        task: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Option<Reservation>, Rejection> {
        let live = self.live.load();
        let (Some(limiter), Some(limit)) = (&live.rate, live.settings.rate_limit) else {
            return Ok(None);
        };
        // With `reject`, only a turn free now will do.
        let now = Instant::now();
        let deadline = if limit.reject { Some(now) } else { deadline };
        limiter.reserve(now, deadline).map_err(|()| {
            let reason = Rejection::RateLimited;
            self.emit(task, EventKind::Rejected { reason });
            reason
        })
    }
}

#[cfg(all(test, not(runner_loom)))]
mod tests {
    use super::*;

    /// Calls racing on every core for one instant's turns each get a turn of their own:
    /// the burst at once, then one per interval, none twice, whatever the interleaving.
    #[test]
    fn racing_calls_get_distinct_turns() {
        let limiter = Arc::new(RateLimit::per_second(1_000).burst(4).limiter());
        let now = limiter.epoch;
        let waits = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let limiter = &limiter;
                    scope.spawn(move || {
                        (0..100)
                            .map(|_| match limiter.reserve(now, None) {
                                Ok(None) => Duration::ZERO,
                                Ok(Some(turn)) => {
                                    let wait = turn.at - now;
                                    turn.used();
                                    wait
                                }
                                Err(()) => unreachable!("no deadline"),
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut waits: Vec<Duration> = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            waits.sort();
            waits
        });
        let expected: Vec<Duration> = (0..800u64)
            .map(|n| Duration::from_millis(n.saturating_sub(3)))
            .collect();
        assert_eq!(waits, expected);
    }

    /// A turn used drops its reference to the limiter, as one given back does: a limiter
    /// replaced by a reload is freed.
    #[test]
    fn a_turn_used_keeps_no_reference_to_the_limiter() {
        let limiter = Arc::new(RateLimit::per_second(10).burst(1).limiter());
        let now = limiter.epoch;
        assert!(limiter.reserve(now, None).unwrap().is_none());
        let turn = limiter.reserve(now, None).unwrap().unwrap();
        assert_eq!(Arc::strong_count(&limiter), 2);
        turn.used();
        assert_eq!(Arc::strong_count(&limiter), 1);
    }

    #[test]
    fn a_turn_given_back_is_taken_again_only_if_it_was_the_last() {
        let limiter = Arc::new(RateLimit::per_second(10).burst(1).limiter());
        let now = limiter.epoch;
        let ms = Duration::from_millis;
        let at = |turn: Result<Option<Reservation>, ()>| turn.unwrap().map(|turn| turn.at - now);
        assert_eq!(at(limiter.reserve(now, None)), None);
        let second = limiter.reserve(now, None).unwrap().unwrap();
        assert_eq!(second.at - now, ms(100));
        drop(second);
        let again = limiter.reserve(now, None).unwrap().unwrap();
        assert_eq!(again.at - now, ms(100), "the last turn, given back");
        let third = limiter.reserve(now, None).unwrap().unwrap();
        drop(again);
        assert_eq!(third.at - now, ms(200));
        let fourth = limiter.reserve(now, None).unwrap().unwrap();
        assert_eq!(
            fourth.at - now,
            ms(300),
            "a turn before the last one stays taken"
        );
        assert!(
            limiter.reserve(now, Some(now + ms(400))).is_err(),
            "a turn at the deadline or after is not reserved"
        );
        assert_eq!(at(limiter.reserve(now, Some(now + ms(401)))), Some(ms(400)));
        third.used();
        fourth.used();
    }
}
