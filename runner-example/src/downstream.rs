//! What the two downstream services share: the deadline header, fault injection around their
//! work, request counters, and the admin routes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::error::{self, ApiError};
use crate::faults::{Fault, FaultConfig, Faults};

/// The header that carries the caller's remaining budget, in whole milliseconds.
///
/// The gateway sets it from `runner_core::remaining()`; a downstream service stops working on
/// the request once that much time has passed and answers 504.
pub const DEADLINE_HEADER: &str = "x-request-deadline-ms";

/// How long a request without a deadline header may hang, so that nothing waits forever.
const NO_DEADLINE_CAP: Duration = Duration::from_secs(30);

/// Request counters of one downstream service, readable in-process and at `/admin/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    in_flight: AtomicU64,
    served: AtomicU64,
    cancelled: AtomicU64,
    deadline_exceeded: AtomicU64,
    /// `u64::MAX` until a request carried the deadline header.
    last_deadline_ms: AtomicU64,
    with_deadline: AtomicU64,
}

/// A copy of [`Stats`] at one moment; the JSON body of `GET /admin/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Requests being worked on now.
    pub in_flight: u64,
    /// Requests answered (any status).
    pub served: u64,
    /// Requests whose caller hung up before the answer: their work was dropped.
    pub cancelled: u64,
    /// Requests stopped because the caller's deadline passed (answered 504).
    pub deadline_exceeded: u64,
    /// Requests that carried the deadline header.
    pub with_deadline: u64,
    /// The budget the last such request carried, in milliseconds.
    pub last_deadline_ms: Option<u64>,
}

impl Stats {
    fn new() -> Self {
        Self {
            last_deadline_ms: AtomicU64::new(u64::MAX),
            ..Self::default()
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let last = self.last_deadline_ms.load(Ordering::SeqCst);
        StatsSnapshot {
            in_flight: self.in_flight.load(Ordering::SeqCst),
            served: self.served.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            deadline_exceeded: self.deadline_exceeded.load(Ordering::SeqCst),
            with_deadline: self.with_deadline.load(Ordering::SeqCst),
            last_deadline_ms: (last != u64::MAX).then_some(last),
        }
    }
}

/// Counts a request in flight; if it is dropped before [`InFlight::finish`], the request was
/// cancelled (axum drops the handler's future when the caller hangs up).
struct InFlight {
    stats: Arc<Stats>,
    finished: bool,
}

impl InFlight {
    fn start(stats: &Arc<Stats>) -> Self {
        stats.in_flight.fetch_add(1, Ordering::SeqCst);
        Self {
            stats: stats.clone(),
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
        self.stats.served.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
            tracing::debug!("request cancelled: the caller hung up");
        }
    }
}

/// The state a downstream service's handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Downstream {
    pub(crate) faults: Faults,
    pub(crate) stats: Arc<Stats>,
}

impl Downstream {
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            faults,
            stats: Arc::new(Stats::new()),
        }
    }

    /// Runs `work` under the injected faults and the caller's deadline.
    ///
    /// Everything, the injected latency included, runs inside one `timeout` of the caller's
    /// budget: once the caller has given up, the answer is worthless, so stop and say 504.
    pub(crate) async fn serve<F>(&self, headers: &HeaderMap, work: F) -> Response
    where
        F: Future<Output = Response>,
    {
        let guard = InFlight::start(&self.stats);
        let response = match self.budget(headers) {
            Err(error) => error.into_response(),
            Ok(budget) => {
                let plan = self.faults.roll();
                let faulty = async {
                    tokio::time::sleep(plan.latency).await;
                    match plan.fault {
                        Some(Fault::Hang) => std::future::pending().await,
                        Some(Fault::Error) => ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "injected_error",
                            "fault injection: error",
                        )
                        .into_response(),
                        Some(Fault::Garbage) => {
                            (StatusCode::OK, "{\"this is\": not json").into_response()
                        }
                        None => work.await,
                    }
                };
                match tokio::time::timeout(budget.unwrap_or(NO_DEADLINE_CAP), faulty).await {
                    Ok(response) => response,
                    Err(_) => {
                        self.stats.deadline_exceeded.fetch_add(1, Ordering::SeqCst);
                        ApiError::new(
                            StatusCode::GATEWAY_TIMEOUT,
                            "deadline_exceeded",
                            "the caller's deadline passed before the work was done",
                        )
                        .into_response()
                    }
                }
            }
        };
        guard.finish();
        response
    }

    /// The caller's budget from [`DEADLINE_HEADER`], `None` if it sent none.
    fn budget(&self, headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
        let Some(value) = headers.get(DEADLINE_HEADER) else {
            return Ok(None);
        };
        let millis = value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_deadline",
                    format!("`{DEADLINE_HEADER}` must be a whole number of milliseconds"),
                )
            })?;
        self.stats.with_deadline.fetch_add(1, Ordering::SeqCst);
        self.stats.last_deadline_ms.store(millis, Ordering::SeqCst);
        Ok(Some(Duration::from_millis(millis)))
    }

    /// The admin routes: `GET`/`PUT /admin/faults`, `GET /admin/stats`, and JSON fallbacks.
    pub(crate) fn with_admin(&self, routes: Router<Self>) -> Router {
        routes
            .route(
                "/admin/faults",
                get(get_faults)
                    .put(put_faults)
                    .fallback(error::method_not_allowed),
            )
            .route(
                "/admin/stats",
                get(get_stats).fallback(error::method_not_allowed),
            )
            .route("/healthz", get(healthz).fallback(error::method_not_allowed))
            .fallback(error::no_route)
            .with_state(self.clone())
    }
}

async fn get_faults(State(downstream): State<Downstream>) -> Json<FaultConfig> {
    Json(downstream.faults.get())
}

/// Takes the raw body so that a malformed one gets a JSON error, not axum's plain text.
async fn put_faults(State(downstream): State<Downstream>, body: Bytes) -> Response {
    let config = match serde_json::from_slice::<FaultConfig>(&body) {
        Ok(config) => config,
        Err(error) => {
            return ApiError::bad_request("invalid_faults", error.to_string()).into_response();
        }
    };
    match downstream.faults.set(config) {
        Ok(()) => {
            tracing::info!(?config, "faults changed");
            Json(config).into_response()
        }
        Err(error) => ApiError::bad_request("invalid_faults", error.to_string()).into_response(),
    }
}

async fn get_stats(State(downstream): State<Downstream>) -> Json<StatsSnapshot> {
    Json(downstream.stats.snapshot())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
