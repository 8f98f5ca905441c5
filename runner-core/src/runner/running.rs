//! A run that hands out each task as it ends, and takes more tasks while it runs.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::TryFuture;

use super::engine::Engine;
use super::erased::{ErasedSlot, take_typed};
use super::threading::{Holds, Sendable, Threading};
use super::{Handle, Handles, TaskRunner};
use crate::Task;
use crate::criticality::Criticality;
use crate::error::FanOutError;
use crate::report::{Report, TaskRecord};
use crate::timer::Clock;

/// A [`TaskRunner`]'s run that hands out each task as it ends, from
/// [`TaskRunner::start`]; more tasks can be added while it runs, as with tokio's `JoinSet`.
///
/// [`join_next`](Self::join_next) runs the tasks until one ends, and hands it out as a
/// [`Finished`], whose slot is taken with the task's [`Handle`] (or [`Handles`]). The rules
/// are [`run_all`](TaskRunner::run_all)'s:
///
/// - a best-effort task that fails, times out or is cut by the deadline is handed out like
///   any other, its slot an `Err`;
/// - a critical task that fails, and a critical task still running at the deadline, fail
///   the run: `join_next` gives the [`FanOutError`], then `None`, and every other task is
///   dropped;
/// - the deadline counts from the first poll of `join_next`; a task added after it has
///   passed does not start: a best-effort one is handed out cut by it, a critical one fails
///   the run;
/// - the cancellation token ([`cancel_on`](TaskRunner::cancel_on)) fails the run with
///   [`FanOutError::Cancelled`].
///
/// `join_next` gives `None` once every task added so far has been handed out (a cancel made
/// after that fails nothing); adding more goes on with the same run (and the same deadline).
///
/// Unlike tokio's `JoinSet`, whose tasks run on the runtime, the run's tasks run only while
/// `join_next` is awaited, as any future's do. A task that finished while the caller was
/// busy between two calls is seen, and its timeout and the deadline applied, at the next
/// call: a task ready by then is handed out with its value, even if the deadline passed
/// meanwhile (the last chance every timer gives). For the deadline to cut work at its
/// instant, keep awaiting `join_next` (or hand the results to another task). Dropped, it drops the tasks it still
/// holds: nothing goes on running. Each task still costs one allocation, its slot, which the
/// run keeps, with its [`TaskRecord`], until it is dropped: for an endless stream of work,
/// start a run per batch.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Task, TaskRunner};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let mut run = TaskRunner::new().deadline(Duration::from_millis(100)).start();
/// let balance = run.add(Task::critical("balance", async { Ok::<u64, std::io::Error>(1_250) }));
/// let offers = run.add_all([30_u64, 10, 200].map(|ms| {
///     Task::best_effort("offer", async move {
///         tokio::time::sleep(Duration::from_millis(ms)).await;
///         Ok::<u64, std::io::Error>(ms)
///     })
/// }));
///
/// let mut shown = Vec::new();
/// while let Some(finished) = run.join_next().await {
///     let mut finished = finished?;
///     if let Some(balance) = finished.take(&balance) {
///         shown.push(format!("balance {balance}"));
///     } else if let Some((i, offer)) = finished.take_from(&offers) {
///         match offer {
///             Ok(ms) => shown.push(format!("offer {i} after {ms} ms")),
///             Err(error) => shown.push(format!("offer {i}: {error}")),
///         }
///     }
/// }
/// assert_eq!(
///     shown,
///     [
///         "balance 1250",
///         "offer 1 after 10 ms",
///         "offer 0 after 30 ms",
///         "offer 2: cut by the fan-out deadline",
///     ]
/// );
/// # Ok(())
/// # }
/// ```
///
/// Tasks can be added as results come in, here one more page for each page that had one:
///
/// ```
/// use runner_core::{Task, TaskRunner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// async fn page(n: u32) -> Result<Option<u32>, std::io::Error> {
///     Ok((n < 3).then_some(n + 1))
/// }
///
/// let mut run = TaskRunner::new().start();
/// let mut pages = vec![run.add(Task::critical("page", page(0)))];
/// let mut seen = 0;
/// while let Some(finished) = run.join_next().await {
///     let mut finished = finished?;
///     let next = pages.iter().find_map(|handle| finished.take(handle));
///     seen += 1;
///     if let Some(Some(n)) = next {
///         pages.push(run.add(Task::critical("page", page(n))));
///     }
/// }
/// assert_eq!(seen, 4);
/// # Ok(())
/// # }
/// ```
#[must_use = "a run does nothing until `join_next` is awaited"]
pub struct Running<'a, M: Threading = Sendable> {
    // Boxed so that the run is not pinned by its caller: `join_next` takes `&mut self`, as
    // `JoinSet`'s does. One allocation per run.
    engine: Pin<Box<Engine<'a, M>>>,
    // Set once the run has failed: its tasks are dropped, and it hands out nothing more.
    failed: bool,
}

