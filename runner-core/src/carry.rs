//! The running task's deadline, carried into work it spawns: `tokio::spawn` and
//! `spawn_blocking` start on another task or thread, where the thread-local the deadline
//! lives in is empty.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::context::{self, Cutoff};

/// The deadline of the running task, as a value: captured where it is known, and entered
/// again in work that runs elsewhere, as Go code passes its `ctx` into a goroutine.
///
/// Inside the work it [`scope`](Self::scope)s (or [`run`](Self::run)s), [`deadline()`] and
/// [`remaining()`] answer as in the task, and a fan-out or a runner started there inherits
/// the deadline. [`spawn`] and [`spawn_blocking`] carry it for you.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Deadline, Task, remaining};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let task = Task::critical("report", async {
///     let deadline = Deadline::current();
///     // `tokio::spawn` alone would lose it: `remaining()` is `None` there.
///     let left = tokio::spawn(deadline.scope(async { remaining() })).await.unwrap();
///     Ok::<_, std::io::Error>(left)
/// })
/// .timeout(Duration::from_millis(200));
/// assert_eq!(task.await.unwrap(), Some(Duration::from_millis(200)));
/// # }
/// ```
///
/// [`deadline()`]: crate::deadline
/// [`remaining()`]: crate::remaining
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline {
    cutoff: Option<Cutoff>,
}

impl Deadline {
    /// The running task's deadline (none outside a task, or in a task without one).
    pub fn current() -> Self {
        Self {
            cutoff: context::cutoff(),
        }
    }

    /// A deadline at `at`: what a service sets from its caller's budget, so that the work it
    /// [`scope`](Self::scope)s answers [`remaining()`] by it and its fan-outs inherit it (a
    /// task under it that runs out of time fails as `TaskError::DeadlineExceeded`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::{Deadline, Task, TaskError, fan_out, remaining};
    /// use tokio::time::{Instant, sleep};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // The caller sent a budget of 100 ms.
    /// let handler = async {
    ///     let slow = Task::best_effort("card", async {
    ///         sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, std::io::Error>(())
    ///     });
    ///     let quick = Task::critical("balance", async { Ok::<_, std::io::Error>(remaining()) });
    ///     fan_out!(quick, slow).await
    /// };
    /// let deadline = Deadline::until(Instant::now() + Duration::from_millis(100));
    /// let (left, card) = deadline.scope(handler).await.unwrap();
    /// assert_eq!(left, Some(Duration::from_millis(100)));
    /// assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
    /// # }
    /// ```
    ///
    /// [`remaining()`]: crate::remaining
    pub fn until(at: Instant) -> Self {
        Self {
            cutoff: Some(Cutoff {
                at,
                own_timeout: None,
            }),
        }
    }

    /// No deadline: [`scope`](Self::scope) adds none to the one the work may already have.
    pub fn none() -> Self {
        Self { cutoff: None }
    }

    /// The instant, if there is one.
    pub fn at(&self) -> Option<Instant> {
        self.cutoff.map(|cutoff| cutoff.at)
    }

    /// The time left, zero once it has passed; `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.at()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// `future`, polled under this deadline wherever it runs (or under the current task's,
    /// where that is earlier: a scope never loosens a deadline).
    ///
    /// It does not stop the future at the deadline (nothing stops a spawned task but its
    /// own end, or aborting it): it is what the work inside reads and inherits, as in the
    /// task itself.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            future,
            deadline: self,
        }
    }

    /// Runs `f` under this deadline: for blocking work, on the thread it runs on.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        context::within(self.cutoff, f)
    }
}

pin_project! {
    /// A future polled under a [`Deadline`]; see [`Deadline::scope`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Scoped<F> {
        #[pin]
        future: F,
        deadline: Deadline,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        context::within(this.deadline.cutoff, || this.future.poll(cx))
    }
}

/// `tokio::spawn`, carrying the running task's deadline into the spawned work.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Task, remaining};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let task = Task::critical("audit", async {
///     let left = runner_core::spawn(async { remaining() }).await.unwrap();
///     Ok::<_, std::io::Error>(left)
/// })
/// .timeout(Duration::from_millis(80));
/// assert_eq!(task.await.unwrap(), Some(Duration::from_millis(80)));
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Deadline::current().scope(future))
}

/// `tokio::task::spawn_blocking`, carrying the running task's deadline into the closure.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let deadline = Deadline::current();
    tokio::task::spawn_blocking(move || deadline.run(f))
}

/// `tokio::task::spawn_local`, carrying the running task's deadline into the spawned work:
/// for work that is not `Send`, inside a `LocalSet` (see
/// [`LocalTaskRunner`](crate::LocalTaskRunner)).
///
/// # Panics
///
/// Outside a `LocalSet`, as `tokio::task::spawn_local` does.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(Deadline::current().scope(future))
}
