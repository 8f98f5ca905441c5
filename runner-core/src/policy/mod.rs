//! Resilience policies: rate limit, bulkhead, circuit breaker, retry, hedge and fallback, as
//! values the application owns.
//!
//! # A policy is a value
//!
//! A [`Policy`] is built at run time, and checked then: [`PolicyBuilder::build`] refuses
//! settings that cannot work with a [`PolicyError`] naming the field, in the words
//! `#[task(...)]` uses at compile time. Its breaker, bulkhead and retry budget are shared by
//! the calls made through it, and by nothing else: give each backend, instance or tenant its
//! own. Share it by reference or in an `Arc`; a call through it allocates nothing (a hedged
//! round, once its first hedge starts, allocates its lanes once).
//!
//! ```
//! use std::time::Duration;
//! use runner_core::{Breaker, Policy, Retry, TaskError};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! async fn fetch_balance(user_id: u64) -> Result<u64, WalletError> {
//!     Ok(user_id * 100)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let wallet = Policy::builder()
//!     .timeout(Duration::from_millis(200))
//!     .retry(Retry::new(3).backoff(Duration::from_millis(10)))
//!     .breaker(Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5)))
//!     .build()
//!     .expect("valid settings");
//!
//! let user_id = 7;
//! // Each attempt calls the closure again: retries need a way to start the work anew.
//! let task = wallet.critical("get_balance", move || fetch_balance(user_id));
//! let balance: Result<u64, TaskError<WalletError>> = task.await;
//! assert_eq!(balance.unwrap(), 700);
//!
//! let error = Policy::builder().retry(Retry::new(0)).build().unwrap_err();
//! assert_eq!(error.field(), "retry.attempts");
//! # }
//! ```
//!
//! # `#[task(policy = <expr>)]`
//!
//! The expression is evaluated at each call: a place (`self.wallet`, `WALLET`) is borrowed,
//! a fn argument (`policy = p`, a `&Policy` or an `Arc<Policy>`) is cloned, and any other
//! expression's value (`self.hosts.get(&host)`) is moved into the task; anything that is
//! [`AsPolicy`] will do. The policy's timeout, if it has one, replaces the
//! attribute's. As the policy may retry or hedge, the fn's arguments must be `Clone` and a
//! method takes `&self`. The literal keys (`retry(...)`, `breaker(...)`, ...) are sugar for a
//! per-fn default, and cannot be combined with `policy =`; `fallback`, `retry_if` and
//! `breaker_if` can, as they are typed by the fn.
//!
//! ```
//! use std::time::Duration;
//! use runner_core::{Breaker, BreakerState, Policy, TaskError, task};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! struct Wallet {
//!     policy: Policy,
//! }
//!
//! impl Wallet {
//!     #[task(critical, timeout = "200ms", policy = self.policy)]
//!     async fn balance(&self, user_id: u64) -> Result<u64, WalletError> {
//!         Ok(user_id * 100)
//!     }
//!
//!     // By hand: the same, with the closure that starts each attempt.
//!     fn balance_by_hand(&self, user_id: u64)
//!         -> runner_core::Task<impl Future<Output = Result<u64, WalletError>> + '_, runner_core::Critical>
//!     {
//!         self.policy
//!             .critical("balance", move || async move { Ok(user_id * 100) })
//!             .timeout(Duration::from_millis(200))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = || Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5));
//! let primary = Wallet { policy: Policy::builder().breaker(breaker()).build().unwrap() };
//! let replica = Wallet { policy: Policy::builder().breaker(breaker()).build().unwrap() };
//! primary.policy.force_open();
//! // Each instance has its own breaker.
//! assert!(matches!(primary.balance(7).await, Err(TaskError::Rejected(_))));
//! assert_eq!(replica.balance(7).await.unwrap(), 700);
//! assert_eq!(replica.balance_by_hand(7).await.unwrap(), 700);
//! assert_eq!(replica.policy.breaker_state(), Some(BreakerState::Closed));
//! # }
//! ```
//!
//! # A policy per key
//!
//! [`PolicyMap`] builds a policy per key (a downstream host, a tenant, a shard) from one
//! template, on the key's first use, and holds at most its capacity of keys. By hand it is
//! a bounded concurrent map of `Arc<Policy>`, each built from the template and named after
//! its key, which is what the type is:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use runner_core::{Breaker, Policy, PolicyMap, TaskError, task};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("host unavailable")]
//! struct HostError;
//!
//! struct Gateway {
//!     hosts: PolicyMap<String>,
//! }
//!
//! impl Gateway {
//!     #[task(best_effort, policy = self.hosts.get(&host))]
//!     async fn fetch(&self, host: String) -> Result<String, HostError> {
//!         Ok(format!("from {host}"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let template = Policy::builder()
//!     .breaker(Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5)));
//! let gateway = Gateway { hosts: PolicyMap::new(template, 1_024).unwrap() };
//! gateway.hosts.get(&"10.0.0.1".to_owned()).force_open();
//! assert!(gateway.fetch("10.0.0.1".to_owned()).await.is_err());
//! assert_eq!(gateway.fetch("10.0.0.2".to_owned()).await.unwrap(), "from 10.0.0.2");
//! # }
//! ```
//!
//! # From config, and live
//!
//! With the `serde` feature, a `PolicyConfig` deserializes from any serde format, durations in
//! humantime's syntax, and checks into [`PolicySettings`] with errors that name their field.
//! [`Policy::update`] replaces a policy's settings at run time for the calls that start after,
//! keeping what still applies (the breaker's state and counts, the places in flight, the
//! retry budget). By hand, the settings are the same value:
//!
//! ```
//! use std::time::Duration;
//! use runner_core::{Breaker, Policy, PolicySettings};
//!
//! let policy = Policy::builder().timeout(Duration::from_millis(200)).build().unwrap();
//! // What a reloaded file would say: a shorter timeout, a breaker.
//! let reloaded = PolicySettings::new()
//!     .timeout(Duration::from_millis(150))
//!     .breaker(Breaker::new(3, Duration::from_secs(10), Duration::from_secs(5)));
//! policy.update(reloaded).unwrap();
//! assert_eq!(policy.settings().timeout, Some(Duration::from_millis(150)));
//! ```
//!
//! # Inspection and control
//!
//! Every policy reports [`breaker_state`](Policy::breaker_state),
//! [`in_flight`](Policy::in_flight) and [`retry_budget`](Policy::retry_budget), and can be
//! [`reset`](Policy::reset), [forced open](Policy::force_open) and
//! [forced closed](Policy::force_closed), for tests and for operators. The per-fn defaults
//! the literal keys build are reachable by the task's name through [`defaults`], from the
//! start of the program.
//!
//! # Events
//!
//! An [`Observer`] receives typed [`PolicyEvent`]s: attempts started and finished (with
//! their outcome and latency), retries scheduled or refused, hedges started, breaker changes,
//! rejections and fallbacks. Give one to a policy ([`PolicyBuilder::observer`]) or to every
//! policy of the process ([`set_observer`](crate::set_observer)), which also gets each run's
//! end with each task's outcome ([`RunFinished`](crate::RunFinished)). With no observer, an event costs a branch; the
//! `tracing` events (target `runner_core::policy`) are written from the same events. With
//! the `metrics` feature, `MetricsObserver` records them through the `metrics` facade as
//! counters and histograms.
//!
//! # Order
//!
//! From the outside in, a call goes through:
//!
//! 1. **the task's timeout and the fan-out's deadline**, kept by the engine around all of it:
//!    no policy ever makes a call outlive them;
//! 2. **fallback**, so that it covers every failure inside, a refusal included, and time
//!    running out (it answers at the deadline, which counts as finishing in time);
//! 3. **rate limit** (`rate_limit`), once per call: a call waits for its turn before it
//!    takes a place in the bulkhead, so that waiting for the rate holds no place, and the
//!    turns count calls (the retry budget bounds the attempts inside them);
//! 4. **bulkhead** (`limit`), once per call: a call waiting for a place holds nothing
//!    downstream, and its retries and hedges run inside the place it holds, so N calls in
//!    flight never grow into N × attempts places; a critical call goes before a
//!    best-effort one, and an adaptive limit learns from how each call that held a place
//!    ended;
//! 5. **retry**, around whole hedged rounds: a round that failed everywhere is retried after
//!    a backoff;
//! 6. **hedge**, inside one round: slow attempts get company, the first success wins;
//! 7. **circuit breaker**, around every single attempt, hedges included: each attempt's
//!    outcome is a measure of the dependency's health, and once the breaker opens, the next
//!    attempt (a retry, a hedge) is refused at once instead of adding load. A refusal is not
//!    retried.

