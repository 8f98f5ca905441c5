//! The two error types: a task's own ([`TaskError`]) and the fan-out's ([`FanOutError`]).

use std::error::Error as StdError;
use std::time::Duration;

use crate::label::{Label, Labelled};
use crate::names::{Count, Names};

/// Why a task produced no value.
///
/// A best-effort slot holds it; awaiting a [`Task`](crate::Task) on its own returns it.
/// The task's own error keeps its type `E`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError<E> {
    /// The task returned an error of its own.
    #[error(transparent)]
    Failed(E),
    /// The task's own timeout elapsed, before any deadline around it; its future was
    /// dropped. The duration is the timeout as configured.
    ///
    /// This is what its slot, its fallback and its critical failure
    /// ([`FanOutError::TaskTimedOut`]) say alike, also when a run inside the task ran out of
    /// the time it inherited from that timeout.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// A deadline around the task passed first: the fan-out's (or one it inherited from an
    /// enclosing task), at or before the task's own timeout. Its future was dropped, or it
    /// never started.
    ///
    /// Again the same in its slot, to its fallback, and as a critical failure (the task is
    /// then named in [`FanOutError::DeadlineExceeded`]).
    #[error("cut by the fan-out deadline")]
    DeadlineExceeded,
    /// The task panicked; the panic was caught at the task boundary.
    #[error("panicked: {0}")]
    Panicked(String),
    /// A policy of the task refused the call before it ran: its circuit breaker was open, or
    /// its concurrency limit was reached. Nothing was sent downstream.
    #[error("rejected: {0}")]
    Rejected(Rejection),
}

/// Why a task's policy refused a call (see [`Policy`](crate::Policy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The policy's circuit breaker is open (or half-open with its probe in flight, or forced
    /// open).
    #[error("circuit breaker open")]
    BreakerOpen,
    /// The policy already has its limit of calls in flight, and is set to reject the excess.
    #[error("concurrency limit reached")]
    LimitReached,
    /// The policy's rate limit has no turn for the call before its timeout or the deadline
    /// (or is set to reject the excess).
    #[error("rate limit reached")]
    RateLimited,
}

impl Rejection {
    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BreakerOpen => "breaker_open",
            Self::LimitReached => "limit_reached",
            Self::RateLimited => "rate_limited",
        }
    }
}

impl<E> TaskError<E> {
    /// The task's own error, if that is why it failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// `true` if the task's own timeout or the fan-out's deadline stopped it.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut(_) | Self::DeadlineExceeded)
    }

    /// A short, stable name for the kind of failure, fit for a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Failed(_) => "failed",
            Self::TimedOut(_) => "timed_out",
            Self::DeadlineExceeded => "deadline",
            Self::Panicked(_) => "panicked",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// Why a fan-out failed: a critical task failed, the deadline passed, or it was cancelled.
///
/// Not generic, so that fan-outs over different error types meet in one type; the failed
/// task's own error is boxed and stays reachable through
/// [`source()`](std::error::Error::source) and [`FanOutError::downcast_ref`].
///
/// The one-line message says what failed and why, for logs and for the `detail` of an HTTP
/// answer: `` critical task `balance` failed: the wallet answered 503 ``. It carries the
/// task's own error's message (not that error's sources), so a formatter that walks
/// `source()` and joins every message repeats that one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FanOutError {
    /// A critical task returned an error.
    #[error("critical task `{}` failed: {source}", Labelled(task, *label))]
    TaskFailed {
        /// The task's name.
        task: &'static str,
        /// The task's label, if the call has one (see [`Task::label`](crate::Task::label)).
        label: Option<Label>,
        /// The task's own error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// A critical task's own timeout elapsed.
    #[error("critical task `{}` timed out after {timeout:?}", Labelled(task, *label))]
    TaskTimedOut {
        /// The task's name.
        task: &'static str,
        /// The task's label, if the call has one.
        label: Option<Label>,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// A critical task panicked.
    #[error("critical task `{}` panicked: {message}", Labelled(task, *label))]
    TaskPanicked {
        /// The task's name.
        task: &'static str,
        /// The task's label, if the call has one.
        label: Option<Label>,
        /// The panic's message, or a placeholder if its payload was not a string.
        message: String,
    },
    /// A critical task's policy refused the call: its circuit breaker was open, or its
    /// concurrency limit was reached.
    #[error("critical task `{}` rejected: {reason}", Labelled(task, *label))]
    TaskRejected {
        /// The task's name.
        task: &'static str,
        /// The task's label, if the call has one.
        label: Option<Label>,
        /// Why it was refused.
        reason: Rejection,
    },
    /// The overall deadline passed while critical tasks were still pending.
    ///
    /// Its message stays short however many there are (`with 500 critical tasks pending:
    /// profile ×500`): how many, and the first few names, each with its count.
    #[error(
        "deadline passed after {elapsed:?} with {} pending: {}",
        Count(pending.len(), "critical task"),
        Names(pending.iter().copied())
    )]
    DeadlineExceeded {
        /// The critical tasks still pending (or never started), every one, in the order they
        /// were written.
        pending: Vec<&'static str>,
        /// How long the fan-out had run.
        elapsed: Duration,
    },
    /// The fan-out's cancellation token was cancelled.
    #[error("fan-out cancelled")]
    Cancelled,
}

