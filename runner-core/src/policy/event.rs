//! What the policies do, as typed events: given to the policy's [`Observer`] (or the
//! process's, see [`set_observer`](crate::set_observer)), and written as `tracing` events under the target
//! `runner_core::policy`, each with the fields `task` and `policy` (what happened).
//!
//! With no observer and no subscriber listening, an event is two loads and a branch: it is
//! built only for a listener, and nothing is formatted or allocated.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Rejection;
use crate::label::Label;
use crate::observe::{self, Observer};
use crate::policy::breaker_state::BreakerState;

/// One thing a policy did, for one call of a task.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PolicyEvent<'a> {
    /// The task's name; empty for an operator's reset or force of the breaker.
    pub task: &'static str,
    /// The call's label, if it has one (see [`Task::label`](crate::Task::label)).
    pub label: Option<Label>,
    /// The policy's name (see [`PolicyBuilder::name`](crate::PolicyBuilder::name)); empty if
    /// it has none.
    pub policy: &'a str,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, in a [`PolicyEvent`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// Attempt `attempt` of the call (1 is the first; retries and hedges count on) started.
    AttemptStarted {
        /// Which attempt of the call.
        attempt: u32,
        /// `true` for a hedge.
        hedge: bool,
    },
    /// An attempt finished.
    AttemptFinished {
        /// Which attempt of the call.
        attempt: u32,
        /// How it went.
        outcome: AttemptOutcome,
        /// From its start to its end.
        latency: Duration,
    },
    /// A retry will start after `delay`.
    RetryScheduled {
        /// The attempt the retry will be.
        attempt: u32,
        /// The backoff before it, jitter included.
        delay: Duration,
    },
    /// A failed call could have been retried, but was not.
    RetryRefused {
        /// Why not.
        reason: RetryRefusal,
    },
    /// A hedge started because the attempts before it were slow.
    HedgeStarted {
        /// 1 for the first hedge.
        hedge: u32,
    },
    /// A hedge would have started, but the retry budget is spent: the round goes on with
    /// the attempts it has.
    HedgeRefused {
        /// The hedge it would have been (1 for the first).
        hedge: u32,
    },
    /// The breaker moved.
    BreakerChanged {
        /// Where it stood.
        from: BreakerState,
        /// Where it stands.
        to: BreakerState,
    },
    /// The breaker opened on its own (an operator's force is a
    /// [`BreakerChanged`](Self::BreakerChanged) alone), with what opened it; a
    /// `BreakerChanged` to [`Open`](BreakerState::Open) follows.
    BreakerOpened {
        /// What reached its threshold.
        cause: BreakerTrip,
        /// The calls judged: the window's, or the half-open trial's. The first form without
        /// a rate records failures alone (a success cannot open it), so there it is
        /// `failures`.
        calls: u32,
        /// Those of them that failed.
        failures: u32,
        /// Those of them that were slow (with a slow-call threshold).
        slow: u32,
        /// How long it stays open.
        cooldown: Duration,
    },
    /// The rate limit had no turn free: the call waits for its turn, within its timeout and
    /// the deadline (it may wait again, if another call takes that turn first).
    Throttled {
        /// How long until its turn.
        wait: Duration,
    },
    /// An adaptive limit learned a new limit from the call that just ended.
    LimitChanged {
        /// The limit before.
        from: usize,
        /// The limit now.
        to: usize,
    },
    /// The call waits on the flight of an earlier call with the same key, for its result
    /// (see [`Coalesce`](crate::policy::Coalesce)).
    Coalesced {
        /// The calls waiting on that flight now, this one included.
        waiting: u32,
    },
    /// The call that ran a coalesced flight left before its work ended (its timeout, its
    /// deadline, or its caller's drop): this waiting call runs its own work now, for the
    /// others still waiting.
    CoalesceTakenOver,
    /// The coalescing group was full (as many keys in flight as its capacity): the call,
    /// with a new key, runs on its own, uncoalesced.
    CoalesceFull,
    /// A call or an attempt was refused before it ran.
    Rejected {
        /// Why.
        reason: Rejection,
    },
    /// The fallback gave the task's value.
    FallbackUsed {
        /// Why the task failed: [`TaskError::kind`](crate::TaskError::kind).
        error: &'static str,
    },
}

/// How an attempt went, in [`EventKind::AttemptFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It returned `Ok`.
    Succeeded,
    /// It returned an error the breaker counts.
    Failed,
    /// It returned an error the breaker does not count (see
    /// [`Options::breaker_if`](crate::Options::breaker_if)).
    Ignored,
    /// Time ran out on it.
    TimedOut,
    /// It was dropped unfinished: a hedge that lost, or a call no longer needed.
    Dropped,
}

impl AttemptOutcome {
    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::TimedOut => "timed_out",
            Self::Dropped => "dropped",
        }
    }
}

/// What opened a breaker, in [`EventKind::BreakerOpened`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerTrip {
    /// The window's failures reached the failure rate (and the count, if one is given).
    Failures,
    /// The window's slow calls reached the slow-call rate.
    SlowCalls,
    /// Too few of the half-open trial's calls succeeded.
    FailedTrial,
}

impl BreakerTrip {
    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failures => "failures",
            Self::SlowCalls => "slow_calls",
            Self::FailedTrial => "failed_trial",
        }
    }
}