pub(crate) mod breaker;
mod breaker_state;
mod builder;
mod call;
pub(crate) mod coalesce;
#[cfg(feature = "serde")]
mod config;
mod control;
pub mod defaults;
mod error;
mod event;
mod fallback;
mod guarded;
mod handle;
mod hedge;
mod limit;
mod map;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(all(test, runner_loom))]
mod model;
mod options;
mod rate;
mod retry;
mod settings;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tower::retry::budget::TpsBudget;

use crate::criticality::{BestEffort, Critical, Criticality};
use crate::observe::Observer;
use crate::sync::{AtomicU64, Mutex, Notify, Swap};
use crate::task::Task;

pub use self::breaker::{Breaker, BreakerConfig, BreakerWindow};
pub use self::breaker_state::BreakerState;
pub use self::builder::PolicyBuilder;
pub use self::coalesce::{Coalesce, CoalesceConfig, Coalesced};
#[cfg(feature = "serde")]
pub use self::config::{HedgeConfig, PolicyConfig, RetryConfig};
pub use self::control::BudgetReport;
pub use self::error::PolicyError;
pub use self::event::{AttemptOutcome, BreakerTrip, EventKind, PolicyEvent, RetryRefusal};
pub use self::fallback::{Fallback, FallbackFn, NoFallback};
pub use self::handle::AsPolicy;
pub use self::hedge::Hedge;
pub use self::limit::{Adaptive, Limit, LimitConfig};
pub use self::map::PolicyMap;
#[cfg(feature = "metrics")]
pub use self::metrics::MetricsObserver;
pub use self::options::Options;
pub use self::rate::{RateLimit, RateLimitConfig};
pub use self::retry::{Budget, Retry};
pub use self::settings::PolicySettings;

