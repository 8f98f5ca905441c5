//! The dynamic engine: any number of tasks, of mixed types, added at run time.

mod arena;
mod engine;
mod erased;
mod handle;
mod results;
mod run_all;
mod running;
mod slots;
mod threading;
mod wakeups;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::TryFuture;
use std::error::Error as StdError;
use tokio_util::sync::CancellationToken;

pub use self::handle::{Claim, Handle, Handles};
pub use self::results::Results;
pub use self::run_all::RunAll;
pub use self::running::{Finished, Running};
use self::slots::Slots;
pub use self::threading::{Holds, Local, Sendable, Threading};
use crate::Task;
use crate::criticality::Criticality;

/// Runs any number of tasks concurrently, each added at run time and given back by a typed
/// [`Handle`].
///
/// It follows the same rules as [`FanOut`](crate::FanOut), polls only the tasks that woke,
/// and can cap how many tasks are in flight. A task costs no heap allocation of its own: its
/// state goes in an arena of the run's (room of exactly their size for tasks added together
/// before any other, by `add_all`, else chunks that double), its waker is an entry in a
/// table of the run's (sized to the tasks it starts with, then grown 256 at a time), and the
/// run keeps one timer for every task's own timeout.
///
/// Its tasks must be `Send`, so that the run is (for `tokio::spawn` and axum handlers);
/// [`LocalTaskRunner`] takes tasks that are not. Tasks and their values may borrow from the
/// caller for `'a`; their error types must be `'static`, as a critical task's error goes into
/// the [`FanOutError`](crate::FanOutError).
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Task, TaskError, TaskRunner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let mut runner = TaskRunner::new().deadline(Duration::from_millis(300));
/// let balance = runner.add(Task::critical("balance", async { Ok::<u64, std::io::Error>(1_250) }));
/// let offers = runner.add_all((1..=3).map(|id| {
///     Task::best_effort("offer", async move { Ok::<u32, std::io::Error>(id * 10) })
/// }));
///
/// let mut results = runner.run_all().await?;
/// let balance: u64 = results.take(balance);
/// let offers: Vec<Result<u32, TaskError<std::io::Error>>> = results.take(offers);
/// assert_eq!(balance, 1_250);
/// assert_eq!(offers.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [10, 20, 30]);
/// # Ok(())
/// # }
/// ```
///
/// Values that borrow from the caller come back borrowed:
///
/// ```
/// use runner_core::{Task, TaskRunner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let page = String::from("balance=1250;card=none");
/// let mut runner = TaskRunner::new();
/// let fields = runner.add_all(page.split(';').map(|field| {
///     Task::critical("field", async move { Ok::<&str, std::io::Error>(field) })
/// }));
/// let fields: Vec<&str> = runner.run_all().await?.take(fields);
/// assert_eq!(fields, ["balance=1250", "card=none"]);
/// # Ok(())
/// # }
/// ```
#[must_use = "a runner does nothing until `run_all` is awaited"]
pub struct TaskRunner<'a, M: Threading = Sendable> {
    slots: Slots<'a, M>,
    deadline: Option<Duration>,
    limit: usize,
    cancel: Option<CancellationToken>,
    // Some task has a timeout of its own.
    timers: bool,
    id: u64,
}

