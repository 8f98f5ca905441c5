//! What happened to each task of a run, for `Server-Timing` headers, metrics and logs.

use std::fmt;
use std::time::Duration;

use crate::names::Names;

/// How one task of a fan-out ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned a value.
    Ok,
    /// It returned an error of its own.
    Failed,
    /// Its own timeout elapsed.
    TimedOut,
    /// The fan-out's deadline cut it (or it never started before the deadline).
    DeadlineExceeded,
    /// It panicked.
    Panicked,
    /// Its policy refused the call (circuit breaker open, or concurrency limit reached).
    Rejected,
    /// It failed, and its policy's fallback gave the value in its slot.
    Fallback,
    /// The fan-out ended before it did (a critical failure elsewhere, or cancellation),
    /// so it was dropped, or never started.
    Cancelled,
}

impl Outcome {
    /// Every outcome, e.g. to start a metric's series at 0.
    pub const ALL: [Self; 8] = [
        Self::Ok,
        Self::Failed,
        Self::TimedOut,
        Self::DeadlineExceeded,
        Self::Panicked,
        Self::Rejected,
        Self::Fallback,
        Self::Cancelled,
    ];

    /// What a task of a run that succeeded may end with, short of a value of its own.
    const DEGRADED: [Self; 6] = [
        Self::Failed,
        Self::TimedOut,
        Self::DeadlineExceeded,
        Self::Panicked,
        Self::Rejected,
        Self::Fallback,
    ];

    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::DeadlineExceeded => "deadline",
            Self::Panicked => "panicked",
            Self::Rejected => "rejected",
            Self::Fallback => "fallback",
            Self::Cancelled => "cancelled",
        }
    }

    /// `true` unless the task returned a value of its own: a fallback's value counts as a
    /// failure (the response is degraded).
    pub fn is_failure(self) -> bool {
        self != Self::Ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task's line in a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's name.
    pub name: &'static str,
    /// Whether the task was critical.
    pub critical: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// From its start to its end; zero if it never started.
    pub elapsed: Duration,
}

/// The report of one run: a [`TaskRecord`] per task, in the order the tasks were written.
///
/// The static engine keeps the records in an array (`Report<[TaskRecord; N]>`, no heap),
/// the dynamic one in a `Vec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<R = Vec<TaskRecord>> {
    tasks: R,
    elapsed: Duration,
}

impl<R: AsRef<[TaskRecord]>> Report<R> {
    pub(crate) fn new(tasks: R, elapsed: Duration) -> Self {
        Self { tasks, elapsed }
    }

    /// The records, in the order the tasks were written.
    pub fn tasks(&self) -> &[TaskRecord] {
        self.tasks.as_ref()
    }

    /// From the fan-out's first poll to its end.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The tasks that did not return a value.
    pub fn failures(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks()
            .iter()
            .filter(|record| record.outcome.is_failure())
    }

    /// The record of the first task named `name`.
    pub fn get(&self, name: &str) -> Option<&TaskRecord> {
        self.tasks().iter().find(|record| record.name == name)
    }

    /// The records, handing over their storage.
    pub fn into_tasks(self) -> R {
        self.tasks
    }
}

/// `true` if a subscriber would take [`warn_degraded`]'s event.
pub(crate) fn warns() -> bool {
    tracing::enabled!(tracing::Level::WARN)
}

/// Logs the one WARN of a run that succeeded with degraded tasks (an error, a timeout, the
/// deadline, a panic, a refusal, or a fallback's value): how many, per outcome, and their
/// names, in the caller's span. Each task's own event is at DEBUG, so that a deadline that
/// cuts 400 tasks is one line, not 400.
///
/// The engines ask [`warns`] first, so that no record is gathered for a subscriber that
/// would not take the event.
pub(crate) fn warn_degraded<I>(records: I)
where
    I: Iterator<Item = TaskRecord> + Clone,
{
    let degraded = records.filter(|record| record.outcome.is_failure());
    let mut counts = [0_usize; Outcome::DEGRADED.len()];
    for record in degraded.clone() {
        if let Some(i) = Outcome::DEGRADED.iter().position(|o| *o == record.outcome) {
            counts[i] += 1;
        }
    }
    let [failed, timed_out, deadline, panicked, rejected, fallback] = counts;
    let total: usize = counts.iter().sum();
    if total > 0 {
        tracing::warn!(
            degraded = total,
            failed,
            timed_out,
            deadline,
            panicked,
            rejected,
            fallback,
            tasks = %Names(degraded.map(|record| record.name)),
            "fan-out degraded",
        );
    }
}
