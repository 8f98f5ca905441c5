//! A breaker's state, in its policy: closed with a window of outcomes, open until a time, or
//! half-open with a trial out; and the permit that records one attempt's outcome in it.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Rejection;
use crate::policy::Policy;
use crate::policy::breaker::Breaker;
use crate::policy::breaker::BreakerWindow;
use crate::policy::breaker::window::{Counts, Outcome, Outcomes};
use crate::policy::breaker_state::BreakerState;
use crate::policy::event::{BreakerTrip, EventKind};
use crate::sync::{AtomicU8, Mutex, MutexGuard};
use crate::timer;

#[derive(Debug)]
struct State {
    phase: Phase,
    // Where a time-based window's buckets are counted from: the policy's start, so that
    // where they fall does not hang on which outcomes were recorded.
    epoch: Instant,
    // Judged while closed; emptied when the breaker opens, so that it closes on a fresh one.
    outcomes: Outcomes,
    // Openings since the breaker last closed: how far the cooldown has grown.
    openings: u32,
    // The number of the next half-open trial.
    next_trial: u32,
}

impl State {
    /// A new half-open trial, with its first call out; its number.
    fn begin_trial(&mut self) -> u32 {
        let trial = self.next_trial;
        self.next_trial = trial.wrapping_add(1);
        self.phase = Phase::HalfOpen {
            trial,
            out: 1,
            finished: Counts::default(),
            succeeded: 0,
        };
        trial
    }
}

#[derive(Debug, Default)]
enum Phase {
    #[default]
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        // A permit is in this trial only while this is its number, so that one let through
        // before a reset (or a reopening) is an ordinary attempt.
        trial: u32,
        // Trial calls let through and not finished yet.
        out: u32,
        // The trial calls finished, and those of them that succeeded (and were not slow).
        finished: Counts,
        succeeded: u32,
    },
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
    state: Mutex<State>,
    // An operator's override, read without the lock on every attempt.
    forced: AtomicU8,
}

impl BreakerCell {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                phase: Phase::Closed,
                epoch: Instant::now(),
                outcomes: Outcomes::default(),
                openings: 0,
                next_trial: 0,
            }),
            forced: AtomicU8::new(FREE),
        }
    }

    /// Where the breaker stands now (an open breaker whose cooldown has ended reads as
    /// half-open: the next call will be in its trial).
    pub(crate) fn state(&self) -> BreakerState {
        match self.forced.load(Ordering::Acquire) {
            FORCED_OPEN => return BreakerState::ForcedOpen,
            FORCED_CLOSED => return BreakerState::ForcedClosed,
            _ => {}
        }
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
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

    /// Closed, nothing counted, the cooldown back to its first length; an operator's
    /// override stays.
    pub(crate) fn clear(&self) {
        let mut state = self.lock();
        state.phase = Phase::Closed;
        state.outcomes.clear();
        state.openings = 0;
    }

    /// Lets an attempt through, or refuses it. The permit records the attempt's outcome.
    pub(crate) fn admit<'a>(
        &self,
        policy: &'a Policy,
        config: &'a Breaker,
        task: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Permit<'a>, Rejection> {
        // The clock is read only where it is needed: a closed breaker without slow calls
        // lets an attempt through on the lock alone.
        let mut now = None;
        let mut now = || *now.get_or_insert_with(Instant::now);
        let mut state = self.lock();
        let trial = match &mut state.phase {
            Phase::Closed => None,
            Phase::Open { until } if now() < *until => return Err(Rejection::BreakerOpen),
            Phase::Open { .. } => {
                let trial = state.begin_trial();
                drop(state);
                changed(policy, task, BreakerState::Open, BreakerState::HalfOpen);
                Some(trial)
            }
            Phase::HalfOpen {
                trial,
                out,
                finished,
                ..
            } if *out + finished.calls < config.half_open.calls => {
                *out += 1;
                Some(*trial)
            }
            // A trial that nothing can decide any more: none of its calls is out, and an
            // update made it shorter than the calls it has seen (they were judged by the
            // longer one). It starts again, under the settings now.
            Phase::HalfOpen { out: 0, .. } => Some(state.begin_trial()),
            Phase::HalfOpen { .. } => return Err(Rejection::BreakerOpen),
        };
        Ok(Permit {
            policy,
            config,
            task,
            trial,
            started: config.slow.map(|_| now()),
            deadline,
            settled: false,
        })
    }

    /// `true` if a call made at `at` would be refused, as far as can be told now.
    pub(crate) fn refuses_at(&self, config: &Breaker, at: Instant) -> bool {
        match self.forced.load(Ordering::Acquire) {
            FORCED_OPEN => return true,
            FORCED_CLOSED => return false,
            _ => {}
        }
        match self.lock().phase {
            Phase::Open { until } => at < until,
            Phase::HalfOpen { out, finished, .. } => out + finished.calls >= config.half_open.calls,
            Phase::Closed => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the state is still
        // a valid state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn changed(policy: &Policy, task: &'static str, from: BreakerState, to: BreakerState) {
    policy.emit(task, EventKind::BreakerChanged { from, to });
}

/// Why the breaker opens, with the counts that opened it, for the events sent once the lock
/// is released.
struct Opening {
    from: BreakerState,
    cause: BreakerTrip,
    counts: Counts,
    cooldown: Duration,
}

/// One attempt let through by the breaker.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    policy: &'a Policy,
    config: &'a Breaker,
    task: &'static str,
    // The half-open trial the attempt is in, if it is in one.
    trial: Option<u32>,
    // When the attempt started, if slow calls are judged.
    started: Option<Instant>,
    // When time runs out on the attempt: dropped at or after it, the attempt timed out.
    deadline: Option<Instant>,
    settled: bool,
}

