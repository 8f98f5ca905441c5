//! Watching what the library does, as typed events: an [`Observer`] gets each policy's
//! events ([`PolicyEvent`]) and each run's end ([`RunFinished`]), with each task's outcome.
//!
//! Set one for the process with [`set_observer`], or give a policy its own
//! ([`PolicyBuilder::observer`](crate::PolicyBuilder::observer)). With none, an event is a
//! load and a branch: nothing is built, formatted or allocated.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::FanOutError;
use crate::policy::PolicyEvent;
use crate::report::TaskRecord;

/// Receives events as they happen, on the task's thread: keep it quick (count, record a
/// histogram sample), and never block. Both methods do nothing unless implemented.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use runner_core::{EventKind, Observer, Policy, PolicyEvent, Retry, RunFinished};
///
/// #[derive(Default)]
/// struct Counts {
///     retries: AtomicU64,
///     runs: AtomicU64,
/// }
///
/// impl Observer for Counts {
///     fn on_policy(&self, event: &PolicyEvent<'_>) {
///         if let EventKind::RetryScheduled { .. } = event.kind {
///             self.retries.fetch_add(1, Ordering::Relaxed);
///         }
///     }
///
///     fn on_run(&self, _: &RunFinished<'_>) {
///         self.runs.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let counts = Arc::new(Counts::default());
/// // For one policy (runs are seen by the process's observer, see `set_observer`):
/// let policy = Policy::builder()
///     .retry(Retry::new(3))
///     .observer(counts.clone())
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
pub trait Observer: Send + Sync + 'static {
    /// A policy did something.
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        let _ = event;
    }

    /// A run (`fan_out!`, a `FanOut`, a `TaskRunner`) finished. Only the process's observer
    /// gets runs.
    fn on_run(&self, run: &RunFinished<'_>) {
        let _ = run;
    }
}

/// A run's end: each task's outcome, how long it took, and its error if it failed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RunFinished<'a> {
    /// Each task, in the order given.
    pub tasks: &'a [TaskRecord],
    /// From the run's start to its end.
    pub elapsed: Duration,
    /// Why it failed, if it did.
    pub error: Option<&'a FanOutError>,
}

static GLOBAL: OnceLock<Arc<dyn Observer>> = OnceLock::new();

/// Sets the process's observer, once (as `metrics::set_global_recorder` does): it gets every
/// run's end, and the events of every policy that has no observer of its own. Returns the
/// observer back if one was set already.
pub fn set_observer(observer: Arc<dyn Observer>) -> Result<(), Arc<dyn Observer>> {
    GLOBAL.set(observer)
}

/// The process's observer, if one is set.
#[inline]
pub(crate) fn global() -> Option<&'static dyn Observer> {
    GLOBAL.get().map(|observer| &**observer)
}

/// Tells the process's observer that a run finished; `records` is called only if there is
/// one.
#[inline]
pub(crate) fn run_finished<R: AsRef<[TaskRecord]>>(
    records: impl FnOnce() -> R,
    elapsed: impl FnOnce() -> Duration,
    error: Option<&FanOutError>,
) {
    if let Some(observer) = global() {
        let tasks = records();
        observer.on_run(&RunFinished {
            tasks: tasks.as_ref(),
            elapsed: elapsed(),
            error,
        });
    }
}
