//! Resilience policies for a task fn: bulkhead, circuit breaker, retry, hedge and fallback.
//!
//! A [`Policy`] lives in a `static`, one per task fn, so that its breaker, bulkhead and
//! retry budget are shared by every call of that fn in the process. `#[task(...)]` writes
//! the `static` from its keys; by hand:
//!
//! ```
//! use std::time::Duration;
//! use runner_core::{Breaker, Policy, Retry, TaskError};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! static WALLET: Policy = Policy::builder()
//!     .retry(Retry::new(3).backoff(Duration::from_millis(10)))
//!     .breaker(Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5)))
//!     .build();
//!
//! async fn fetch_balance(user_id: u64) -> Result<u64, WalletError> {
//!     Ok(user_id * 100)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let user_id = 7;
//! // Each attempt calls the closure again: retries need a way to start the work anew.
//! let task = WALLET
//!     .critical("get_balance", move || fetch_balance(user_id))
//!     .timeout(Duration::from_millis(200));
//! let balance: Result<u64, TaskError<WalletError>> = task.await;
//! assert_eq!(balance.unwrap(), 700);
//! # }
//! ```
//!
//! # Order
//!
//! From the outside in, a call goes through:
//!
//! 1. **the task's timeout and the fan-out's deadline**, kept by the engine around all of it:
//!    no policy ever makes a call outlive them;
//! 2. **fallback**, so that it covers every failure inside, a refusal included, and time
//!    running out (it answers at the deadline, which counts as finishing in time);
//! 3. **bulkhead** (`limit`), once per call: a call waiting for a place holds nothing
//!    downstream, and its retries and hedges run inside the place it holds, so N calls in
//!    flight never grow into N × attempts places;
//! 4. **retry**, around whole hedged rounds: a round that failed everywhere is retried after
//!    a backoff;
//! 5. **hedge**, inside one round: slow attempts get company, the first success wins;
//! 6. **circuit breaker**, around every single attempt, hedges included: each attempt's
//!    outcome is a measure of the dependency's health, and once the breaker opens, the next
//!    attempt (a retry, a hedge) is refused at once instead of adding load. A refusal is not
//!    retried.

mod breaker;
mod event;
mod guarded;
mod hedge;
mod limit;
mod retry;

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;
use tower::retry::budget::TpsBudget;

use crate::context::{self, Verdict};
use crate::criticality::{BestEffort, Critical, Criticality};
use crate::error::{Rejection, TaskError};
use crate::task::Task;
use crate::timer::timer_at;
use crate::turn::Turn;

pub use self::breaker::{Breaker, BreakerState};
pub use self::limit::Limit;
pub use self::retry::{Budget, Retry};

use self::breaker::{BreakerCell, Permit};
use self::guarded::Guarded;
use self::limit::Gate;

/// The resilience policy of a task fn: what to do around each call of it (see the
/// [module docs](self) for the order). `HEDGES` is the most hedges a call may start.
///
/// Build it in a `static` with [`Policy::builder`]; [`critical`](Self::critical),
/// [`best_effort`](Self::best_effort) and [`task`](Self::task) then make tasks that run
/// under it.
#[derive(Debug)]
pub struct Policy<const HEDGES: usize = 0> {
    rules: PolicyBuilder<HEDGES>,
    // What every call of the task fn shares.
    breaker_cell: BreakerCell,
    gate: Gate,
    budget: OnceLock<TpsBudget>,
}

impl Policy {
    /// A builder of a policy that does nothing until given retries, hedges, a breaker or a
    /// limit.
    pub const fn builder() -> PolicyBuilder {
        PolicyBuilder {
            retry: None,
            hedge_after: None,
            breaker: None,
            limit: None,
        }
    }
}

/// The settings of a [`Policy`], built in `const` context.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a policy builder does nothing until `build()`"]
pub struct PolicyBuilder<const HEDGES: usize = 0> {
    retry: Option<Retry>,
    hedge_after: Option<Duration>,
    breaker: Option<Breaker>,
    limit: Option<Limit>,
}

impl<const HEDGES: usize> PolicyBuilder<HEDGES> {
    /// Retries failed calls.
    pub const fn retry(self, retry: Retry) -> Self {
        Self {
            retry: Some(retry),
            ..self
        }
    }

