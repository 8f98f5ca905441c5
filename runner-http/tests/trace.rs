//! The trace across the wire: a call made inside a task carries the task's span as its
//! `traceparent`, and the server's request span is its child, in one trace. Exported to an
//! in-memory exporter; the only test in this binary, so that its subscriber can be the
//! process's (a thread's own would miss spans that other tests' threads make first).

use axum::Router;
use axum::routing::get;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use runner_core::Task;
use runner_http::{DeadlineLayer, Propagate};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_span_is_a_child_of_the_task_that_called_it() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
    )
    .expect("no subscriber yet");

    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(DeadlineLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(Propagate::new())
        .build();
    let task = Task::critical("wallet", async {
        let response = client.get(&url).send().await.unwrap();
        Ok::<_, std::io::Error>(response.status())
    });
    assert!(task.await.unwrap().is_success());
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span `{name}` in {spans:#?}"))
    };
    let (task, request) = (named("wallet"), named("GET"));
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(task.span_kind, SpanKind::Internal);
    assert_eq!(
        request.span_context.trace_id(),
        task.span_context.trace_id()
    );
    assert_eq!(request.parent_span_id, task.span_context.span_id());
}