impl FanOutError {
    /// `true` if time ran out: a critical task's timeout or the overall deadline.
    ///
    /// A service answers these with 504 rather than 502.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::TaskTimedOut { .. } | Self::DeadlineExceeded { .. }
        )
    }

    /// `true` if the cancellation token ended the fan-out.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// `true` if a critical task itself failed: an error of its own or a panic.
    pub fn is_task_failure(&self) -> bool {
        matches!(self, Self::TaskFailed { .. } | Self::TaskPanicked { .. })
    }

    /// The critical task that failed, if one task is to blame.
    ///
    /// For [`DeadlineExceeded`](Self::DeadlineExceeded), the first pending task.
    pub fn task(&self) -> Option<&'static str> {
        match self {
            Self::TaskFailed { task, .. }
            | Self::TaskTimedOut { task, .. }
            | Self::TaskPanicked { task, .. }
            | Self::TaskRejected { task, .. } => Some(task),
            Self::DeadlineExceeded { pending, .. } => pending.first().copied(),
            Self::Cancelled => None,
        }
    }

    /// The label of the critical task that failed, if one task is to blame and its call has
    /// one.
    pub fn label(&self) -> Option<Label> {
        match self {
            Self::TaskFailed { label, .. }
            | Self::TaskTimedOut { label, .. }
            | Self::TaskPanicked { label, .. }
            | Self::TaskRejected { label, .. } => *label,
            Self::DeadlineExceeded { .. } | Self::Cancelled => None,
        }
    }

    /// The failed task's own error, if it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        match self {
            Self::TaskFailed { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }

    /// A short, stable name for the kind of failure, fit for a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TaskFailed { .. } => "failed",
            Self::TaskTimedOut { .. } => "timed_out",
            Self::TaskPanicked { .. } => "panicked",
            Self::TaskRejected { .. } => "rejected",
            Self::DeadlineExceeded { .. } => "deadline",
            Self::Cancelled => "cancelled",
        }
    }

    /// The error a critical task's failure ends the fan-out with.
    pub(crate) fn from_critical<E>(
        task: &'static str,
        label: Option<Label>,
        error: TaskError<E>,
        elapsed: Duration,
    ) -> Self
    where
        E: StdError + Send + Sync + 'static,
    {
        match error {
            TaskError::Failed(error) => Self::TaskFailed {
                task,
                label,
                source: Box::new(error),
            },
            TaskError::TimedOut(timeout) => Self::TaskTimedOut {
                task,
                label,
                timeout,
            },
            TaskError::Panicked(message) => Self::TaskPanicked {
                task,
                label,
                message,
            },
            TaskError::Rejected(reason) => Self::TaskRejected {
                task,
                label,
                reason,
            },
            TaskError::DeadlineExceeded => Self::DeadlineExceeded {
                pending: vec![task],
                elapsed,
            },
        }
    }
}