impl<'a, M: Threading> Running<'a, M> {
    pub(super) fn new(runner: TaskRunner<'a, M>) -> Self {
        Self {
            engine: Box::pin(Engine::new(runner, true)),
            failed: false,
        }
    }

    /// Adds a task; it starts at the next poll of [`join_next`](Self::join_next), within
    /// the concurrency limit. After the run has failed, it never starts.
    ///
    /// # Panics
    ///
    /// As [`TaskRunner::add`], at the `u32::MAX`th task.
    pub fn add<F, C>(&mut self, task: Task<F, C>) -> Handle<C, F::Ok, F::Error>
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        let index = self.engine.as_mut().add(task);
        Handle::new(self.engine.runner(), index)
    }

    /// Adds many tasks of one type, as [`add`](Self::add) does each.
    ///
    /// # Panics
    ///
    /// As [`TaskRunner::add`], at the `u32::MAX`th task.
    pub fn add_all<F, C, I>(&mut self, tasks: I) -> Handles<C, F::Ok, F::Error>
    where
        I: IntoIterator<Item = Task<F, C>>,
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        let start = self.engine.slots().len();
        let tasks = tasks.into_iter();
        self.engine.as_mut().reserve::<F, C>(tasks.size_hint().0);
        for task in tasks {
            self.engine.as_mut().add(task);
        }
        Handles::new(self.engine.runner(), start..self.engine.slots().len())
    }

    /// How many tasks [`join_next`](Self::join_next) has still to hand out: running,
    /// waiting to start, or ended and not handed out yet (as `JoinSet::len`). `0` once the
    /// run has failed.
    pub fn len(&self) -> usize {
        match self.failed {
            true => 0,
            false => self.engine.unfinished() + self.engine.ended(),
        }
    }

    /// The run's report: a record per task added, in that order, and the time since its
    /// start. Complete once `join_next` has given `None` or an `Err`; until then a task still
    /// running, or waiting to start, reads [`Outcome::Cancelled`](crate::Outcome::Cancelled).
    pub fn report(&self) -> Report {
        let mut clock = Clock::default();
        Report::new(
            self.engine
                .slots()
                .iter()
                .map(|slot| slot.record())
                .collect(),
            self.engine.elapsed(&mut clock),
        )
    }

    /// `true` if [`join_next`](Self::join_next) has nothing left to hand out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the tasks until one ends, and hands it out; `None` once every task added so far
    /// has been handed out, or after the run failed. `Err` once, when the run fails (see
    /// [`Running`]).
    ///
    /// Cancel safe: a task that ends while the future is dropped unfinished is handed out
    /// by the next call.
    pub async fn join_next(&mut self) -> Option<Result<Finished<'_, 'a, M>, FanOutError>> {
        let next = std::future::poll_fn(|cx| self.poll_join_next(cx)).await?;
        Some(next.map(|index| Finished {
            runner: self.engine.runner(),
            index,
            slot: self.engine.as_mut().slot(index),
        }))
    }

    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<usize, FanOutError>>> {
        // Nothing left to hand out (`len` is 0 once the run has failed): a cancel made since
        // fails nothing.
        if self.is_empty() {
            return Poll::Ready(None);
        }
        let mut clock = Clock::default();
        // Driven even with tasks ended and not handed out yet, so that the places they freed
        // are taken now, not once the caller has taken them all.
        let polled = match self.engine.is_cancelled() {
            true => Poll::Ready(Err(FanOutError::Cancelled)),
            false => self.engine.as_mut().poll_tasks(cx, &mut clock),
        };
        let result = match polled {
            Poll::Ready(Err(error)) => Err(error),
            _ if self.engine.is_cancelled() => Err(FanOutError::Cancelled),
            polled => {
                return match self.engine.as_mut().pop_ended() {
                    Some(index) => Poll::Ready(Some(Ok(index))),
                    None => polled.map(|_| None),
                };
            }
        };
        self.failed = true;
        let (result, _) = self.engine.as_mut().conclude(result, true, &mut clock);
        Poll::Ready(result.err().map(Err))
    }
}

