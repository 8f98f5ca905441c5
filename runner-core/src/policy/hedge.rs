//! Hedged requests: when an attempt is slow, start another beside it; the first success wins.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::error::{PolicyError, says};
use crate::policy::event::EventKind;
use crate::policy::guarded::Guarded;
use crate::policy::{Failure, Policy, Round};
use crate::timer;

/// The most hedges a call may start.
const MAX_HEDGES: u32 = 8;

/// A hedge's settings: another attempt each `after` while none has finished, up to `max`
/// hedges (1 unless set); the first success wins and the others are dropped.
///
/// With a [`Retry`](crate::Retry) beside it, each hedge is charged to the retry's
/// [`Budget`](crate::Budget), as Finagle's backup requests are: when a dependency slows
/// down for everyone, hedges stop at the budget's share instead of doubling its load. A
/// hedge the budget refuses is an [`EventKind::HedgeRefused`](crate::EventKind::HedgeRefused),
/// and the round goes on with the attempts it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hedge {
    pub(crate) after: Duration,
    pub(crate) max: u32,
}

impl Hedge {
    /// One hedge, started `after` the first attempt if it has not finished.
    pub const fn new(after: Duration) -> Self {
        Self { after, max: 1 }
    }

    /// Up to `max` hedges (1 to 8), one each `after`.
    pub const fn max(self, max: u32) -> Self {
        Self { max, ..self }
    }

    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if self.after.is_zero() {
            return Err(PolicyError::zero("hedge.after", "hedge delay"));
        }
        if !(1..=MAX_HEDGES).contains(&self.max) {
            return Err(PolicyError::new("hedge.max", says::HEDGES));
        }
        Ok(())
    }
}

/// The attempts of one hedged round: the first in place, and the hedges in lanes made when
/// the first hedge starts.
///
/// A call's type cannot hold a number of attempts known only at run time, so the hedges'
/// lanes are one allocation, made once per round that hedges (one that is already slow) and
/// never for one that does not.
struct Lanes<G> {
    first: Option<G>,
    hedges: Option<Pin<Box<[Option<G>]>>>,
}

impl<G> Lanes<G> {
    /// Lane `i`: 0 is the first attempt, 1.. the hedges. `None` past the last lane made.
    fn lane(self: Pin<&mut Self>, i: usize) -> Option<Pin<&mut Option<G>>> {
        // SAFETY: the first lane is pinned structurally: `Lanes` is never moved out of its
        // pin, has no `Drop` of its own and no `Unpin` impl, and a lane's future is only ever
        // replaced in place through `Pin::set`, which drops it where it is. The hedges' lanes
        // are pinned by their box, which is never moved out of nor replaced while any holds a
        // future (it is made once, when all are empty).
        unsafe {
            let lanes = self.get_unchecked_mut();
            match i {
                0 => Some(Pin::new_unchecked(&mut lanes.first)),
                i => {
                    let hedges = lanes.hedges.as_mut()?.as_mut().get_unchecked_mut();
                    hedges.get_mut(i - 1).map(|lane| Pin::new_unchecked(lane))
                }
            }
        }
    }

    /// Makes the hedges' lanes, all empty, unless they are made.
    fn make_hedges(self: Pin<&mut Self>, count: usize) {
        // SAFETY: only the `hedges` field is touched, and only while it is `None`: no pinned
        // future moves.
        let lanes = unsafe { self.get_unchecked_mut() };
        if lanes.hedges.is_none() {
            lanes.hedges = Some(Box::into_pin((0..count).map(|_| None).collect()));
        }
    }
}

/// One round of attempts: hedged if the round has a hedge, else a single attempt.
pub(crate) async fn round<'p, A, F, T, E>(
    policy: &'p Policy,
    round: Round,
    attempt: &mut A,
) -> Result<T, Failure<E>>
where
    A: FnMut(bool, Option<Instant>) -> Guarded<'p, F, E>,
    F: Future<Output = Result<T, E>>,
{
    match round.hedge {
        Some(hedge) => hedged(policy, hedge, round, attempt).await,
        None => attempt(false, round.deadline).await,
    }
}

