//! The request's span, and the W3C trace context in and out (the `opentelemetry` feature):
//! a request's server span takes the caller's `traceparent` as its parent, and a call made
//! inside a task carries the task's span as its own `traceparent`.
//!
//! The fields follow OpenTelemetry's HTTP semantic conventions; `otel.name` and
//! `otel.kind` are what `tracing-opentelemetry` names and kinds the span by.

use http::{HeaderMap, Request, StatusCode};
use tracing::Span;

/// The server span of `request`: `GET` (OpenTelemetry names a server span by its method
/// when it does not know the route), with its method and path, a child of the caller's
/// trace when the request carries one.
pub(crate) fn server_span<B>(request: &Request<B>) -> Span {
    let method = request.method().as_str();
    let span = tracing::info_span!(
        "request",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    #[cfg(feature = "opentelemetry")]
    if !span.is_disabled() {
        w3c::adopt_parent(&span, request.headers());
    }
    span
}

/// Records the answer's status on the request's span; a 5xx is an error of the server's.
pub(crate) fn record_status(span: &Span, status: StatusCode) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Writes the current span's trace context into `headers` (the `opentelemetry` feature;
/// nothing without it, or outside a span).
pub(crate) fn inject(headers: &mut HeaderMap) {
    #[cfg(feature = "opentelemetry")]
    w3c::inject(headers);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = headers;
}

#[cfg(feature = "opentelemetry")]
mod w3c {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The caller's trace, if its headers carry one, made the parent of `span`.
    pub(super) fn adopt_parent(span: &Span, headers: &HeaderMap) {
        if headers.contains_key("traceparent") {
            let parent = TraceContextPropagator::new().extract(&Headers(headers));
            let _ = span.set_parent(parent);
        }
    }

    /// The current span's context as `traceparent` (and `tracestate`).
    pub(super) fn inject(headers: &mut HeaderMap) {
        let span = Span::current();
        if span.is_disabled() {
            return;
        }
        TraceContextPropagator::new().inject_context(&span.context(), &mut HeadersMut(headers));
    }

    struct Headers<'h>(&'h HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(HeaderName::as_str).collect()
        }
    }

    struct HeadersMut<'h>(&'h mut HeaderMap);

    impl Injector for HeadersMut<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                self.0.insert(name, value);
            }
        }
    }
}