    /// Starts another attempt each `after` while none has finished, up to `N` hedges; the
    /// first success wins and the others are dropped.
    ///
    /// # Panics
    ///
    /// If `N` is zero or `after` is zero: in a `static`, at compile time.
    pub const fn hedge<const N: usize>(self, after: Duration) -> PolicyBuilder<N> {
        assert!(N > 0, "a hedge policy needs at least one hedge");
        assert!(!after.is_zero(), "a hedge delay must be positive");
        PolicyBuilder {
            retry: self.retry,
            hedge_after: Some(after),
            breaker: self.breaker,
            limit: self.limit,
        }
    }

    /// Puts a circuit breaker around every attempt.
    pub const fn breaker(self, breaker: Breaker) -> Self {
        Self {
            breaker: Some(breaker),
            ..self
        }
    }

    /// Limits the calls in flight (a bulkhead).
    pub const fn limit(self, limit: Limit) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }

    /// The policy, with its breaker closed, no call in flight and a full retry budget.
    pub const fn build(self) -> Policy<HEDGES> {
        Policy {
            rules: self,
            breaker_cell: BreakerCell::new(),
            gate: Gate::new(),
            budget: OnceLock::new(),
        }
    }
}

impl<const HEDGES: usize> Policy<HEDGES> {
    /// Where the breaker stands, if the policy has one.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.rules.breaker.map(|_| self.breaker_cell.state())
    }

    /// How many calls hold a place under the limit now.
    pub fn in_flight(&self) -> usize {
        self.gate.in_flight()
    }

    /// A critical task named `name` whose attempts are `attempt()`.
    pub fn critical<A, F, T, E>(
        &'static self,
        name: &'static str,
        attempt: A,
    ) -> Task<impl Future<Output = Result<T, E>> + use<A, F, T, E, HEDGES>, Critical>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        self.task(name, attempt, Options::new())
    }

    /// A best-effort task named `name` whose attempts are `attempt()`.
    pub fn best_effort<A, F, T, E>(
        &'static self,
        name: &'static str,
        attempt: A,
    ) -> Task<impl Future<Output = Result<T, E>> + use<A, F, T, E, HEDGES>, BestEffort>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        self.task(name, attempt, Options::new())
    }

    /// A task of criticality `C` named `name` whose attempts are `attempt()`, with per-call
    /// [`Options`]: which errors to retry, which the breaker counts, and a fallback.
    pub fn task<C, A, F, T, E, FB>(
        &'static self,
        name: &'static str,
        attempt: A,
        options: Options<T, E, FB>,
    ) -> Task<impl Future<Output = Result<T, E>> + use<C, A, F, T, E, FB, HEDGES>, C>
    where
        C: Criticality,
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
        FB: Fallback<T, E>,
    {
        Task::new(name, self.run(name, Attempts::Repeat(attempt), options))
    }

    /// The task a `#[task]` fn without retries or hedges builds: its one attempt is a
    /// future, so its arguments need not be `Clone`.
    pub(crate) fn once<C, F, T, E, FB>(
        &'static self,
        name: &'static str,
        future: F,
        options: Options<T, E, FB>,
    ) -> Task<impl Future<Output = Result<T, E>> + use<C, F, T, E, FB, HEDGES>, C>
    where
        C: Criticality,
        F: Future<Output = Result<T, E>>,
        FB: Fallback<T, E>,
    {
        Task::new(
            name,
            self.run(name, Attempts::<fn() -> F, F>::Once(future), options),
        )
    }

    /// One call: the fallback around the rest (see the module docs for the order).
    async fn run<A, F, T, E, FB>(
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
        let call = self.call(task, attempts, &options, cutoff.map(|cutoff| cutoff.at));
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
    async fn call<A, F, T, E, FB>(
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
                        retry::run::<_, _, _, _, HEDGES>(
                            &retry,
                            budget,
                            round,
                            retry_if,
                            refuses_at,
                            &mut attempt,
                        )
                        .await
                    }
                    None => hedge::run::<_, _, _, _, HEDGES>(round, &mut attempt).await,
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

/// `call`'s outcome if it comes before `at`, or at that instant; `None` if time ran out.
///
/// The timer is polled after the call, and when it fires the call gets a last chance with
/// the budget it was polled with (see [`Turn`]), so a call that finishes at the very
/// instant wins, as in the engines.
async fn before<F: Future>(call: F, at: Instant) -> Option<F::Output> {
    let mut call = pin!(call);
    let mut timer = pin!(timer_at(at));
    poll_fn(|cx| {
        let mut turn = Turn::default();
        turn.note_budget(cx);
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        match turn.last_chance(cx, |cx| call.as_mut().poll(cx)) {
            Some(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Some(Poll::Pending) | None => Poll::Ready(None),
        }
    })
    .await
}

/// Where a call's attempts come from.
enum Attempts<A, F> {
    /// Each attempt is `A()`: retries and hedges.
    Repeat(A),
    /// The one attempt, already built.
    Once(F),
}

/// What a call's rounds of attempts go by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    task: &'static str,
    deadline: Option<Instant>,
    // The hedge delay, if the rounds are hedged.
    hedge: Option<Duration>,
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

/// Per-call options of a policy task: which errors are retried, which the breaker counts,
/// and a fallback. They are typed by the task's `T` and `E`, so they live with the call
/// rather than in the `static` [`Policy`].
pub struct Options<T, E, FB = NoFallback> {
    retry_if: Option<fn(&E) -> bool>,
    breaker_if: Option<fn(&E) -> bool>,
    fallback: FB,
    value: PhantomData<fn() -> T>,
}

impl<T, E> Options<T, E> {
    /// Every error is retried and counted by the breaker; no fallback.
    pub fn new() -> Self {
        Self {
            retry_if: None,
            breaker_if: None,
            fallback: NoFallback,
            value: PhantomData,
        }
    }
}

impl<T, E> Default for Options<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E, FB> Options<T, E, FB> {
    /// Retries only the errors for which `retryable` is `true` (a 503, a reset connection;
    /// not a 404).
    pub fn retry_if(self, retryable: fn(&E) -> bool) -> Self {
        Self {
            retry_if: Some(retryable),
            ..self
        }
    }

    /// Counts only the errors for which `counts` is `true` as breaker failures (the others
    /// say nothing about the dependency's health).
    pub fn breaker_if(self, counts: fn(&E) -> bool) -> Self {
        Self {
            breaker_if: Some(counts),
            ..self
        }
    }

    /// `#[task(fallback = path)]`'s: the fn coerced to a pointer at the user's path, so that
    /// one of the wrong type is one type mismatch there.
    #[doc(hidden)]
    pub fn fallback_fn(self, fallback: FallbackFn<T, E>) -> Options<T, E, FallbackFn<T, E>> {
        self.fallback(fallback)
    }

    /// Gives the task's value when it fails: its error, a refusal, or time running out
    /// (as [`TaskError::TimedOut`] with the time it ran). The report records the task as
    /// [`Outcome::Fallback`](crate::Outcome::Fallback).
    pub fn fallback<G: Fallback<T, E>>(self, fallback: G) -> Options<T, E, G> {
        Options {
            retry_if: self.retry_if,
            breaker_if: self.breaker_if,
            fallback,
            value: PhantomData,
        }
    }
}

impl<T, E, FB: std::fmt::Debug> std::fmt::Debug for Options<T, E, FB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("retry_if", &self.retry_if.is_some())
            .field("breaker_if", &self.breaker_if.is_some())
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// A fallback as a fn pointer, what `#[task(fallback = path)]` gives.
#[doc(hidden)]
pub type FallbackFn<T, E> = fn(&TaskError<E>) -> T;

/// A task's fallback: a `fn(&TaskError<E>) -> T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the fallback of a task returning `Result<{T}, {E}>`",
    label = "not a `fn(&TaskError<{E}>) -> {T}`",
    note = "a fallback gets why the task failed, `&runner_core::TaskError<E>`, and returns the value for its slot, a `T`"
)]
pub trait Fallback<T, E> {
    /// `false` only for [`NoFallback`].
    const PRESENT: bool = true;

    /// The value for a task that failed with `error`, if there is a fallback.
    fn value(&self, error: &TaskError<E>) -> Option<T>;
}

#[diagnostic::do_not_recommend]
impl<T, E, G> Fallback<T, E> for G
where
    G: Fn(&TaskError<E>) -> T,
{
    fn value(&self, error: &TaskError<E>) -> Option<T> {
        Some(self(error))
    }
}

/// No fallback: a failed task stays failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<T, E> Fallback<T, E> for NoFallback {
    const PRESENT: bool = false;

    fn value(&self, _: &TaskError<E>) -> Option<T> {
        None
    }
}
