//! Hedged requests: when an attempt is slow, start another beside it; the first success wins.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::guarded::Guarded;
use crate::policy::{Failure, Round, event};

/// The attempts of one hedged round: the first, and up to `H` hedges. Each lives in place
/// until it finishes or loses, so a round allocates nothing.
struct Lanes<G, const H: usize> {
    first: Option<G>,
    hedges: [Option<G>; H],
}

impl<G, const H: usize> Lanes<G, H> {
    fn new() -> Self {
        Self {
            first: None,
            hedges: [const { None }; H],
        }
    }

    /// Lane `i`: 0 is the first attempt, 1..=H the hedges. `None` past the last.
    fn lane(self: Pin<&mut Self>, i: usize) -> Option<Pin<&mut Option<G>>> {
        // SAFETY: the lanes are pinned structurally: `Lanes` is never moved out of its pin,
        // has no `Drop` of its own and no `Unpin` impl, and a lane's future is only ever
        // replaced in place through `Pin::set`, which drops it where it is.
        unsafe {
            let lanes = self.get_unchecked_mut();
            let lane = match i {
                0 => Some(&mut lanes.first),
                i => lanes.hedges.get_mut(i - 1),
            };
            lane.map(|lane| Pin::new_unchecked(lane))
        }
    }
}

/// One round of attempts: hedged if the round has a hedge delay, else a single attempt.
pub(crate) async fn round<A, F, T, E, const H: usize>(
    round: Round,
    attempt: &mut A,
) -> Result<T, Failure<E>>
where
    A: FnMut() -> Guarded<F, E>,
    F: Future<Output = Result<T, E>>,
{
    match round.hedge {
        Some(after) => hedged::<_, _, _, _, H>(after, round, attempt).await,
        None => attempt().await,
    }
}

/// One hedged round: starts an attempt, and another each `after` while none has finished, up to
/// `H` hedges, and none once time has run out on the call. The first success wins and the
/// others are dropped at once, as losers; the round fails with the last error once every
/// attempt it started has failed (a refusal, by an open breaker, fails at once: a refused
/// first attempt ends the round without waiting, and a refused hedge leaves the round to the
/// attempts already made).
async fn hedged<A, F, T, E, const H: usize>(
    after: Duration,
    round: Round,
    mut attempt: A,
) -> Result<T, Failure<E>>
where
    A: FnMut() -> Guarded<F, E>,
    F: Future<Output = Result<T, E>>,
{
    let Round { task, deadline, .. } = round;
    let mut lanes = pin!(Lanes::<Guarded<F, E>, H>::new());
    let mut timer = pin!(crate::timer::timer_at(later(after)));
    let mut started = 0;
    let mut last_error = None;
    if let Some(mut lane) = lanes.as_mut().lane(0) {
        lane.set(Some(attempt()));
        started = 1;
    }
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
            if started <= H
                && timer.as_mut().poll(cx).is_ready()
                && deadline.is_none_or(|deadline| Instant::now() < deadline)
                && let Some(mut lane) = lanes.as_mut().lane(started)
            {
                event::hedging(task, started);
                lane.set(Some(attempt()));
                started += 1;
                timer.set(crate::timer::timer_at(later(after)));
                // Poll the new attempt (and arm the timer again) before sleeping.
                continue;
            }
            return Poll::Pending;
        }
    })
    .await
}

/// `after` from now; a delay too long to represent is "never", as with `sleep`.
fn later(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}