/// One hedged round: starts an attempt, and another each `after` while none has finished, up to
/// `max` hedges, and none once time has run out on the call. The first success wins and the
/// others are dropped at once, as losers; the round fails with the last error once every
/// attempt it started has failed (a refusal, by an open breaker, fails at once: a refused
/// first attempt ends the round without waiting, and a refused hedge leaves the round to the
/// attempts already made).
async fn hedged<'p, A, F, T, E>(
    policy: &'p Policy,
    hedge: Hedge,
    round: Round,
    mut attempt: A,
) -> Result<T, Failure<E>>
where
    A: FnMut(bool, Option<Instant>) -> Guarded<'p, F, E>,
    F: Future<Output = Result<T, E>>,
{
    let Round { task, deadline, .. } = round;
    let Hedge { after, max } = hedge;
    let mut lanes = pin!(Lanes::<Guarded<'p, F, E>> {
        first: Some(attempt(false, deadline)),
        hedges: None,
    });
    // Armed when the first attempt first waits, not before: an attempt that is ready at once
    // (a cache hit) needs no timer and no clock read. Nothing runs between its first poll
    // and the arming, so the hedge's time still counts from the attempt's start.
    let mut timer = pin!(None::<crate::timer::Timer>);
    let mut started = 1;
    let mut last_error = None;
    // Until the budget refuses a hedge: then the round goes on with the attempts it has.
    let mut hedging = true;
    poll_fn(|cx| {
        loop {
            let mut running = 0;
            for i in 0..started {
                let Some(mut lane) = lanes.as_mut().lane(i) else {
                    break;
                };
                let Some(future) = lane.as_mut().as_pin_mut() else {
                    continue;
                };
                match future.poll(cx) {
                    Poll::Ready(Ok(value)) => {
                        // The losers are dropped here, before the round returns.
                        for j in 0..started {
                            if let Some(mut loser) = lanes.as_mut().lane(j) {
                                if let Some(lost) = loser.as_mut().as_pin_mut() {
                                    lost.lose();
                                }
                                loser.set(None);
                            }
                        }
                        return Poll::Ready(Ok(value));
                    }
                    Poll::Ready(Err(error)) => {
                        lane.set(None);
                        // A refusal never hides the failure of an attempt that was made.
                        if last_error.is_none() || !matches!(error, Failure::Rejected(_)) {
                            last_error = Some(error);
                        }
                    }
                    Poll::Pending => running += 1,
                }
            }
            if running == 0 {
                return match last_error.take() {
                    Some(error) => Poll::Ready(Err(error)),
                    None => Poll::Pending,
                };
            }
            if timer.is_none() {
                timer.set(Some(crate::timer::timer_at(later(after))));
            }
            if hedging
                && started <= max as usize
                && timer
                    .as_mut()
                    .as_pin_mut()
                    .is_some_and(|timer| timer.poll(cx).is_ready())
                && deadline.is_none_or(|deadline| Instant::now() < deadline)
            {
                // Charged to the retry budget, if there is one: under failure, hedges must
                // not multiply the load any more than retries may.
                if !policy.hedge_withdraw() {
                    hedging = false;
                    let hedge = started as u32;
                    policy.emit(task, EventKind::HedgeRefused { hedge });
                    return Poll::Pending;
                }
                lanes.as_mut().make_hedges(max as usize);
                if let Some(mut lane) = lanes.as_mut().lane(started) {
                    policy.emit(
                        task,
                        EventKind::HedgeStarted {
                            hedge: started as u32,
                        },
                    );
                    lane.set(Some(attempt(true, deadline)));
                    started += 1;
                    timer.set(Some(crate::timer::timer_at(later(after))));
                    // Poll the new attempt (and arm the timer again) before sleeping.
                    continue;
                }
            }
            return Poll::Pending;
        }
    })
    .await
}

/// `after` from now; a delay too long to represent is "never", as with `sleep`.
fn later(after: Duration) -> Instant {
    timer::after(Instant::now(), after)
}
