//! The gateway's Prometheus metrics: requests by route and status, latency histograms,
//! per-task outcomes taken from the fan-out's `Report`, and what the gateway's resilience
//! policies did ([`policy`]: retries, hedges, breaker changes, rejections), counted from
//! their typed events.
//!
//! Each gateway has its own registry (no global recorder) and its own policies, so several
//! gateways can run in one process, as the end-to-end tests do, each counting its own.

mod policy;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use runner_core::{Outcome, TaskRecord};

pub use self::policy::PolicyMetrics;

/// The content type of the OpenMetrics text that `/metrics` answers (Prometheus reads it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
// `&'static str`: a task's name and its outcome's are static, so that counting a task
// allocates nothing (the family clones a label set only for a series it has not seen).
struct OutcomeLabels {
    task: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 4 s: the gateway's answers are bounded by its 300 ms deadline, the rest is
/// headroom for the other routes.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 13))
}

/// The gateway's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    task_outcomes: Family<OutcomeLabels, Counter>,
    task_seconds: Histograms<TaskLabels>,
    policies: PolicyMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every series the gateway exports, its policies' counters among
    /// them, each known series at 0.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let task_outcomes = Family::<OutcomeLabels, Counter>::default();
        let task_seconds: Histograms<TaskLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gateway_http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            request_seconds.clone(),
        );
        registry.register(
            "gateway_task_outcomes",
            "Fan-out tasks by name and outcome (ok, failed, timed_out, deadline, panicked, \
             rejected, fallback, cancelled)",
            task_outcomes.clone(),
        );
        registry.register(
            "gateway_task_duration_seconds",
            "Time each fan-out task ran, by task",
            task_seconds.clone(),
        );
        for task in policy::TASKS {
            for outcome in Outcome::ALL {
                // Made at 0.
                let _ = task_outcomes.get_or_create(&OutcomeLabels {
                    task,
                    outcome: outcome.as_str(),
                });
            }
        }
        let policies = PolicyMetrics::new();
        policies.register(&mut registry);
        Self {
            registry,
            requests,
            request_seconds,
            task_outcomes,
            task_seconds,
            policies,
        }
    }

    /// The policy counters: the observer of the gateway's policies.
    pub fn policies(&self) -> &PolicyMetrics {
        &self.policies
    }

    /// Counts one fan-out's tasks: outcome and duration each.
    pub fn record_tasks(&self, tasks: &[TaskRecord]) {
        for record in tasks {
            self.task_outcomes
                .get_or_create(&OutcomeLabels {
                    task: record.name,
                    outcome: record.outcome.as_str(),
                })
                .inc();
            self.task_seconds
                .get_or_create(&TaskLabels { task: record.name })
                .observe(record.elapsed.as_secs_f64());
        }
    }

    fn record_request(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        // Only the methods HTTP defines become labels, so a client cannot grow the series.
        let method = match *method {
            Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::DELETE => {
                method.as_str()
            }
            Method::PATCH | Method::OPTIONS | Method::TRACE | Method::CONNECT => method.as_str(),
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The status label of a request whose client hung up before the answer (nginx's
/// "client closed request"): no status was ever sent, but the request still counts.
pub const CLIENT_CLOSED: u16 = 499;

/// Middleware: counts every request by its route pattern (not its raw path, which a client
/// controls) and logs it.
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let mut tracked = Tracked {
        metrics,
        started: Instant::now(),
        method: request.method().clone(),
        route: request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned(),
        status: CLIENT_CLOSED,
    };
    let response = next.run(request).await;
    tracked.status = response.status().as_u16();
    response
}

/// Records one request when dropped: after the answer, or when axum drops the handler
/// because the client hung up (then with [`CLIENT_CLOSED`]).
struct Tracked {
    metrics: Arc<Metrics>,
    started: Instant,
    method: Method,
    route: String,
    status: u16,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        self.metrics.record_request(
            &self.route,
            &self.method,
            self.status,
            elapsed.as_secs_f64(),
        );
        tracing::info!(
            method = %self.method,
            route = self.route,
            status = self.status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

/// `GET /metrics`.
pub(crate) async fn render(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => crate::error::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_unavailable",
            "the metrics could not be encoded",
        )
        .into_response(),
    }
}
