//! Traces out of the process: with an OTLP endpoint, every span (the services' request spans,
//! the gateway's task spans) goes to it, batched, over HTTP/protobuf; without one, nothing is
//! exported and nothing runs in the background.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// An exporter of spans to the OTLP/HTTP collector at `endpoint` (the whole URL, e.g.
/// `http://localhost:4318/v1/traces`), as the service named `service`: the provider to shut
/// down at exit (which sends what is left), and the tracer for `tracing-opentelemetry`.
pub fn otlp(
    endpoint: &str,
    service: &'static str,
) -> Result<(SdkTracerProvider, SdkTracer), ExporterBuildError> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("runner-example");
    Ok((provider, tracer))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    /// A span exported to a collector on loopback arrives there: one POST to the endpoint,
    /// protobuf, naming the span.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_the_collector_given() {
        let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let collector = {
            let received = received.clone();
            Router::new().route(
                "/v1/traces",
                post(move |headers: HeaderMap, body: Bytes| async move {
                    let kind = headers["content-type"].to_str().unwrap_or("").to_owned();
                    received.lock().unwrap().push((kind, body));
                    ""
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

        let (provider, _) = super::otlp(&endpoint, "gateway").unwrap();
        provider.tracer("test").in_span("get_balance", |_| ());
        // The batch goes out on its own thread; shutting down sends it and waits.
        tokio::task::spawn_blocking(move || provider.shutdown().unwrap())
            .await
            .unwrap();

        let received = received.lock().unwrap();
        assert_eq!(received.len(), 1);
        let (kind, body) = &received[0];
        assert_eq!(kind, "application/x-protobuf");
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("get_balance") && text.contains("gateway"),
            "{text:?}"
        );
    }
}