impl<M: Threading> Drop for Running<'_, M> {
    fn drop(&mut self) {
        // A run that failed has told its observer; one dropped tells it now, its unfinished
        // tasks cancelled.
        if !self.failed && self.engine.is_started() {
            let mut clock = Clock::default();
            // A cancel made after every task had ended fails nothing.
            let cancel_wins = self.engine.unfinished() > 0;
            self.engine.as_mut().cancel_unfinished(&mut clock);
            let _ = self
                .engine
                .as_mut()
                .conclude(Ok(()), cancel_wins, &mut clock);
        }
    }
}

impl<M: Threading> fmt::Debug for Running<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("tasks", &self.engine.slots().len())
            .field("len", &self.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// A task that ended, handed out by [`Running::join_next`]: its slot is taken with its
/// [`Handle`], or with the [`Handles`] it was added with.
pub struct Finished<'r, 'a, M: Threading = Sendable> {
    slot: Pin<&'r mut M::Slot<'a>>,
    runner: u64,
    index: usize,
}

impl<M: Threading> Finished<'_, '_, M> {
    /// Its place among the run's tasks, in the order they were added.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How it ended: its name, label, criticality, outcome and time.
    pub fn record(&self) -> TaskRecord {
        self.slot.record()
    }

    /// Takes its slot if `handle` stands for it; `None` if it stands for another task (or
    /// another runner's), or if the slot was taken already.
    pub fn take<C: Criticality, T, E>(
        &mut self,
        handle: &Handle<C, T, E>,
    ) -> Option<C::Slot<T, E>> {
        if (handle.runner, handle.index) != (self.runner, self.index) {
            return None;
        }
        // SAFETY: the handle is this task's: its runner's, made for the task added at this
        // index.
        unsafe { take_typed::<_, C, T, E>(self.slot.as_mut()) }
    }

    /// Takes its slot if it is one of `handles`' tasks, with its place among them; `None`
    /// otherwise, or if the slot was taken already.
    pub fn take_from<C: Criticality, T, E>(
        &mut self,
        handles: &Handles<C, T, E>,
    ) -> Option<(usize, C::Slot<T, E>)> {
        if handles.runner != self.runner || !handles.range.contains(&self.index) {
            return None;
        }
        // SAFETY: as in `take`: the handles were made for the tasks their runner added in
        // their range, this one among them.
        let slot = unsafe { take_typed::<_, C, T, E>(self.slot.as_mut()) }?;
        Some((self.index - handles.range.start, slot))
    }
}

impl<M: Threading> fmt::Debug for Finished<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("index", &self.index)
            .field("record", &self.record())
            .finish()
    }
}
