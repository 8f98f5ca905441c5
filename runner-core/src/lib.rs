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
//! Both engines, the static [`FanOut`] and the dynamic [`TaskRunner`], follow the same rules:
//!
//! - Every task starts on the first poll; slots come back in the order written.
//! - A critical task's failure (its error, its timeout, a panic) ends the run at once with a
//!   [`FanOutError`], and every other task's future is dropped before it returns.
//! - A best-effort task's failure never fails the run; its slot holds the [`TaskError`].
//! - A timeout drops the task's future: the work is cancelled, not abandoned.
//! - When the optional overall deadline passes, the run fails if a critical task is still
//!   pending, naming them; otherwise the pending best-effort tasks are dropped, their slots
//!   say [`TaskError::DeadlineExceeded`], and the run succeeds. A task stops at the earlier of
//!   its own timeout and the deadline.
//! - Inside a task, [`deadline()`] and [`remaining()`] tell how long it has, to pass
//!   downstream; a fan-out nested in a task inherits the tighter deadline.
//! - A panic in a task is caught at the task boundary and becomes a `TaskError`.
//! - Dropping the run's future drops every task; a [`CancellationToken`] given to
//!   `cancel_on` ends it with [`FanOutError::Cancelled`].
//! - A [`Report`] (per task: name, criticality, [`Outcome`], elapsed time) comes from
//!   `with_report()`, for `Server-Timing` headers and metrics.
//! - Each task runs inside a `tracing` span named `task` with the fields `task`, `critical`,
//!   `outcome` and `elapsed_ms`; a degraded best-effort task logs a `WARN` event.
//!
//! At the same instant, work that finishes wins over a timer that elapses: a task that
//! completes exactly at its timeout or at the deadline counts as complete (if tokio's
//! cooperative budget was spent when the timer fired, the engine waits one more poll, with a
//! fresh budget, before it counts the timer). An own timeout that is not earlier than the
//! deadline never fires: the deadline stops the task, and a critical one is named with the
//! others still pending. Cancellation is checked before the tasks are polled, so once the
//! token is cancelled no task is polled again. If several critical tasks fail in the same
//! poll, the error names the first one polled (the first polled rotates, for fairness).
//!
//! # Costs
//!
//! [`FanOut`] allocates nothing on the heap: the tasks and two timers (one for the deadline,
//! one re-armed at the earliest pending task timeout) live in the future itself (checked by a
//! counting-allocator test). [`TaskRunner`] boxes each
//! task's state and polls it through a `FuturesUnordered`, two allocations per task. Task
//! spans cost nothing unless a `tracing` subscriber enables them. Policies allocate nothing
//! per call either; a fn with a retry budget builds it once, on its first call.
//!
//! [`CancellationToken`]: tokio_util::sync::CancellationToken

mod boundary;
mod context;
mod criticality;
mod error;
mod fan_out;
mod names;
pub mod policy;
mod report;
mod runner;
mod slot;
mod standalone;
mod task;
mod timer;
mod watch;
mod with_report;

pub use crate::context::{deadline, remaining};
pub use crate::criticality::{BestEffort, Critical, Criticality};
pub use crate::error::{FanOutError, Rejection, TaskError};
pub use crate::fan_out::{Branches, FanOut, IntoBranches};
pub use crate::policy::{
    Breaker, BreakerState, Budget, Fallback, Limit, NoFallback, Options, Policy, PolicyBuilder,
    Retry,
};
pub use crate::report::{Outcome, Report, TaskRecord};
pub use crate::runner::{Claim, Handle, Handles, Results, RunAll, TaskRunner};
pub use crate::slot::TaskSlot;
pub use crate::standalone::TaskFuture;
pub use crate::task::Task;
pub use crate::with_report::{Run, WithReport};
pub use runner_macros::{fan_out, task};
pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub mod __private;
