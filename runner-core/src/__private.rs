//! Not public API: what the engines' public traits mention and what the macros expand to.
//! Generated code reaches everything through `::runner_core::__private::…`, so that it
//! depends on no name in the caller's scope.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use crate::CancellationToken;
use crate::criticality::Criticality;
pub use crate::criticality::{BestEffort, Critical};
pub use crate::fan_out::FanOut;
pub use crate::slot::{Clock, Cuts, OwnTimer, SharedTimer, TaskTimer};
pub use crate::task::Task;
pub use crate::turn::Turn;

/// The task a `#[task]` fn builds.
pub fn new_task<C: Criticality, F>(
    name: &'static str,
    timeout: Option<Duration>,
    future: F,
) -> Task<F, C> {
    with_timeout(Task::new(name, future), timeout)
}

/// What a `#[task]` fn must return.
#[diagnostic::on_unimplemented(
    message = "a `#[task]` fn must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "the task's error `E` is what a best-effort slot keeps when the task fails"
)]
pub trait TaskOutput {
    /// The task's error type.
    type Error;
    /// The task's value type.
    type Value;
}

impl<T, E> TaskOutput for Result<T, E> {
    type Error = E;
    type Value = T;
}

/// Options pinned to the fn's `Result<T, E>`, so that a `when` or fallback of the wrong type
/// is reported at its path.
pub fn options_for<R: TaskOutput>() -> Options<R::Value, R::Error> {
    Options::new()
}

/// A copy of an argument for one attempt (arguments whose type cannot be named).
pub fn copy_for_attempt<T: AttemptArg>(value: &T) -> T {
    value.for_attempt()
}

/// What a task's error must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's error",
    label = "not `std::error::Error + Send + Sync + 'static`",
    note = "a task's error must implement `std::error::Error + Send + Sync + 'static`, so that a critical failure can carry it in a `FanOutError`; `thiserror` derives `Error` for your own type"
)]
pub trait TaskErrorType {}

#[diagnostic::do_not_recommend]
impl<E: StdError + Send + Sync + 'static> TaskErrorType for E {}

/// Checked at a `#[task]` fn's return type.
pub fn assert_task_output<R: TaskOutput>() {}

/// Checked at a `#[task]` fn's error type, where it is written out.
pub fn assert_task_error<E: TaskErrorType>() {}

/// Checked at a `#[task]` fn's return type, where its error type is not written out (an
/// alias such as `io::Result<T>`).
pub fn assert_task_output_error<R>()
where
    R: TaskOutput,
    R::Error: TaskErrorType,
{
}

/// What `fan_out!` accepts as a task.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a task",
    label = "not a `runner_core::Task`",
    note = "annotate its async fn with `#[task(critical)]` or `#[task(best_effort)]`, or build it with `Task::critical(name, future)` or `Task::best_effort(name, future)`"
)]
pub trait IntoTask {
    /// The task's future.
    type Future;
    /// The task's criticality.
    type Criticality;

    /// The task. (Not `into_task`, so that rustc does not suggest this hidden method for a
    /// call of the `into_task` fn below.)
    fn to_task(self) -> Task<Self::Future, Self::Criticality>;
}

#[diagnostic::do_not_recommend]
impl<F, C> IntoTask for Task<F, C> {
    type Future = F;
    type Criticality = C;

    fn to_task(self) -> Self {
        self
    }
}

/// Each task given to `fan_out!`.
///
/// The output's parameters are inferred rather than projected from `T`, so that a value
/// that is not a task is reported once, at the value, and not again where its output is
/// used.
pub fn into_task<T, F, C>(task: T) -> Task<F, C>
where
    T: IntoTask<Future = F, Criticality = C>,
{
    task.to_task()
}

/// `fan_out!(cancel = token; ...)` takes a token or a reference to one.
pub fn cancel_token(token: &CancellationToken) -> CancellationToken {
    token.clone()
}

pub use crate::policy::{Breaker, Budget, Limit, NoFallback, Options, Policy, Retry};

/// The task a `#[task]` fn with retries or hedges builds: each attempt calls `attempt`.
pub fn policy_task<C, A, F, T, E, FB, const HEDGES: usize>(
    name: &'static str,
    timeout: Option<Duration>,
    policy: &'static Policy<HEDGES>,
    options: Options<T, E, FB>,
    attempt: A,
) -> Task<impl Future<Output = Result<T, E>> + use<C, A, F, T, E, FB, HEDGES>, C>
where
    C: Criticality,
    A: Fn() -> F,
    F: Future<Output = Result<T, E>>,
    FB: crate::policy::Fallback<T, E>,
{
    with_timeout(policy.task(name, attempt, options), timeout)
}

/// The task a `#[task]` fn with only a breaker, a limit or a fallback builds: one attempt.
pub fn policy_task_once<C, F, T, E, FB, const HEDGES: usize>(
    name: &'static str,
    timeout: Option<Duration>,
    policy: &'static Policy<HEDGES>,
    options: Options<T, E, FB>,
    future: F,
) -> Task<impl Future<Output = Result<T, E>> + use<C, F, T, E, FB, HEDGES>, C>
where
    C: Criticality,
    F: Future<Output = Result<T, E>>,
    FB: crate::policy::Fallback<T, E>,
{
    with_timeout(policy.once(name, future, options), timeout)
}

fn with_timeout<F, C: Criticality>(task: Task<F, C>, timeout: Option<Duration>) -> Task<F, C> {
    match timeout {
        Some(timeout) => task.timeout(timeout),
        None => task,
    }
}

/// An argument of a `#[task]` fn with retries or hedges: each attempt gets its own copy.
#[diagnostic::on_unimplemented(
    message = "`retry` and `hedge` give each attempt its own copy of the arguments, and `{Self}` is not `Clone`",
    label = "not `Clone`",
    note = "take the argument by shared reference (`&T`), or wrap it in an `Arc`; a `&mut` argument cannot be shared by attempts that may run at once"
)]
pub trait AttemptArg: Sized {
    /// A copy for the next attempt.
    fn for_attempt(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> AttemptArg for T {
    fn for_attempt(&self) -> Self {
        self.clone()
    }
}
