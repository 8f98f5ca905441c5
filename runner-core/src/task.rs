//! A task: a named future with a criticality and an optional timeout.

use std::error::Error as StdError;
use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use futures::TryFuture;

use crate::criticality::{BestEffort, Critical, Criticality};
use crate::standalone::TaskFuture;

/// A named future producing `Result<T, E>`, with a criticality `C` and an optional timeout.
///
/// Nothing runs until the task is awaited, put in a [`FanOut`](crate::FanOut), or added to a
/// [`TaskRunner`](crate::TaskRunner). The `#[task]` attribute builds these; by hand:
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Task, TaskError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = Task::best_effort("scratch_card", async { Ok::<u32, std::io::Error>(7) })
///     .timeout(Duration::from_millis(150));
/// assert_eq!(task.name(), "scratch_card");
///
/// // Awaited on its own, a task runs under its timeout and keeps its error type.
/// let card: Result<u32, TaskError<std::io::Error>> = task.await;
/// assert_eq!(card.unwrap(), 7);
/// # }
/// ```
#[must_use = "a task does nothing until it is awaited or fanned out"]
pub struct Task<F, C> {
    pub(crate) name: &'static str,
    pub(crate) timeout: Option<Duration>,
    pub(crate) future: F,
    criticality: PhantomData<fn() -> C>,
}

impl<F> Task<F, Critical> {
    /// A critical task: its failure fails the fan-out, its slot is `T`.
    pub fn critical(name: &'static str, future: F) -> Self {
        Self::new(name, future)
    }
}

impl<F> Task<F, BestEffort> {
    /// A best-effort task: its failure degrades its slot, `Result<T, TaskError<E>>`.
    pub fn best_effort(name: &'static str, future: F) -> Self {
        Self::new(name, future)
    }
}

impl<F, C: Criticality> Task<F, C> {
    /// A task whose criticality is given by its type, for code generic over it.
    pub fn new(name: &'static str, future: F) -> Self {
        Self {
            name,
            timeout: None,
            future,
            criticality: PhantomData,
        }
    }

    /// Sets the task's own timeout, replacing any earlier one.
    ///
    /// The clock starts when the task starts; when it elapses the future is dropped. Inside
    /// a fan-out with a deadline, the task stops at whichever comes first.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the task's own timeout if there is one.
    pub(crate) fn timeout_if(self, timeout: Option<Duration>) -> Self {
        match timeout {
            Some(timeout) => self.timeout(timeout),
            None => self,
        }
    }

    /// Removes the task's own timeout; a fan-out deadline still applies.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The same task, critical: its slot becomes `T`.
    pub fn into_critical(self) -> Task<F, Critical> {
        self.with_criticality()
    }

    /// The same task, best-effort: its slot becomes `Result<T, TaskError<E>>`.
    pub fn into_best_effort(self) -> Task<F, BestEffort> {
        self.with_criticality()
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The task's own timeout, if it has one.
    pub fn own_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// `true` if the task is critical.
    pub fn is_critical(&self) -> bool {
        C::CRITICAL
    }

    fn with_criticality<D: Criticality>(self) -> Task<F, D> {
        Task {
            name: self.name,
            timeout: self.timeout,
            future: self.future,
            criticality: PhantomData,
        }
    }
}

impl<F, C: Criticality> fmt::Debug for Task<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("critical", &C::CRITICAL)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Awaiting a task on its own runs it under its timeout (and any enclosing deadline), catching
/// a panic: the result is `Result<T, TaskError<E>>` whatever its criticality.
impl<F, C> IntoFuture for Task<F, C>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
{
    type Output = Result<F::Ok, crate::TaskError<F::Error>>;
    type IntoFuture = TaskFuture<F>;

    fn into_future(self) -> TaskFuture<F> {
        TaskFuture::new(self.name, self.timeout, self.future, C::CRITICAL)
    }
}
