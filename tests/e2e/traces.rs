//! One trace across three services: a balance page's request span in the gateway, its two
//! task spans, and the wallet's and the scratch-card service's request spans, joined by the
//! W3C `traceparent` each call carries (runner-http's `Propagate` out, `DeadlineLayer` in),
//! exported to an in-memory exporter: no collector to install.
//!
//! The services run in this process, on loopback: the spans of all three reach the one
//! exporter, and what joins them is only the header on the wire (each request runs in a
//! task of its own in its server, with no span of the caller's around it).

mod support;

use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use runner_example::Faults;
use tracing_subscriber::layer::SubscriberExt;

use support::{GENEROUS, Services};

/// The value of `key` among a span's attributes.
fn attribute<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: found, .. }| found.as_str() == key)
        .map(|pair| &pair.value)
}

/// The server spans of `path`: one per request the service got (a hedge or a retry is one
/// more).
fn server_spans<'s>(spans: &'s [SpanData], path: &str) -> Vec<&'s SpanData> {
    let found: Vec<_> = spans
        .iter()
        .filter(|span| {
            span.span_kind == SpanKind::Server
                && attribute(span, "url.path").map(Value::as_str).as_deref() == Some(path)
        })
        .collect();
    assert!(!found.is_empty(), "no server span of {path}: {spans:#?}");
    found
}

fn named<'s>(spans: &'s [SpanData], name: &str) -> &'s SpanData {
    let found: Vec<_> = spans.iter().filter(|span| span.name == name).collect();
    assert_eq!(found.len(), 1, "spans named {name}: {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_gateway_its_tasks_and_both_services() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // The only test in this binary: the subscriber is the process's, on every thread.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e"))),
    )
    .expect("no subscriber yet");

    let services = Services::start(Faults::none(), Faults::none(), GENEROUS).await;
    let http = support::client(std::time::Duration::from_secs(10));
    let url = format!("{}/get_balance?user_id=7", services.gateway_server.url());
    let response = http.get(url).send().await.expect("the gateway answers");
    assert_eq!(response.status(), 200);
    // Each server span ends as its service hands its answer to hyper: all have by now.
    drop(response.text().await);
    provider.force_flush().expect("flushed");

    let spans = exporter.get_finished_spans().expect("spans");
    let [page] = server_spans(&spans, "/get_balance")[..] else {
        panic!("one page, one request span: {spans:#?}");
    };
    let balance = named(&spans, "get_balance");
    let card = named(&spans, "get_scratch_card");
    // A slow first card request on a loaded machine is hedged: each request is a span.
    let wallet = server_spans(&spans, "/balances/7");
    let scratch = server_spans(&spans, "/cards/7");

    let trace = page.span_context.trace_id();
    for span in [balance, card]
        .into_iter()
        .chain(wallet.iter().copied())
        .chain(scratch.iter().copied())
    {
        assert_eq!(span.span_context.trace_id(), trace, "{span:#?}");
    }
    // The tasks run in the gateway's request span; each service's request span is a child
    // of the task that called it.
    assert_eq!(balance.parent_span_id, page.span_context.span_id());
    assert_eq!(card.parent_span_id, page.span_context.span_id());
    for span in wallet {
        assert_eq!(span.parent_span_id, balance.span_context.span_id());
    }
    for span in scratch {
        assert_eq!(span.parent_span_id, card.span_context.span_id());
    }
    // OpenTelemetry's names and attributes.
    assert_eq!(page.name, "GET");
    assert_eq!(balance.span_kind, SpanKind::Internal);
    assert_eq!(
        attribute(page, "http.request.method")
            .map(Value::as_str)
            .as_deref(),
        Some("GET")
    );
    assert_eq!(
        attribute(page, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attribute(balance, "outcome").map(Value::as_str).as_deref(),
        Some("ok")
    );
}
