//! Rule j: every task runs inside a `tracing` span; a degraded best-effort task warns.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use runner_core::{Task, TaskError};
use support::{Act, Config, Engine, Probe};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;
/// An event: its level, its fields, and the fields of the span it happened in.
type Captured = (Level, Fields, Option<Fields>);

/// Records every span's fields (as finally recorded) and every event, with its span's fields.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<HashMap<u64, (String, Fields)>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.spans
            .lock()
            .unwrap()
            .insert(id.into_u64(), (name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let span = ctx.event_span(event).and_then(|span| {
            self.spans
                .lock()
                .unwrap()
                .get(&span.id().into_u64())
                .map(|s| s.1.clone())
        });
        self.events
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields, span));
    }
}

impl Capture {
    fn task_spans(&self) -> Vec<Fields> {
        let spans = self.spans.lock().unwrap();
        let mut found: Vec<_> = spans
            .iter()
            .filter(|(_, (name, _))| name == "task")
            .map(|(id, (_, fields))| (*id, fields.clone()))
            .collect();
        found.sort_by_key(|(id, _)| *id);
        found.into_iter().map(|(_, fields)| fields).collect()
    }
}

impl Capture {
    /// A capture, set as the thread's default subscriber until the guard is dropped.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let guard = tracing_subscriber::registry()
            .with(capture.clone())
            .set_default();
        (capture, guard)
    }

    /// The WARN events, with the fields of the span each happened in.
    fn warnings(&self) -> Vec<(Fields, Option<Fields>)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|(level, _, _)| *level == Level::WARN)
            .map(|(_, fields, span)| (fields.clone(), span.clone()))
            .collect()
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn j_tasks_run_in_spans_and_degradation_warns<E: Engine>() {
    let (capture, _guard) = Capture::install();
    let probe = Probe::new();
    let (result, _) = E::run2(
        Task::critical("balance", async {
            tracing::info!("fetching balance");
            tokio::time::sleep(support::ms(10)).await;
            Ok(1)
        }),
        Task::best_effort("card", probe.task(5, Act::Err, 2)),
        Config::default(),
    )
    .await;
    assert!(result.is_ok());

    let spans = capture.task_spans();
    assert_eq!(
        spans,
        [
            // Named after the task for OpenTelemetry; a failure is marked as one.
            fields(&[
                ("task", "balance"),
                ("critical", "true"),
                ("otel.name", "balance"),
                ("otel.kind", "internal"),
                ("outcome", "ok"),
                ("elapsed_ms", "10.0")
            ]),
            fields(&[
                ("task", "card"),
                ("critical", "false"),
                ("otel.name", "card"),
                ("otel.kind", "internal"),
                ("outcome", "failed"),
                ("elapsed_ms", "5.0"),
                ("otel.status_code", "ERROR"),
                ("error.type", "failed")
            ]),
        ]
    );

    let events = capture.events.lock().unwrap();
    // An event inside the task's future lands in the task's span.
    let (level, _, span) = events
        .iter()
        .find(|(_, fields, _)| {
            fields.get("message").map(String::as_str) == Some("fetching balance")
        })
        .expect("the task's own event was captured");
    assert_eq!(*level, Level::INFO);
    assert_eq!(span.as_ref().unwrap()["task"], "balance");
    // The degraded best-effort task is a DEBUG event in its span that says why...
    let degraded: Vec<_> = events
        .iter()
        .filter(|(_, fields, _)| {
            fields.get("message").map(String::as_str) == Some("best-effort task degraded")
        })
        .collect();
    assert_eq!(degraded.len(), 1);
    let (level, event, span) = degraded[0];
    assert_eq!(*level, Level::DEBUG);
    assert_eq!(event["task"], "card");
    assert_eq!(event["error"], "boom 2");
    assert_eq!(span.as_ref().unwrap()["task"], "card");
    drop(events);
    // ...and the run's one WARN sums up what degraded, in the caller's span.
    let warnings = capture.warnings();
    assert_eq!(warnings.len(), 1);
    let (warning, span) = &warnings[0];
    assert_eq!(warning["message"], "fan-out degraded");
    assert_eq!(
        (
            &*warning["degraded"],
            &*warning["failed"],
            &*warning["tasks"]
        ),
        ("1", "1", "card")
    );
    assert!(span.is_none());
}

