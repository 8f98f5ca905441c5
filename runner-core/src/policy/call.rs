//! One call through a policy, layer by layer (see the module docs for the order): the
//! fallback around the bulkhead, around retries of hedged rounds of guarded attempts.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::context::{self, Verdict};
use crate::error::{Rejection, TaskError};
use crate::policy::breaker::{Breaker, Permit};
use crate::policy::event::EventKind;
use crate::policy::fallback::{Fallback, before};
use crate::policy::guarded::{Guarded, Maker};
use crate::policy::hedge::Hedge;
use crate::policy::limit::Sample;
use crate::policy::options::Options;
use crate::policy::retry::Retry;
use crate::policy::settings::PolicySettings;
use crate::policy::{AsPolicy, Policy, hedge, retry};

/// One call through the policy `held` holds: the fallback around the rest (see the module
/// docs for the order), under the settings the call started with.
///
/// The holder is the future's own (a reference, an `Arc`, what `#[task(policy = ...)]` gives),
/// so that no wrapper around this future keeps the attempts and options a second time.
pub(super) async fn with_fallback<P, S, T, E, FB>(
    held: P,
    task: &'static str,
    critical: bool,
    attempts: S,
    options: Options<T, E, FB>,
) -> Result<T, E>
where
    P: AsPolicy,
    S: Attempts<T, E>,
    FB: Fallback<T, E>,
{
    let policy = held.as_policy();
    let cutoff = context::cutoff();
    let deadline = cutoff.map(|cutoff| cutoff.at);
    let call = policy.within_limit(task, critical, attempts, &options, deadline);
    // An attempt timeout is the call's own end, which no engine timer settles: the slot
    // is told, as for a refusal.
    let mut own_timeout = false;
    let mut from_call = |error: TaskError<E>| {
        own_timeout = error.is_timeout();
        error
    };
    let error = match (FB::PRESENT, cutoff) {
        // The fallback answers when time runs out: at the cutoff itself, which counts
        // as finishing in time. It is told what the task's slot would say then.
        (true, Some(cutoff)) => match before(call, cutoff.at).await {
            Some(Ok(value)) => return Ok(value),
            // A run inside the attempt failed on the deadline it inherited: what ran
            // out is the task's time.
            Some(Err(_)) if context::expired() => out_of_time(cutoff),
            Some(Err(error)) => from_call(error),
            None => out_of_time(cutoff),
        },
        _ => match call.await {
            Ok(value) => return Ok(value),
            Err(error) => from_call(error),
        },
    };
    if let Some(value) = options.fallback.value(&error) {
        policy.emit(
            task,
            EventKind::FallbackUsed {
                error: error.kind(),
            },
        );
        context::post(Verdict::Fallback);
        return Ok(value);
    }
    match error {
        TaskError::Failed(error) => Err(error),
        TaskError::Rejected(reason) => {
            // No `E` can say "refused": the engine reads the verdict and fills the slot.
            context::post(Verdict::Rejected(reason));
            std::future::pending().await
        }
        TaskError::TimedOut(timeout) if own_timeout => {
            context::post(Verdict::TimedOut(timeout));
            std::future::pending().await
        }
        // Only a fallback races the deadline.
        _ => std::future::pending().await,
    }
}

/// The error of a call whose time ran out at `cutoff`, which its fallback answers.
fn out_of_time<E>(cutoff: context::Cutoff) -> TaskError<E> {
    context::note_out_of_time();
    cutoff.error()
}

impl Policy {
    /// The rate limit, the bulkhead, then retries of hedged rounds of guarded attempts, under the settings
    /// the call starts with (read once, and lent to the layers inside). Its error is a
    /// failure, a refusal, or every attempt out of its own time.
    async fn within_limit<S, T, E, FB>(
        &self,
        task: &'static str,
        critical: bool,
        attempts: S,
        options: &Options<T, E, FB>,
        deadline: Option<Instant>,
    ) -> Result<T, TaskError<E>>
    where
        S: Attempts<T, E>,
    {
        // Taken apart, so that the call's future keeps only what it uses after a wait.
        let (
            (throttled, gated),
            PolicySettings {
                retry,
                hedge,
                breaker,
                limit,
                ..
            },
        ) = {
            let settings = self.start_call();
            ((settings.rate_limit.is_some(), settings.gated()), settings)
        };
        if throttled {
            self.throttle(task, deadline)
                .await
                .map_err(TaskError::Rejected)?;
        }
        let pass = match limit {
            // A place free at once, without the waiting call's future.
            Some(limit) => match self.gate.try_enter(self, &limit, task, critical) {
                Some(pass) => Some(pass),
                None => self
                    .gate
                    .wait(self, limit, task, critical)
                    .await
                    .map_err(TaskError::Rejected)?,
            },
            None => None,
        };
        // Let through: its share of the retry budget (`start_call` left it for now).
        if gated && retry.is_some() {
            self.deposit();
        }
        let maker = Maker {
            policy: self,
            task,
            breaker: breaker.as_ref(),
            breaker_if: options.breaker_if,
            cooldown_from: options.cooldown_from,
        };
        let round = Round {
            task,
            deadline,
            hedge,
        };
        let attempt_timeout = retry.and_then(|retry| retry.attempt_timeout);
        let retry = retry.as_ref().map(|retry| Retrying {
            retry,
            retry_if: options.retry_if,
            retry_if_value: options.retry_if_value,
            delay_from: options.retry_delay_from,
        });
        let outcome = attempts.run(maker, round, retry).await;
        if let Some(pass) = pass {
            pass.finish(|latency| match &outcome {
                Ok(_) => Sample::Succeeded(latency),
                Err(Failure::Failed(error))
                    if options.breaker_if.is_none_or(|counts| counts(error)) =>
                {
                    Sample::Overloaded
                }
                Err(Failure::TimedOut) => Sample::Overloaded,
                Err(_) => Sample::Ignored,
            });
        }
        outcome.map_err(|failure| failure.into_task_error(attempt_timeout))
    }