use self::breaker::BreakerCell;
pub(crate) use self::call::{Attempts, Once, Repeat};
use self::call::{Failure, Round};
use self::limit::Gate;
pub(crate) use self::limit::MAX as LIMIT_MAX;
use self::rate::Limiter;
pub(crate) use self::rate::MAX_BURST as RATE_MAX_BURST;

/// A resilience policy: what to do around each call made through it (see the
/// [module docs](self) for the order), and the state those calls share.
///
/// Build it with [`Policy::builder`]; [`critical`](Self::critical),
/// [`best_effort`](Self::best_effort) and [`task`](Self::task) then make tasks that run
/// under it. Share it by reference or in an `Arc`: it is `Send + Sync`, and a call through it
/// allocates nothing.
pub struct Policy {
    live: Swap<Live>,
    // The live settings' timeout, in nanoseconds (`NO_TIMEOUT` for none): what building a
    // task reads, without loading the settings.
    timeout: AtomicU64,
    breaker: BreakerCell,
    gate: Gate,
    // Woken by a reload or a reset, for the calls waiting for the rate limit.
    reloaded: Notify,
    name: Cow<'static, str>,
    observer: Option<Arc<dyn Observer>>,
    // Held by `update` and `reset`, so that neither undoes the other; calls never take it.
    writer: Mutex<()>,
    // Retries made, and refused by the budget, since the policy was built or reset.
    retried: AtomicU64,
    budget_refused: AtomicU64,
    // Hedges charged to the budget, and refused by it.
    hedged: AtomicU64,
    hedges_refused: AtomicU64,
}

/// What a reload replaces: the settings, and the retry budget and the rate limiter they
/// give (each kept across a reload that leaves its own settings as they were).
struct Live {
    settings: PolicySettings,
    budget: Option<Arc<TpsBudget>>,
    rate: Option<Arc<Limiter>>,
}