/// However many tasks degraded, a run logs one WARN: the counts per outcome, and the names.
async fn one_warn_sums_up_every_degraded_task_of_a_run<E: Engine>() {
    let (capture, _guard) = Capture::install();
    let probe = Probe::new();
    let (result, _) = E::run3(
        Task::best_effort("card", probe.task(5, Act::Err, 1)),
        Task::best_effort("offer", probe.task(0, Act::Hang, 2)).timeout(support::ms(10)),
        Task::best_effort("offer", probe.task(0, Act::Hang, 3)),
        Config::deadline(20),
    )
    .await;
    assert!(result.is_ok());
    let warnings = capture.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0].0;
    let counts: Vec<_> = [
        "degraded",
        "failed",
        "timed_out",
        "deadline",
        "panicked",
        "rejected",
        "fallback",
    ]
    .iter()
    .map(|field| warning[*field].as_str())
    .collect();
    assert_eq!(counts, ["3", "1", "1", "1", "0", "0", "0"]);
    assert_eq!(warning["tasks"], "card, offer ×2");
}

/// A run whose tasks all did their work logs no WARN.
async fn a_run_without_degraded_tasks_does_not_warn<E: Engine>() {
    let (capture, _guard) = Capture::install();
    let probe = Probe::new();
    let (result, _) = E::run1(
        Task::best_effort("card", probe.task(5, Act::Ok, 1)),
        Config::default(),
    )
    .await;
    assert!(result.is_ok());
    assert!(capture.warnings().is_empty());
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct Unprintable;

impl std::fmt::Display for Unprintable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("cannot print");
    }
}

impl std::error::Error for Unprintable {}

/// Logging a task's error runs the error's own `Display`: a panic there stays inside the
/// engine, on both.
#[tokio::test(start_paused = true)]
async fn an_error_whose_display_panics_is_logged_without_unwinding() {
    let (capture, _guard) = Capture::install();
    let unprintable = || Task::best_effort("card", async { Err::<u32, _>(Unprintable) });
    let mut runner = runner_core::TaskRunner::new();
    let card = runner.add(unprintable());
    let mut results = runner.run_all().await.unwrap();
    assert!(matches!(
        results.take(card),
        Err(TaskError::Failed(Unprintable))
    ));
    let (card,) = runner_core::FanOut::new((unprintable(),)).await.unwrap();
    assert!(matches!(card, Err(TaskError::Failed(Unprintable))));
    let events = capture.events.lock().unwrap();
    let logged: Vec<_> = events
        .iter()
        .filter_map(|(_, fields, _)| fields.get("error"))
        .collect();
    assert_eq!(logged, ["<its Display panicked>"; 2]);
}

/// 400 best-effort tasks cut by one deadline: one WARN, not 400.
#[tokio::test(start_paused = true)]
async fn four_hundred_degraded_tasks_log_one_warn() {
    let (capture, _guard) = Capture::install();
    let probe = Probe::new();
    let mut runner = runner_core::TaskRunner::new().deadline(support::ms(10));
    let _profiles =
        runner.add_all((0..400).map(|n| Task::best_effort("profile", probe.task(0, Act::Hang, n))));
    assert!(runner.run_all().await.is_ok());
    let warnings = capture.warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].0["deadline"], "400");
    assert_eq!(warnings[0].0["tasks"], "profile ×400");
}

on_every_engine!(
    j_tasks_run_in_spans_and_degradation_warns,
    one_warn_sums_up_every_degraded_task_of_a_run,
    a_run_without_degraded_tasks_does_not_warn,
);