    /// Asks the breaker, if there is one (or an operator's hand on it), to let an attempt
    /// through.
    pub(super) fn admit<'a>(
        &'a self,
        task: &'static str,
        breaker: Option<&'a Breaker>,
        deadline: Option<Instant>,
    ) -> Result<Option<Permit<'a>>, Rejection> {
        let admitted = match self.breaker.forced() {
            Some(forced) => forced.map(|()| None),
            None => match breaker {
                Some(config) => self.breaker.admit(self, config, task, deadline).map(Some),
                None => Ok(None),
            },
        };
        if let Err(reason) = admitted {
            self.emit(task, EventKind::Rejected { reason });
        }
        admitted
    }
}

/// Where a call's attempts come from, and how they are run: [`Repeat`] or [`Once`].
///
/// A trait rather than an enum, so that a call's future holds only what its kind needs: an
/// enum of both would carry the size of the one attempt's future (an HTTP call's, often a
/// kilobyte) in every call that makes its attempts anew, once per layer it is passed through.
pub(crate) trait Attempts<T, E> {
    /// Runs the attempts: under the retry (and its predicate) and the round's hedge, if any.
    fn run<'a>(
        self,
        maker: Maker<'a, E>,
        round: Round,
        retry: Option<Retrying<'a, T, E>>,
    ) -> impl Future<Output = Result<T, Failure<E>>>;
}

/// A call's retry, its predicates of the errors and the values worth retrying, and the
/// delay its errors ask for.
pub(crate) struct Retrying<'a, T, E> {
    pub(crate) retry: &'a Retry,
    pub(crate) retry_if: Option<fn(&E) -> bool>,
    pub(crate) retry_if_value: Option<fn(&T) -> bool>,
    pub(crate) delay_from: Option<fn(&E) -> Option<Duration>>,
}

/// Each attempt is `A()`: retries and hedges.
pub(crate) struct Repeat<A>(pub(crate) A);

/// The one attempt, already built: a task fn without retries or hedges, whose arguments need
/// not be `Clone`.
pub(crate) struct Once<F>(pub(crate) F);

impl<A, F, T, E> Attempts<T, E> for Repeat<A>
where
    A: Fn() -> F,
    F: Future<Output = Result<T, E>>,
{
    async fn run<'a>(
        mut self,
        maker: Maker<'a, E>,
        round: Round,
        retry: Option<Retrying<'a, T, E>>,
    ) -> Result<T, Failure<E>> {
        // The attempt is made only once the breaker has let it through. `make` is lent as
        // `&mut`, so that the call is `Send` whenever the arguments are, `Sync` or not (and
        // not moved out of `self`, which would hold it twice in this future's state).
        let make = &mut self.0;
        let mut number = 0;
        // The deadline is the round's: the call's, or sooner with an attempt timeout.
        let mut attempt = move |hedge, deadline| {
            number += 1;
            Guarded::new(maker, number, hedge, deadline, &*make)
        };
        match retry {
            Some(retry) => retry::retrying(maker.policy, retry, round, &mut attempt).await,
            None => hedge::round(maker.policy, round, &mut attempt).await,
        }
    }
}

impl<F, T, E> Attempts<T, E> for Once<F>
where
    F: Future<Output = Result<T, E>>,
{
    fn run<'a>(
        self,
        maker: Maker<'a, E>,
        round: Round,
        _: Option<Retrying<'a, T, E>>,
    ) -> impl Future<Output = Result<T, Failure<E>>> {
        // A retry or a hedge that a reload added would need the attempt again: a fn without
        // them is made once, whatever its policy says now.
        Guarded::new(maker, 1, false, round.deadline, || self.0)
    }
}

/// What a call's rounds of attempts go by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    pub(crate) task: &'static str,
    pub(crate) deadline: Option<Instant>,
    // The hedge, if the rounds are hedged.
    pub(crate) hedge: Option<Hedge>,
}

/// Why a call failed, inside the policy.
pub(crate) enum Failure<E> {
    Failed(E),
    Rejected(Rejection),
    // Every attempt the retry made ran out of its own time (`Retry::attempt_timeout`; the
    // time is the call's settings', not held here, where it would grow every failure).
    TimedOut,
}

impl<E> Failure<E> {
    fn into_task_error(self, attempt_timeout: Option<Duration>) -> TaskError<E> {
        match self {
            Self::Failed(error) => TaskError::Failed(error),
            Self::Rejected(reason) => TaskError::Rejected(reason),
            Self::TimedOut => TaskError::TimedOut(attempt_timeout.unwrap_or_default()),
        }
    }
}
