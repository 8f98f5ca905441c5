//! The task boundary: where a task's own code runs (a poll of its future) or ends (the drop
//! of its future, its value, its error), under its span and its cutoff, with a panic caught
//! there rather than unwinding into the engine and the caller; and the span itself, opened
//! as the task starts and closed with how it ended.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryFuture;
use tracing::Span;

use crate::context::{self, Verdict, Within};
use crate::error::TaskError;
use crate::label::Label;
use crate::report::Outcome;

/// What one poll of a task's future came to.
pub(crate) enum Polled<T, E> {
    /// It finished: its value (a fallback's, if `fell_back`), its error, a refusal by its
    /// policy, or a panic.
    Done {
        result: Result<T, TaskError<E>>,
        fell_back: bool,
    },
    Pending,
    /// It failed because a run inside it ran out of the time it inherited from the task:
    /// time ran out on the task itself, whatever its error said.
    Expired,
}

impl<T, E> Polled<T, E> {
    fn done(result: Result<T, TaskError<E>>) -> Self {
        Self::Done {
            result,
            fell_back: false,
        }
    }
}

/// Polls a task's future inside the boundary, if it is still there, and reads back what its
/// policy or a run inside it posted (see [`Verdict`]). A future that ended (or panicked) is
/// dropped there too, in the same boundary, so that the task's end needs no second one.
#[inline]
pub(crate) fn poll<F: TryFuture>(
    mut future: Pin<&mut Option<F>>,
    cx: &mut Context<'_>,
    span: &Span,
    within: &Within,
) -> Polled<F::Ok, F::Error> {
    if future.is_none() {
        return Polled::Pending;
    }
    let _entered = span.enter();
    // SAFETY: the closure catches a panic in the poll and in the drop, so it never unwinds.
    let ((polled, verdict), _) = unsafe {
        context::enter(within, || {
            let polled = catch(|| match future.as_mut().as_pin_mut() {
                Some(running) => running.try_poll(cx),
                // Checked above: it is there.
                None => Poll::Pending,
            });
            // Read before the drop below, which is the task's end, not part of its answer.
            let verdict = context::posted();
            if !matches!(polled, Ok(Poll::Pending)) {
                // On unwinding, the assignment still writes `None`: the future is gone either way.
                let _ = catch(|| future.set(None));
            }
            (polled, verdict)
        })
    };
    match (polled, verdict) {
        (Ok(Poll::Pending), Some(Verdict::Rejected(reason))) => {
            Polled::done(Err(TaskError::Rejected(reason)))
        }
        (Ok(Poll::Pending), Some(Verdict::TimedOut(timeout))) => {
            Polled::done(Err(TaskError::TimedOut(timeout)))
        }
        (Ok(Poll::Pending), _) => Polled::Pending,
        // Only a task with a cutoff has a deadline to hand down, and a timer that settles it.
        (Ok(Poll::Ready(Err(error))), Some(Verdict::Expired)) if within.at.is_some() => {
            drop_caught(error);
            Polled::Expired
        }
        (Ok(Poll::Ready(result)), verdict) => Polled::Done {
            fell_back: result.is_ok() && verdict == Some(Verdict::Fallback),
            result: result.map_err(TaskError::Failed),
        },
        (Err(message), _) => Polled::done(Err(TaskError::Panicked(message))),
    }
}

/// Replaces what `place` holds with `next`, dropping the old contents (a task's future, its
/// value) inside the boundary: in its span, under its cutoff, with a panic in their `Drop`
/// caught.
#[inline]
pub(crate) fn replace<T>(mut place: Pin<&mut T>, next: T, span: &Span, within: &Within) {
    let _entered = span.enter();
    // SAFETY: the closure catches a panic in the drop, so it never unwinds.
    unsafe {
        context::enter(within, || {
            // On unwinding, the assignment still writes `next`: the place moves on either way.
            let _ = catch(|| place.set(next));
        })
    };
}

/// Drops `value`, a value of the task's own, with a panic in its `Drop` caught.
pub(crate) fn drop_caught<T>(value: T) {
    let _ = catch(move || drop(value));
}

/// Runs `f`, catching a panic as its message.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(message)
}

fn message(payload: Box<dyn Any + Send>) -> String {
    let message = match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => {
            let message = match payload.downcast_ref::<&'static str>() {
                Some(message) => (*message).to_owned(),
                None => "panic payload is not a string".to_owned(),
            };
            drop_payload(payload);
            message
        }
    };
    with_hint(message)
}

/// A task body's tokio call outside a runtime panics with tokio's words only: the slot says
/// what to do too.
fn with_hint(message: String) -> String {
    let tokio = [
        "Tokio 1.x runtime",
        "no reactor running",
        "timers are disabled",
    ];
    match tokio.iter().any(|words| message.contains(words)) {
        true => format!("{message} ({})", crate::timer::NO_RUNTIME),
        false => message,
    }
}

/// Drops a caught panic's payload. A payload whose own `Drop` panics again is leaked rather
/// than let that second panic unwind (`catch_unwind`'s documented pitfall).
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Shows a value of the task's own (its error) in a log event, with a panic in its `Display`
/// caught: the event then says so instead.
pub(crate) struct Shielded<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Shielded<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match catch(|| fmt::Display::fmt(self.0, f)) {
            Ok(written) => written,
            Err(_) => f.write_str("<its Display panicked>"),
        }
    }
}

/// The span a task runs in. `otel.*` and `error.type` are what `tracing-opentelemetry`
/// names, kinds and marks it by: exported, it is named after the task, not `task`.
pub(crate) fn task_span(name: &'static str, label: Option<&Label>, critical: bool) -> Span {
    tracing::info_span!(
        "task",
        task = name,
        label = label.map(tracing::field::display),
        critical,
        outcome = tracing::field::Empty,
        elapsed_ms = tracing::field::Empty,
        otel.name = name,
        otel.kind = "internal",
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records how the task ended on its span and closes it, so that the span's lifetime is the
/// task's, not that of the slot holding its result.
#[inline]
pub(crate) fn end_span(span: &mut Span, outcome: Outcome, elapsed: Duration) {
    // Most tasks run with no subscriber taking their span: nothing to record then.
    if !span.is_disabled() {
        record_end(span, outcome, elapsed);
    }
}

#[inline(never)]
fn record_end(span: &mut Span, outcome: Outcome, elapsed: Duration) {
    span.record("outcome", outcome.as_str());
    span.record("elapsed_ms", elapsed.as_secs_f64() * 1e3);
    // A task that gave no value of its own failed; one cancelled, or answered by its
    // fallback, did not fail as an operation.
    if outcome.is_failure() && !matches!(outcome, Outcome::Cancelled | Outcome::Fallback) {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", outcome.as_str());
    }
    *span = Span::none();
}
