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
mod breaker_state;
mod builder;
mod call;
mod event;
mod fallback;
mod guarded;
mod hedge;
mod limit;
mod options;
mod retry;

use std::future::Future;
use std::sync::OnceLock;

use tower::retry::budget::TpsBudget;

use crate::criticality::{BestEffort, Critical, Criticality};
use crate::task::Task;

pub use self::breaker::Breaker;
pub use self::breaker_state::BreakerState;
pub use self::builder::PolicyBuilder;
pub use self::fallback::{Fallback, FallbackFn, NoFallback};
pub use self::limit::Limit;
pub use self::options::Options;
pub use self::retry::{Budget, Retry};

use self::breaker::BreakerCell;
use self::call::{Attempts, Failure, Round};
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
        Task::new(
            name,
            self.with_fallback(name, Attempts::Repeat(attempt), options),
        )
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
            self.with_fallback(name, Attempts::<fn() -> F, F>::Once(future), options),
        )
    }
}
