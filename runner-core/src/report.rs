//! What happened to each task of a run, for `Server-Timing` headers, metrics and logs.

use std::fmt;
use std::time::Duration;

use crate::label::Label;
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
    /// The call's label, if it has one (see [`Task::label`](crate::Task::label)).
    pub label: Option<Label>,
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

    /// The run as a `Server-Timing` header's value (W3C Server Timing): one metric per task,
    /// its duration in milliseconds and its outcome, in the order the tasks were written.
    ///
    /// A metric's name is a token: the task's name, then `.` and its label if the call has
    /// one (`profile.17`); a character a token cannot hold (a space, `:`, `/`, a non-ASCII
    /// letter...) is written `_`. The outcome is a quoted string.
    ///
    /// ```
    /// use runner_core::{Task, fan_out};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let balance = Task::critical("get_balance", async { Ok::<u32, std::io::Error>(1) });
    /// let card = Task::best_effort("scratch card", async {
    ///     Err::<u32, _>(std::io::Error::other("down"))
    /// });
    /// let (_, report) = fan_out!(report; balance, card).await;
    /// assert_eq!(
    ///     report.server_timing().to_string(),
    ///     r#"get_balance;dur=0.0;desc="ok", scratch_card;dur=0.0;desc="failed""#
    /// );
    /// # }
    /// ```
    pub fn server_timing(&self) -> ServerTiming<'_> {
        ServerTiming {
            tasks: self.tasks(),
        }
    }
}

/// A [`Report`] as a `Server-Timing` header's value; see [`Report::server_timing`].
#[derive(Debug, Clone, Copy)]
pub struct ServerTiming<'a> {
    tasks: &'a [TaskRecord],
}

impl fmt::Display for ServerTiming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, record) in self.tasks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // An empty name (`Task::new("")` allows one) would leave no token at all.
            let name = match record.name {
                "" => "_",
                name => name,
            };
            fmt::Write::write_str(&mut Token(f), name)?;
            if let Some(label) = &record.label {
                fmt::Write::write_fmt(&mut Token(f), format_args!(".{label}"))?;
            }
            let millis = record.elapsed.as_secs_f64() * 1000.0;
            write!(f, ";dur={millis:.1};desc=")?;
            quoted(f, record.outcome.as_str())?;
        }
        Ok(())
    }
}

/// Writes a token: each character a token cannot hold is written `_`.
struct Token<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Token<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            let c = match is_tchar(c) {
                true => c,
                false => '_',
            };
            fmt::Write::write_char(self.0, c)?;
        }
        Ok(())
    }
}

/// RFC 9110's `tchar`: what a token, such as a metric's name, is made of.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// RFC 9110's `quoted-string`: `"` and `\` escaped, and what a header cannot hold (control
/// characters, non-ASCII) written `_`.
fn quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' | '\\' => write!(f, "\\{c}")?,
            ' ' | '\t' | '!'..='~' => fmt::Write::write_char(f, c)?,
            _ => f.write_str("_")?,
        }
    }
    f.write_str("\"")
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

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::time::Duration;

    use super::{Outcome, Report, TaskRecord, quoted};

    fn record(name: &'static str, outcome: Outcome, millis: u64) -> TaskRecord {
        TaskRecord {
            name,
            label: None,
            critical: false,
            outcome,
            elapsed: Duration::from_micros(millis * 1000 + 250),
        }
    }

    #[test]
    fn server_timing_names_are_tokens() {
        let tasks = vec![
            record("wallet.get_balance", Outcome::Ok, 3),
            record("card: promo/v2 é", Outcome::TimedOut, 150),
        ];
        let report = Report::new(tasks, Duration::ZERO);
        assert_eq!(
            report.server_timing().to_string(),
            r#"wallet.get_balance;dur=3.2;desc="ok", card__promo_v2__;dur=150.2;desc="timed_out""#
        );
        let mut labelled = record("profile", Outcome::Ok, 1);
        labelled.label = Some(crate::Label::from("eu west"));
        let report = Report::new(vec![labelled], Duration::ZERO);
        assert_eq!(
            report.server_timing().to_string(),
            r#"profile.eu_west;dur=1.2;desc="ok""#
        );
        let empty = Report::new(Vec::new(), Duration::ZERO);
        assert_eq!(empty.server_timing().to_string(), "");
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes_and_drop_what_a_header_cannot_hold() {
        struct Quoted(&'static str);
        impl fmt::Display for Quoted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                quoted(f, self.0)
            }
        }
        assert_eq!(
            Quoted("a \"b\" \\ c\r\né").to_string(),
            r#""a \"b\" \\ c___""#
        );
    }
}
