//! Fan out async work inside one request: **critical** tasks fail fast, **best-effort** tasks
//! degrade, and nothing runs past the deadline or after the call returns.
//!
//! A page that shows a wallet balance (must have) next to a scratch-card promo (nice to
//! have) calls both services at once. If the wallet fails, the request fails at once and the
//! promo call is dropped; if the promo fails or is slow, the page still renders, and the
//! promo's slot says why it is missing.
//!
//! ```
//! use runner_core::{fan_out, task, FanOutError, TaskError};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("scratch-card service unavailable")]
//! struct CardError;
//!
//! #[task(critical, timeout = "200ms")]
//! async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
//!     Ok(user_id * 100)
//! }
//!
//! #[task(best_effort, timeout = "150ms")]
//! async fn get_scratch_card(_user_id: u64) -> Result<String, CardError> {
//!     tokio::time::sleep(std::time::Duration::from_secs(5)).await; // far too slow
//!     Ok("You won!".to_owned())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), FanOutError> {
//! let id = 7;
//! let (balance, card): (u64, Result<String, TaskError<CardError>>) =
//!     fan_out!(deadline = "300ms"; get_balance(id), get_scratch_card(id)).await?;
//!
//! assert_eq!(balance, 700);
//! assert!(matches!(card, Err(TaskError::TimedOut(_))));
//! # Ok(())
//! # }
//! ```
//!
//! The macros are sugar: [`Task`] builds the same tasks by hand
//! (`Task::critical("get_balance", get_balance(id)).timeout(..)`), [`FanOut`] runs a tuple of
//! them, and [`TaskRunner`] runs any number, added at run time. The [`task`] and [`fan_out!`]
//! docs show each key and form next to its hand-written equivalent.
//!
//! # A Tokio runtime
//!
//! Timeouts, deadlines, backoffs and hedges are Tokio timers: run fan-outs and tasks inside
//! `#[tokio::main]`, `#[tokio::test]` or a `tokio::runtime::Runtime` with its time driver
//! (`enable_time()` or `enable_all()`). Under another executor a timer panics with a message
//! that says so, and a task body's own Tokio call, which panics there too, fills its slot
//! with [`TaskError::Panicked`] carrying the same hint.
//!
//! # Patterns
//!
//! **Backends behind a trait.** Declare the task fn's return type in the trait and put
//! `#[task]` on the impl's fn: `Task<impl Future<Output = Result<T, E>> + Send, Critical>`
//! for static dispatch (`+ Send` keeps code generic over the trait `Send`), and
//! [`BoxTask<'_, T, E, Critical>`](BoxTask) behind `dyn`, with `#[task(..., boxed)]` (or
//! [`Task::boxed`] by hand). A boxed task keeps its name, criticality, timeout and policy.
//!
//! **Catch-all errors.** A task's error is an `std::error::Error`; `anyhow::Error` and
//! `Box<dyn Error + Send + Sync>` are not. Return [`AnyError`] instead: `?` converts both
//! into it (`anyhow` with the `anyhow` feature), and it downcasts to the error it holds.
//!
//! **Spawned work.** The deadline lives in a thread-local, which `tokio::spawn` and
//! `spawn_blocking` leave behind: [`spawn`] and [`spawn_blocking`] carry it, and
//! [`Deadline::current`] captures it as a value to enter again with
//! [`scope`](Deadline::scope) or [`run`](Deadline::run) (as a Go `ctx` is passed along).
//! [`spawn_local`] does the same inside a `LocalSet`.
//!
//! **Tasks that are not `Send`.** [`FanOut`] is `Send` when its tasks are. A [`TaskRunner`]
//! holds its tasks type-erased, so it asks for `Send` tasks; [`TaskRunner::local`] gives a
//! [`LocalTaskRunner`] for tasks that hold an `Rc` or a `RefCell` borrow across an
//! `.await`, on a current-thread runtime or in a `LocalSet`. Both engines let tasks and their
//! values borrow from the caller; only their error types must be `'static`, as a critical
//! task's error goes into the [`FanOutError`].
//!
//! **`?` on a task.** Awaited alone, a task gives `Result<T, TaskError<E>>`. `TaskError<E>`
//! is an `Error`, so `?` works into `anyhow::Result` as it is, and into an error enum of
//! yours with one `#[from] TaskError<E>` variant. For a [`FanOutError`], which names the
//! task, fan out the one task: `let (balance,) = fan_out!(get_balance(id)).await?;`. With
//! `report;` the result is the first of the pair: `let (result, report) = fan_out!(report;
//! ..).await; let (a, b) = result?;`.
//!
//! ```
//! use runner_core::{FanOutError, TaskError, fan_out, task};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! #[task(critical, timeout = "200ms")]
//! async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
//!     Ok(user_id * 100)
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! enum HandlerError {
//!     #[error(transparent)]
//!     Wallet(#[from] TaskError<WalletError>),
//! }
//!
//! async fn alone(user_id: u64) -> Result<u64, HandlerError> {
//!     Ok(get_balance(user_id).await?)
//! }
//!
//! async fn named(user_id: u64) -> Result<u64, FanOutError> {
//!     let (balance,) = fan_out!(get_balance(user_id)).await?;
//!     Ok(balance)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # assert_eq!(alone(1).await.unwrap(), 100);
//! # assert_eq!(named(2).await.unwrap(), 200);
//! # }
//! ```
//!
//! # Policies
//!
//! `#[task(...)]` also takes resilience policies, each checked at compile time: `retry(...)`
//! (exponential backoff with full jitter, a retry budget per fn, never past the deadline),
//! `hedge = "50ms"`, `breaker(failures = 5, window = "10s", cooldown = "5s")`, `limit = 32`
//! and `fallback = path`. A refused call (an open breaker, a full limit) fails at once with
//! [`TaskError::Rejected`], so a best-effort slot degrades instantly. [`Policy`] gives the
//! same by hand, and documents the order in which they apply.
//!
//! # Rules
//!
//! Both engines, the static [`FanOut`] and the dynamic [`TaskRunner`], follow the same rules.
//!
//! - **Start.** A fan-out starts every task on its first poll; a runner starts them in the
//!   order added, as many at once as its concurrency limit lets, the rest as others finish.
//!   No task starts at or after the deadline: a task still queued then, or every task of a
//!   run first polled past its deadline (a zero one, or one inherited from a task whose time
//!   is up), never runs; its slot says [`TaskError::DeadlineExceeded`], and a critical one
//!   is named in the run's error. Slots come back in the order written.
//! - **Critical failure.** A critical task's failure (its error, its timeout, a panic, a
//!   refusal by its policy) ends the run at once with a [`FanOutError`], and every other
//!   task's future is dropped before it returns.
//! - **Best effort.** A best-effort task's failure never fails the run; its slot holds the
//!   [`TaskError`], with the task's own error type.
//! - **Timeout.** A task's own timeout counts from its start; when it elapses the task's
//!   future is dropped (cancelled, not abandoned) and it has timed out. An own timeout that
//!   is not earlier than the deadline never fires: the deadline stops the task, and a
//!   critical one is named with every other critical task still pending.
//! - **Deadline.** When the optional overall deadline passes, the run fails if a critical
//!   task is still pending, naming every one in the order written; otherwise the pending
//!   best-effort tasks are dropped, their slots say [`TaskError::DeadlineExceeded`], and the
//!   run succeeds.
//! - **One meaning per error.** [`TaskError::TimedOut`] is the task's own timeout, with the
//!   duration configured; [`TaskError::DeadlineExceeded`] is a deadline around it. A task
//!   stopped by either says so alike in its slot, to its fallback, and in the run's error
//!   ([`FanOutError::TaskTimedOut`], or named in [`FanOutError::DeadlineExceeded`]).
//! - **Nesting.** Inside a task, [`deadline()`] and [`remaining()`] tell how long it has, to
//!   pass downstream. A fan-out, a runner or a task awaited inside a task inherits the
//!   tighter of its own deadline and the task's. When such a run fails because the deadline
//!   it inherited passed, time ran out on the task around it: if the task returns an error
//!   in that same poll (as `?` does), whatever the error, the task has timed out, or the
//!   deadline cut it (a best-effort task's slot and record say so, its fallback is told so;
//!   a critical one is named with the others still pending, and
//!   [`FanOutError::is_timeout`] is `true`). A run inside with a tighter deadline of its own
//!   fails the task like any other error of the task's.
//! - **Panics.** A panic in a task's code is caught at the task boundary: in a poll of its
//!   future (its policy's predicates and fallback included) it becomes
//!   [`TaskError::Panicked`] (a critical one fails the run with
//!   [`FanOutError::TaskPanicked`]); in the `Drop` of its future, its value or its error,
//!   and in the `Display` of its error when it is logged, it is swallowed, and the engine
//!   goes on (dropping the other tasks, say). A panic payload that panics again when dropped
//!   is leaked rather than unwound. No panic of a task's code reaches the caller while the
//!   run runs or is dropped. (A [`FanOutError`]'s message shows the task's error: the caller
//!   who formats it runs that error's `Display`.)
//! - **Drop and cancellation.** Dropping the run's future drops every task, whatever one of
//!   them does in its `Drop`. A [`CancellationToken`] given to `cancel_on` is checked before
//!   every task poll: once it is cancelled, whether by another task in the middle of the
//!   same poll or from anywhere else, no task is polled or started again, and the run
//!   returns [`FanOutError::Cancelled`], whatever it would have returned otherwise.
//! - **Reports.** A [`Report`] (per task: name, criticality, [`Outcome`], elapsed time)
//!   comes from `with_report()`, for `Server-Timing` headers and metrics. A task's elapsed
//!   time runs from its start to its end (zero if it never started); a run's, and the one in
//!   a deadline error, from the run's first poll.
//! - **Tracing.** Each task runs inside a `tracing` span named `task` with the fields
//!   `task`, `critical`, `outcome` and `elapsed_ms`; each task that fails logs one `DEBUG`
//!   event in it, with its error. A run that succeeds with degraded tasks (an error, a
//!   timeout, the deadline, a panic, a refusal, a fallback's value) logs one `WARN`, in the
//!   caller's span: `fan-out degraded`, with a count per outcome and the tasks' names, so
//!   that a deadline that cuts 400 tasks is one line.
//!
//! ## Ties
//!
//! - At the same instant, work that finishes wins over a timer that elapses: a task that
//!   completes exactly at its timeout or at the deadline has completed. Before a timer
//!   counts, the task it would stop gets a last chance: one more poll, with tokio's
//!   cooperative budget as the engine had it when it was polled (less a unit), however the
//!   tasks polled before spent it; the budget is then put back as it was. (An engine polled
//!   with its budget already spent, inside a task whose siblings spent it, has none to give
//!   back.)
//! - A critical task that fails in that last chance fails the run with its own error, not
//!   the deadline's.
//! - If several critical tasks fail in the same poll, the error names the first one polled
//!   (the first polled rotates, for fairness).
//! - A cancellation made at any point of a poll wins over whatever else that poll came to.
//!
//! # Costs
//!
//! [`FanOut`] allocates nothing on the heap: the tasks and two timers (one for the deadline,
//! one re-armed at the earliest pending task timeout) live in the future itself (checked by a
//! counting-allocator test). [`TaskRunner`] boxes each task's state, one allocation per
//! task: its waker is an entry in a table the run allocates in chunks, and one timer of the
//! run serves every task's own timeout. Task
//! spans cost nothing unless a `tracing` subscriber enables them. Policies allocate nothing
//! per call either; a fn with a retry budget builds it once, on its first call.
//!
//! [`CancellationToken`]: tokio_util::sync::CancellationToken

mod any_error;
mod boundary;
mod cancel;
mod carry;
mod context;
mod criticality;
mod error;
mod fan_out;
mod label;
mod names;
mod observe;
pub mod policy;
mod report;
mod runner;
mod slot;
mod standalone;
mod stop;
mod sync;
mod task;
mod timer;
mod turn;
mod with_report;

pub use crate::any_error::AnyError;
pub use crate::cancel::{Cancel, NoToken, WithToken};
pub use crate::carry::{Deadline, Scoped, spawn, spawn_blocking, spawn_local};
pub use crate::context::{deadline, remaining};
pub use crate::criticality::{BestEffort, Critical, Criticality};
pub use crate::error::{FanOutError, Rejection, TaskError};
pub use crate::fan_out::{Branches, FanOut, IntoBranches};
pub use crate::label::Label;
pub use crate::observe::{Observer, RunFinished, set_observer};
pub use crate::policy::{
    Adaptive, AsPolicy, AttemptOutcome, Breaker, BreakerConfig, BreakerState, BreakerTrip,
    BreakerWindow, Budget, BudgetReport, EventKind, Fallback, Hedge, Limit, LimitConfig,
    NoFallback, Options, Policy, PolicyBuilder, PolicyError, PolicyEvent, PolicyMap,
    PolicySettings, RateLimit, RateLimitConfig, Retry, RetryRefusal,
};
#[cfg(feature = "serde")]
pub use crate::policy::{HedgeConfig, PolicyConfig, RetryConfig};
pub use crate::report::{Outcome, Report, ServerTiming, TaskRecord};
pub use crate::runner::{
    Claim, Finished, Handle, Handles, Holds, Local, LocalTaskRunner, Results, RunAll, Running,
    Sendable, TaskRunner, Threading,
};
pub use crate::slot::TaskSlot;
pub use crate::standalone::TaskFuture;
pub use crate::task::{BoxTask, LocalBoxTask, Task};
pub use crate::with_report::{Run, WithReport};
pub use runner_macros::{fan_out, task};
pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub mod __private;