impl Policy {
    fn new(builder: PolicyBuilder) -> Self {
        let PolicyBuilder {
            settings,
            name,
            observer,
        } = builder;
        Self {
            live: Swap::new(Live::new(settings, None)),
            timeout: AtomicU64::new(timeout_nanos(settings.timeout)),
            breaker: BreakerCell::new(),
            gate: Gate::new(),
            reloaded: Notify::new(),
            name,
            observer,
            writer: Mutex::new(()),
            retried: AtomicU64::new(0),
            budget_refused: AtomicU64::new(0),
            hedged: AtomicU64::new(0),
            hedges_refused: AtomicU64::new(0),
        }
    }

    /// A critical task named `name` whose attempts are `attempt()`, under the policy's
    /// timeout if it has one.
    pub fn critical<A, F, T, E>(
        &self,
        name: &'static str,
        attempt: A,
    ) -> Task<impl Future<Output = Result<T, E>> + use<'_, A, F, T, E>, Critical>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        self.task(name, attempt, Options::new())
    }

    /// A best-effort task named `name` whose attempts are `attempt()`, under the policy's
    /// timeout if it has one.
    pub fn best_effort<A, F, T, E>(
        &self,
        name: &'static str,
        attempt: A,
    ) -> Task<impl Future<Output = Result<T, E>> + use<'_, A, F, T, E>, BestEffort>
    where
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
    {
        self.task(name, attempt, Options::new())
    }

    /// A task of criticality `C` named `name` whose attempts are `attempt()`, with per-call
    /// [`Options`]: which errors to retry, which the breaker counts, and a fallback.
    pub fn task<C, A, F, T, E, FB>(
        &self,
        name: &'static str,
        attempt: A,
        options: Options<T, E, FB>,
    ) -> Task<impl Future<Output = Result<T, E>> + use<'_, C, A, F, T, E, FB>, C>
    where
        C: Criticality,
        A: Fn() -> F,
        F: Future<Output = Result<T, E>>,
        FB: Fallback<T, E>,
    {
        through(self, name, None, Repeat(attempt), options)
    }
}

/// `timeout` as `Policy::timeout` holds it.
fn timeout_nanos(timeout: Option<Duration>) -> u64 {
    match timeout {
        Some(timeout) => u64::try_from(timeout.as_nanos()).unwrap_or(NO_TIMEOUT - 1),
        None => NO_TIMEOUT,
    }
}

/// No timeout, in `Policy::timeout`.
const NO_TIMEOUT: u64 = u64::MAX;

impl Live {
    /// The live settings `settings`, keeping the budget and the limiter of `old` where they
    /// were built from the same settings; with no `old`, both new (full).
    fn new(settings: PolicySettings, old: Option<&Live>) -> Self {
        let wanted = settings.retry.map(|retry| retry.budget);
        let budget =
            match old.and_then(|old| Some((old.settings.retry?.budget, old.budget.as_ref()?))) {
                Some((was, budget)) if Some(was) == wanted => Some(Arc::clone(budget)),
                _ => wanted.map(|budget| Arc::new(budget.build())),
            };
        let rate = settings.rate_limit.map(|limit| {
            match old.and_then(|old| Some((old.settings.rate_limit?, old.rate.as_ref()?))) {
                Some((was, limiter)) if was.same_pace(&limit) => Arc::clone(limiter),
                _ => Arc::new(limit.limiter()),
            }
        });
        Self {
            settings,
            budget,
            rate,
        }
    }
}

/// A task through a policy held by value (a reference, an `Arc`, a `LazyLock`): what
/// [`Policy::task`] and `#[task]` build. Its timeout is the policy's, read now, else
/// `timeout`.
pub(crate) fn through<P, C, S, T, E, FB>(
    policy: P,
    name: &'static str,
    timeout: Option<Duration>,
    attempts: S,
    options: Options<T, E, FB>,
) -> Task<impl Future<Output = Result<T, E>> + use<P, C, S, T, E, FB>, C>
where
    P: AsPolicy,
    C: Criticality,
    S: Attempts<T, E>,
    FB: Fallback<T, E>,
{
    let timeout = policy.as_policy().timeout().or(timeout);
    let call = call::with_fallback(policy, name, C::CRITICAL, attempts, options);
    Task::new(name, call).timeout_if(timeout)
}