impl Permit<'_> {
    /// `true` for an attempt a half-open breaker lets through in its trial.
    #[cfg(all(test, runner_loom))]
    pub(crate) fn is_probe(&self) -> bool {
        self.trial.is_some()
    }

    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        // A success that changes nothing outside a trial takes no lock.
        if self.trial.is_some() || self.config.counts_successes() {
            self.record(false, None);
        }
    }

    /// A failure; `cooldown` is the error's own length of the break, if it gives one and
    /// this failure opens the breaker.
    pub(crate) fn failed(mut self, cooldown: Option<Duration>) {
        self.settled = true;
        self.record(true, cooldown);
    }

    /// Neither a success nor a failure (an error the predicate does not count).
    pub(crate) fn ignored(mut self) {
        self.settled = true;
        self.release();
    }

    /// Records a success or a failure, slow or not, in the window or the trial, and opens or
    /// closes the breaker if that decides it.
    fn record(&self, failed: bool, from_error: Option<Duration>) {
        let config = self.config;
        let mut state = self.cell().lock();
        // Read under the lock, so that outcomes reach a time window's buckets in order.
        let now = Instant::now();
        let slow = match (config.slow, self.started) {
            (Some(slow), Some(started)) => now.saturating_duration_since(started) > slow.after,
            _ => false,
        };
        let outcome = Outcome { failed, slow };
        // An attempt made under the settings before an update that changed the window says
        // nothing of the new window, which it would otherwise empty again.
        let closed = matches!(state.phase, Phase::Closed);
        if closed && !state.outcomes.keeps(config.window) && !self.is_current() {
            return;
        }
        let opening = match &mut state.phase {
            Phase::HalfOpen {
                trial,
                out,
                finished,
                succeeded,
            } if self.trial == Some(*trial) => {
                *out = out.saturating_sub(1);
                finished.add(outcome);
                *succeeded += u32::from(!failed && !slow);
                if finished.calls < config.half_open.calls {
                    return;
                }
                let needed = u64::from(config.half_open.rate_permille) * u64::from(finished.calls);
                if u64::from(*succeeded) * 1000 >= needed {
                    state.phase = Phase::Closed;
                    state.outcomes.clear();
                    state.openings = 0;
                    drop(state);
                    return changed(
                        self.policy,
                        self.task,
                        BreakerState::HalfOpen,
                        BreakerState::Closed,
                    );
                }
                let counts = *finished;
                open(
                    &mut state,
                    config,
                    now,
                    from_error,
                    BreakerState::HalfOpen,
                    BreakerTrip::FailedTrial,
                    counts,
                )
            }
            Phase::Closed => {
                let epoch = state.epoch;
                let counts = state.outcomes.record(config.window, epoch, now, outcome);
                match trips(config, counts) {
                    Some(cause) => open(
                        &mut state,
                        config,
                        now,
                        from_error,
                        BreakerState::Closed,
                        cause,
                        counts,
                    ),
                    None => return,
                }
            }
            // An attempt let through before the breaker opened, or in an earlier trial:
            // the breaker was judged without it.
            Phase::Open { .. } | Phase::HalfOpen { .. } => return,
        };
        drop(state);
        self.policy.emit(
            self.task,
            EventKind::BreakerOpened {
                cause: opening.cause,
                calls: opening.counts.calls,
                failures: opening.counts.failures,
                slow: opening.counts.slow,
                cooldown: opening.cooldown,
            },
        );
        changed(self.policy, self.task, opening.from, BreakerState::Open);
    }

    /// A trial call that did not finish frees its place for another.
    fn release(&self) {
        if self.trial.is_some() {
            let mut state = self.cell().lock();
            if let Phase::HalfOpen { trial, out, .. } = &mut state.phase
                && self.trial == Some(*trial)
            {
                *out = out.saturating_sub(1);
            }
        }
    }

    /// `true` if the policy's breaker is still the one the attempt was let through by, as far
    /// as its window goes.
    fn is_current(&self) -> bool {
        let live = self.policy.settings().breaker;
        live.is_some_and(|live| live.window == self.config.window)
    }

    fn cell(&self) -> &BreakerCell {
        &self.policy.breaker
    }
}