/// Why a retry was not made, in [`EventKind::RetryRefused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryRefusal {
    /// The time left before the deadline cannot fit the backoff and another attempt.
    Deadline,
    /// The breaker would refuse it.
    Breaker,
    /// The retry budget is spent.
    Budget,
    /// The delay the error asks for is longer than the retry's `max_backoff`: retrying
    /// sooner would go against it, and waiting that long holds the call.
    Delay,
}

impl RetryRefusal {
    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::Breaker => "breaker",
            Self::Budget => "budget",
            Self::Delay => "delay",
        }
    }
}

/// Where a policy's events go: its own observer, else the process's.
#[inline]
pub(crate) fn observer(own: Option<&Arc<dyn Observer>>) -> Option<&dyn Observer> {
    match own {
        Some(observer) => Some(&**observer),
        None => observe::global(),
    }
}

/// `true` if a `tracing` subscriber may take a policy event (the most verbose is `DEBUG`):
/// one load of `tracing`'s global level, so that an event nobody listens to is not built.
#[inline]
pub(crate) fn traced() -> bool {
    tracing::level_enabled!(tracing::Level::WARN)
}

/// Gives `event` to `observer`, and to `tracing`.
pub(crate) fn emit(observer: Option<&dyn Observer>, event: PolicyEvent<'_>) {
    if let Some(observer) = observer {
        observer.on_policy(&event);
    }
    trace(&event);
}

/// The `tracing` event for `event`: the ones the policies have always written.
fn trace(event: &PolicyEvent<'_>) {
    let PolicyEvent {
        task, policy, kind, ..
    } = *event;
    const TARGET: &str = "runner_core::policy";
    match kind {
        EventKind::RetryScheduled { attempt, delay } => tracing::debug!(
            target: TARGET,
            task,
            policy = "retry",
            name = policy,
            attempt,
            delay_ms = delay.as_secs_f64() * 1e3,
            "retrying",
        ),
        EventKind::RetryRefused { reason } => tracing::debug!(
            target: TARGET,
            task,
            policy = "retry_refused",
            name = policy,
            why = reason.as_str(),
            "not retrying",
        ),
        EventKind::HedgeStarted { hedge } => {
            tracing::debug!(target: TARGET, task, policy = "hedge", name = policy, hedge, "hedging")
        }
        EventKind::HedgeRefused { hedge } => tracing::debug!(
            target: TARGET,
            task,
            policy = "hedge_refused",
            name = policy,
            hedge,
            why = "budget",
            "not hedging",
        ),
        EventKind::BreakerOpened {
            cause,
            calls,
            failures,
            slow,
            cooldown,
        } => tracing::warn!(
            target: TARGET,
            task,
            policy = "breaker",
            name = policy,
            state = "open",
            cause = cause.as_str(),
            calls,
            failures,
            slow,
            cooldown_ms = cooldown.as_secs_f64() * 1e3,
            "circuit breaker opened",
        ),
        EventKind::BreakerChanged {
            to: to @ BreakerState::ForcedOpen,
            ..
        } => tracing::warn!(
            target: TARGET,
            task,
            policy = "breaker",
            name = policy,
            state = to.as_str(),
            "circuit breaker opened",
        ),
        // `BreakerOpened`, just before, wrote it with what opened it.
        EventKind::BreakerChanged {
            to: BreakerState::Open,
            ..
        } => {}
        EventKind::BreakerChanged { to, .. } => tracing::info!(
            target: TARGET,
            task,
            policy = "breaker",
            name = policy,
            state = to.as_str(),
            "circuit breaker state changed",
        ),
        EventKind::LimitChanged { from, to } => tracing::debug!(
            target: TARGET,
            task,
            policy = "limit",
            name = policy,
            from,
            to,
            "adaptive limit changed",
        ),
        EventKind::Throttled { wait } => tracing::debug!(
            target: TARGET,
            task,
            policy = "rate_limit",
            name = policy,
            wait_ms = wait.as_secs_f64() * 1e3,
            "waiting for the rate limit",
        ),
        EventKind::Coalesced { waiting } => tracing::debug!(
            target: TARGET,
            task,
            policy = "coalesce",
            name = policy,
            waiting,
            "waiting on a call with the same key",
        ),
        EventKind::CoalesceTakenOver => tracing::debug!(
            target: TARGET,
            task,
            policy = "coalesce",
            name = policy,
            "taking a coalesced call over from its leader, who left",
        ),
        EventKind::CoalesceFull => tracing::debug!(
            target: TARGET,
            task,
            policy = "coalesce",
            name = policy,
            "the coalescing group is full: running uncoalesced",
        ),
        EventKind::Rejected { reason } => tracing::debug!(
            target: TARGET,
            task,
            policy = "rejected",
            name = policy,
            reason = reason.as_str(),
            "call rejected",
        ),
        EventKind::FallbackUsed { error } => tracing::debug!(
            target: TARGET,
            task,
            policy = "fallback",
            name = policy,
            error,
            "fallback used",
        ),
        // Per attempt: for observers, too many for a log.
        EventKind::AttemptStarted { .. } | EventKind::AttemptFinished { .. } => {}
    }
}
