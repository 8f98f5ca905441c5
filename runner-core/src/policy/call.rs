//! One call through a policy, layer by layer (see the module docs for the order): the
//! fallback around the bulkhead, around retries of hedged rounds of guarded attempts.

use std::future::Future;

use tokio::time::Instant;

use crate::context::{self, Verdict};
use crate::error::{Rejection, TaskError};
use crate::policy::breaker::{Breaker, Permit};
use crate::policy::event::EventKind;
use crate::policy::fallback::{Fallback, before};
use crate::policy::guarded::{Guarded, Maker};
use crate::policy::hedge::Hedge;
use crate::policy::options::Options;
use crate::policy::settings::PolicySettings;
use crate::policy::{Policy, hedge, retry};

impl Policy {
    /// One call: the fallback around the rest (see the module docs for the order), under
    /// the settings the call started with.
    pub(super) async fn with_fallback<A, F, T, E, FB>(
        &self,
        task: &'static str,
        attempts: Attempts<A, F>,
        options: Options<T, E, FB>,
    ) -> Result<T, E>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
        FB: Fallback<T, E>,
    {
        let settings = self.settings();
        let cutoff = context::cutoff();
        let deadline = cutoff.map(|cutoff| cutoff.at);
        let call = self.within_limit(task, attempts, &options, settings, deadline);
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
            self.emit(
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
            // Only a fallback races the deadline.
            _ => std::future::pending().await,
        }
    }

    /// The bulkhead, then retries of hedged rounds of guarded attempts.
    async fn within_limit<A, F, T, E, FB>(
        &self,
        task: &'static str,
        attempts: Attempts<A, F>,
        options: &Options<T, E, FB>,
        settings: PolicySettings,
        deadline: Option<Instant>,
    ) -> Result<T, Failure<E>>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        let _pass = match settings.limit {
            Some(limit) => self
                .gate
                .enter(self, limit, task)
                .await
                .map_err(Failure::Rejected)?,
            None => None,
        };
        let maker = Maker {
            policy: self,
            task,
            breaker: settings.breaker,
            breaker_if: options.breaker_if,
        };
        match attempts {
            Attempts::Repeat(mut make) => {
                // The attempt is made only once the breaker has let it through. `make` is
                // moved in as `&mut`, so that the call is `Send` whenever the arguments are,
                // `Sync` or not.
                let make = &mut make;
                let mut number = 0;
                let mut attempt = move |hedge| {
                    number += 1;
                    Guarded::new(maker, number, hedge, deadline, &*make)
                };
                let round = Round {
                    task,
                    deadline,
                    hedge: settings.hedge,
                };
                match settings.retry {
                    Some(retry) => {
                        retry::retrying(self, retry, round, options.retry_if, &mut attempt).await
                    }
                    None => hedge::round(self, round, &mut attempt).await,
                }
            }
            Attempts::Once(future) => Guarded::new(maker, 1, false, deadline, || future).await,
        }
    }

    /// Asks the breaker, if there is one (or an operator's hand on it), to let an attempt
    /// through.
    pub(super) fn admit(
        &self,
        task: &'static str,
        breaker: Option<Breaker>,
        deadline: Option<Instant>,
    ) -> Result<Option<Permit<'_>>, Rejection> {
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

/// Where a call's attempts come from.
pub(crate) enum Attempts<A, F> {
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
    // The hedge, if the rounds are hedged.
    pub(crate) hedge: Option<Hedge>,
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
