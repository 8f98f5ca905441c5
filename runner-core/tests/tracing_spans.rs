//! Rule j: every task runs inside a `tracing` span; a degraded best-effort task warns.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use runner_core::Task;
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

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn j_tasks_run_in_spans_and_degradation_warns<E: Engine>() {
    let capture = Capture::default();
    let _guard = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();
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
            fields(&[
                ("task", "balance"),
                ("critical", "true"),
                ("outcome", "ok"),
                ("elapsed_ms", "10.0")
            ]),
            fields(&[
                ("task", "card"),
                ("critical", "false"),
                ("outcome", "failed"),
                ("elapsed_ms", "5.0")
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
    // The degraded best-effort task is a WARN event that says why.
    let warnings: Vec<_> = events
        .iter()
        .filter(|(level, _, _)| *level == Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 1);
    let (_, warning, span) = warnings[0];
    assert_eq!(warning["message"], "best-effort task degraded");
    assert_eq!(warning["task"], "card");
    assert_eq!(warning["error"], "boom 2");
    assert_eq!(span.as_ref().unwrap()["task"], "card");
}

on_both_engines!(j_tasks_run_in_spans_and_degradation_warns);
