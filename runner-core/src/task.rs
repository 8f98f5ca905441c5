//! A task: a named future with a criticality and an optional timeout.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use futures::TryFuture;
use futures::future::{BoxFuture, LocalBoxFuture};

use crate::criticality::{BestEffort, Critical, Criticality};
use crate::label::Label;
use crate::policy::{Coalesce, Coalesced};
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
    pub(crate) label: Option<Label>,
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
            label: None,
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

    /// Labels this call of the task: an id or a short key, shown beside its name in errors
    /// (``critical task `profile[17]` failed``), its record, `Server-Timing` and its span.
    /// `#[task(label = <expr>)]` sets it from the fn's arguments.
    pub fn label(mut self, label: impl Into<Label>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The task's label, if it has one.
    pub fn task_label(&self) -> Option<Label> {
        self.label
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
            label: self.label,
            timeout: self.timeout,
            future: self.future,
            criticality: PhantomData,
        }
    }
}

/// A task whose future is boxed: one type for every task fn with the same output, so that a
/// trait method can return it and a trait object can hold it (see [`Task::boxed`]).
pub type BoxTask<'a, T, E, C> = Task<BoxFuture<'a, Result<T, E>>, C>;

/// A [`BoxTask`] whose future need not be `Send`, for a current-thread runtime or a
/// `LocalSet` (see [`Task::boxed_local`]).
pub type LocalBoxTask<'a, T, E, C> = Task<LocalBoxFuture<'a, Result<T, E>>, C>;

impl<F, C: Criticality> Task<F, C> {
    /// The same task with its future boxed: its name, criticality and timeout stay, and so
    /// does everything its future does (a policy's retries, refusals and fallback), because it
    /// is the same future, only behind a pointer. One allocation, made here.
    ///
    /// This is what a trait object's method returns. `#[task(..., boxed)]` writes the call:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runner_core::{BoxTask, Critical, fan_out, task};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("wallet unavailable")]
    /// struct WalletError;
    ///
    /// trait Wallet: Send + Sync {
    ///     fn balance(&self, user: u64) -> BoxTask<'_, u64, WalletError, Critical>;
    /// }
    ///
    /// struct Fixed;
    ///
    /// impl Wallet for Fixed {
    ///     #[task(critical, timeout = "200ms", boxed)]
    ///     async fn balance(&self, user: u64) -> Result<u64, WalletError> {
    ///         Ok(user * 100)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let wallet: Arc<dyn Wallet> = Arc::new(Fixed);
    /// let (balance,) = fan_out!(wallet.balance(7)).await.unwrap();
    /// assert_eq!(balance, 700);
    /// # }
    /// ```
    pub fn boxed<'a, T, E>(self) -> BoxTask<'a, T, E, C>
    where
        F: Future<Output = Result<T, E>> + Send + 'a,
    {
        self.map_future(|future| Box::pin(future) as BoxFuture<'a, Result<T, E>>)
    }

    /// [`boxed`](Self::boxed), for a future that is not `Send`.
    pub fn boxed_local<'a, T, E>(self) -> LocalBoxTask<'a, T, E, C>
    where
        F: Future<Output = Result<T, E>> + 'a,
    {
        self.map_future(|future| Box::pin(future) as LocalBoxFuture<'a, Result<T, E>>)
    }

    /// The same task, coalesced in `group` with the calls of the same `key` in flight: while
    /// one of them runs, the others wait for its result instead of running their own (see
    /// [`Coalesce`]). Each keeps its own timeout, deadline and criticality; when the one that
    /// runs ends first, a waiting one takes over with its own future.
    /// `#[task(coalesce(key = ...))]` writes the call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::policy::Coalesce;
    /// use runner_core::{Task, fan_out};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cards: Coalesce<u64, u32, std::sync::Arc<std::io::Error>> = Coalesce::new();
    /// let card = |id: u64| {
    ///     Task::best_effort("card", async move { Ok(id as u32 * 2) }).coalesce(&cards, id)
    /// };
    /// let (first, second) = fan_out!(card(7), card(7)).await.unwrap();
    /// assert_eq!((first.unwrap(), second.unwrap()), (14, 14));
    /// # }
    /// ```
    pub fn coalesce<K, T, E>(
        self,
        group: &Coalesce<K, T, E>,
        key: K,
    ) -> Task<Coalesced<'_, K, T, E, F>, C>
    where
        F: Future<Output = Result<T, E>>,
        K: Hash + Eq + Clone,
        T: Clone,
        E: Clone,
    {
        let name = self.name;
        self.map_future(|future| group.call(name, key, future))
    }

    fn map_future<G>(self, map: impl FnOnce(F) -> G) -> Task<G, C> {
        Task {
            name: self.name,
            label: self.label,
            timeout: self.timeout,
            future: map(self.future),
            criticality: PhantomData,
        }
    }
}

impl<F, C: Criticality> fmt::Debug for Task<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("label", &self.label)
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
        TaskFuture::new(
            self.name,
            self.label,
            self.timeout,
            self.future,
            C::CRITICAL,
        )
    }
}
