//! One call through a policy, layer by layer (see the module docs for the order): the
//! fallback around the bulkhead, around retries of hedged rounds of guarded attempts.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::context::{self, Verdict};
use crate::error::{Rejection, TaskError};
use crate::policy::breaker::Permit;
use crate::policy::fallback::{Fallback, before};
use crate::policy::guarded::Guarded;
use crate::policy::options::Options;
use crate::policy::{Policy, event, hedge, retry};

impl<const HEDGES: usize> Policy<HEDGES> {
    /// One call: the fallback around the rest (see the module docs for the order).
    pub(super) async fn with_fallback<A, F, T, E, FB>(
        &'static self,
        task: &'static str,
        attempts: Attempts<A, F>,
        options: Options<T, E, FB>,
    ) -> Result<T, E>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
        FB: Fallback<T, E>,
    {
        let cutoff = context::cutoff();
        let call = self.within_limit(task, attempts, &options, cutoff.map(|cutoff| cutoff.at));
        let error = match (FB::PRESENT, cutoff) {
            // The fallback answers when time runs out: at the cutoff itself, which counts
            // as finishing in time. It is told what the task's slot would say then.
            (true, Some(cutoff)) => match before(call, cutoff.at).await {
                Some(Ok(value)) => return Ok(value),
                // A run inside the attempt failed on the deadline it inherited: what ran
                // out is the task's time.
                Some(Err(_)) if context::expired() => cutoff.error(),
                Some(Err(failure)) => failure.into_task_error(),
                None => cutoff.error(),
            },
            _ => match call.await {
                Ok(value) => return Ok(value),
                Err(failure) => failure.into_task_error(),
            },
        };
        if let Some(value) = options.fallback.value(&error) {
            event::fallback(task, error.kind());
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
            // Only a fallback races the deadline.
            _ => std::future::pending().await,
        }
    }

    /// The bulkhead, then retries of hedged rounds of guarded attempts.
    async fn within_limit<A, F, T, E, FB>(
        &'static self,
        task: &'static str,
        attempts: Attempts<A, F>,
        options: &Options<T, E, FB>,
        deadline: Option<Instant>,
    ) -> Result<T, Failure<E>>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        let _pass = match self.rules.limit {
            Some(limit) => Some(
                self.gate
                    .enter(limit, task)
                    .await
                    .map_err(Failure::Rejected)?,
            ),
            None => None,
        };
        let breaker_if = options.breaker_if;
        match (attempts, self.rules.retry, self.rules.hedge_after) {
            (Attempts::Repeat(mut make), retry, hedge) => {
                // The attempt is made only once the breaker has let it through. `make` is
                // moved in as `&mut`, so that the call is `Send` whenever the arguments are,
                // `Sync` or not.
                let make = &mut make;
                let mut attempt = move || {
                    let admitted = self.admit(task, deadline);
                    Guarded::new(admitted.map(|permit| (permit, make())), breaker_if)
                };
                let round = Round {
                    task,
                    deadline,
                    hedge,
                };
                match retry {
                    Some(retry) => {
                        let refuses_at =
                            |at| self.rules.breaker.is_some() && self.breaker_cell.refuses_at(at);
                        let (budget, retry_if) = (&self.budget, options.retry_if);
                        retry::retrying::<_, _, _, _, HEDGES>(
                            &retry,
                            budget,
                            round,
                            retry_if,
                            refuses_at,
                            &mut attempt,
                        )
                        .await
                    }
                    None => hedge::round::<_, _, _, _, HEDGES>(round, &mut attempt).await,
                }
            }
            (Attempts::Once(future), ..) => {
                let admitted = self.admit(task, deadline);
                Guarded::new(admitted.map(|permit| (permit, future)), breaker_if).await
            }
        }
    }

    /// Asks the breaker, if there is one, to let an attempt through.
    fn admit(
        &'static self,
        task: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Option<Permit<'static>>, Rejection> {
        let Some(config) = &self.rules.breaker else {
            return Ok(None);
        };
        match self.breaker_cell.admit(config, task, deadline) {
            Ok(permit) => Ok(Some(permit)),
            Err(reason) => {
                event::rejected(task, reason);
                Err(reason)
            }
        }
    }
}

/// Where a call's attempts come from.
pub(super) enum Attempts<A, F> {
    /// Each attempt is `A()`: retries and hedges.
    Repeat(A),
    /// The one attempt, already built.
    Once(F),
}

/// What a call's rounds of attempts go by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    pub(crate) task: &'static str,
    pub(crate) deadline: Option<Instant>,
    // The hedge delay, if the rounds are hedged.
    pub(crate) hedge: Option<Duration>,
}

/// Why a call failed, inside the policy.
pub(crate) enum Failure<E> {
    Failed(E),
    Rejected(Rejection),
}

impl<E> Failure<E> {
    fn into_task_error(self) -> TaskError<E> {
        match self {
            Self::Failed(error) => TaskError::Failed(error),
            Self::Rejected(reason) => TaskError::Rejected(reason),
        }
    }
}