/// A [`TaskRunner`] whose tasks need not be `Send`: they may hold an `Rc` or a `RefCell`
/// borrow across an `.await`. Its run is not `Send`: await it on a current-thread runtime, in
/// a `LocalSet`, or in `spawn_local`. Built by [`TaskRunner::local`].
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use runner_core::{Task, TaskRunner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let prices = Rc::new(vec![120_u64, 80, 45]);
/// let mut runner = TaskRunner::local().deadline(Duration::from_millis(200));
/// let totals = runner.add_all((0..3).map(|i| {
///     let prices = Rc::clone(&prices); // `Rc` is not `Send`
///     Task::critical("price", async move {
///         tokio::task::yield_now().await;
///         Ok::<u64, std::io::Error>(prices[i])
///     })
/// }));
/// let totals = runner.run_all().await?.take(totals);
/// assert_eq!(totals, [120, 80, 45]);
/// # Ok(())
/// # }
/// ```
pub type LocalTaskRunner<'a> = TaskRunner<'a, Local>;

impl<'a> TaskRunner<'a> {
    /// An empty runner of `Send` tasks: no deadline, no concurrency limit.
    pub fn new() -> Self {
        Self::empty()
    }

    /// An empty [`LocalTaskRunner`], whose tasks need not be `Send`: no deadline, no
    /// concurrency limit.
    pub fn local() -> LocalTaskRunner<'a> {
        TaskRunner::empty()
    }
}

impl<'a, M: Threading> TaskRunner<'a, M> {
    fn empty() -> Self {
        // Tells one runner's handles from another's: a handle is taken only from the results
        // of the runner that made it. (At a billion runners a second, it wraps in 584 years.)
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            slots: Slots::new(),
            deadline: None,
            limit: usize::MAX,
            cancel: None,
            timers: false,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Sets an overall deadline, counted from the first poll of [`run_all`](Self::run_all);
    /// the same rules as [`FanOut::deadline`](crate::FanOut::deadline).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Runs at most `limit` tasks at once, in the order they were added; the rest start as
    /// others finish, but none at or after the deadline (its slot then says the deadline cut
    /// it). A task's own timeout starts when it starts. A `limit` of 0 is taken as 1.
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Ends the run with [`FanOutError::Cancelled`](crate::FanOutError::Cancelled) when
    /// `token` is cancelled, dropping every task. The token is checked before every task
    /// poll and every start, so a cancel made inside one task's poll stops the others. Each
    /// check takes the token's lock: give each run a token of its own
    /// (`token.child_token()`), not a clone of one that every request shares.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Adds a task; its slot is taken from the [`Results`] with the returned handle.
    ///
    /// # Panics
    ///
    /// At the `u32::MAX`th task: a runner counts its tasks in 32 bits (four billion tasks
    /// would take hundreds of gigabytes first).
    pub fn add<F, C>(&mut self, task: Task<F, C>) -> Handle<C, F::Ok, F::Error>
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        let index = self.slots.len();
        self.hold(task);
        Handle::new(self.id, index)
    }

    /// Adds many tasks of one type; their slots come back in the same order, as a `Vec`.
    ///
    /// # Panics
    ///
    /// As [`add`](Self::add), at the `u32::MAX`th task.
    pub fn add_all<F, C, I>(&mut self, tasks: I) -> Handles<C, F::Ok, F::Error>
    where
        I: IntoIterator<Item = Task<F, C>>,
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        let start = self.slots.len();
        let tasks = tasks.into_iter();
        self.slots.reserve::<F, C>(tasks.size_hint().0);
        for task in tasks {
            self.hold(task);
        }
        Handles::new(self.id, start..self.slots.len())
    }

    fn hold<F, C>(&mut self, task: Task<F, C>)
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        engine::hold::<M, F, C>(&mut self.slots, &mut self.timers, task);
    }

    /// How many tasks have been added.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` if no task has been added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Runs every task; the future gives the [`Results`] or the [`FanOutError`](crate::FanOutError).
    pub fn run_all(self) -> RunAll<'a, M> {
        RunAll::new(self)
    }

    /// Starts a run that hands out each task as it ends ([`Running::join_next`]), and takes
    /// more tasks while it runs, as a `JoinSet` does. The same rules hold; see [`Running`].
    pub fn start(self) -> Running<'a, M> {
        Running::new(self)
    }
}

impl<M: Threading> Default for TaskRunner<'_, M> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<M: Threading> std::fmt::Debug for TaskRunner<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner")
            .field("tasks", &self.slots.len())
            .field("deadline", &self.deadline)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