/// Why the window `counts`, judged by `config`, opens the breaker, if it does.
fn trips(config: &Breaker, counts: Counts) -> Option<BreakerTrip> {
    let minimum = match config.window {
        // A window of fewer calls than the minimum is judged once it is full.
        BreakerWindow::Calls(calls) => config.minimum_calls.min(calls),
        BreakerWindow::Time(_) => config.minimum_calls,
    };
    if counts.calls < minimum {
        return None;
    }
    let reached = |count: u32, permille: u32| {
        u64::from(count) * 1000 >= u64::from(permille) * u64::from(counts.calls)
    };
    let judged = config.failures.is_some() || config.failure_rate.is_some();
    let failures = judged
        && config
            .failures
            .is_none_or(|failures| counts.failures >= failures)
        && config
            .failure_rate
            .is_none_or(|rate| reached(counts.failures, rate));
    if failures {
        return Some(BreakerTrip::Failures);
    }
    config
        .slow
        .is_some_and(|slow| reached(counts.slow, slow.rate_permille))
        .then_some(BreakerTrip::SlowCalls)
}

/// Opens the breaker in `state` for the cooldown its openings in a row (or the error) give.
fn open(
    state: &mut State,
    config: &Breaker,
    now: Instant,
    from_error: Option<Duration>,
    from: BreakerState,
    cause: BreakerTrip,
    counts: Counts,
) -> Opening {
    let cooldown = config.cooldown(state.openings, from_error);
    state.openings = state.openings.saturating_add(1);
    state.phase = Phase::Open {
        until: timer::after(now, cooldown),
    };
    state.outcomes.clear();
    Opening {
        from,
        cause,
        counts,
        cooldown,
    }
}

impl Drop for Permit<'_> {
    /// An attempt dropped before it settled either ran out of time (a failure: a hanging
    /// dependency must open the breaker) or was no longer needed (neither).
    fn drop(&mut self) {
        if !self.settled {
            match self.deadline {
                Some(deadline) if Instant::now() >= deadline => self.record(true, None),
                _ => self.release(),
            }
        }
    }
}
