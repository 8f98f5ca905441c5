//! What the two downstream services share: the caller's deadline (read by runner-http's
//! `DeadlineLayer`), fault injection around their work, request counters, and the admin
//! routes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use runner_http::{DeadlineLayer, IncomingDeadline};

use crate::error::{self, ApiError};
use crate::server::ResetOnClose;
use crate::services::faults::{Fault, FaultConfig, Faults, Plan};

/// How long a request may hang, whatever deadline it carries (none, or an absurd one), so
/// that nothing waits forever.
const DEADLINE_CAP: Duration = Duration::from_secs(30);

/// How a downstream service reads its caller's budget: `x-request-deadline-ms` (or
/// `grpc-timeout`); none, or one past [`DEADLINE_CAP`], counts as [`DEADLINE_CAP`]. A budget
/// already gone is a 504 before any work, one that cannot be read a 400
/// (`invalid_deadline`).
fn deadline_layer() -> DeadlineLayer {
    DeadlineLayer::new()
        .max(DEADLINE_CAP)
        .default_budget(DEADLINE_CAP)
}

/// The connection a request came in on, as the handlers extract it: `None` when the router is
/// served some other way than by [`Server`](crate::Server).
pub(crate) type CallerConnection = Option<Extension<ConnectInfo<ResetOnClose>>>;

/// How long a body cut short by a fault waits, after its first half, before the connection
/// breaks: hyper flushes what it has when the body is pending, so the caller gets the
/// headers and the first half before the close or the reset.
const CUT_SHORT_PAUSE: Duration = Duration::from_millis(20);

/// Request counters of one downstream service, readable in-process and at `/admin/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    in_flight: AtomicU64,
    served: AtomicU64,
    cancelled: AtomicU64,
    deadline_exceeded: AtomicU64,
    /// Meaningful once `with_deadline` is not zero.
    last_deadline_ms: AtomicU64,
    with_deadline: AtomicU64,
}

/// A copy of [`Stats`] at one moment; the JSON body of `GET /admin/stats`.
///
/// It counts the requests the service worked on: the deadline layer's own answers, a 400
/// for a budget it cannot read and a 504 for one already gone, are made before any work and
/// are not counted.
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
    /// Requests that carried a budget (`x-request-deadline-ms` or `grpc-timeout`).
    pub with_deadline: u64,
    /// The budget the last such request carried, in milliseconds (saturated at `u64::MAX`).
    pub last_deadline_ms: Option<u64>,
}

impl Stats {
    fn new() -> Self {
        Self::default()
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        // `with_deadline` is counted after `last_deadline_ms` is stored: read in the other
        // order, a count above zero means a budget was stored.
        let with_deadline = self.with_deadline.load(Ordering::SeqCst);
        let last = self.last_deadline_ms.load(Ordering::SeqCst);
        StatsSnapshot {
            in_flight: self.in_flight.load(Ordering::SeqCst),
            served: self.served.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            deadline_exceeded: self.deadline_exceeded.load(Ordering::SeqCst),
            with_deadline,
            last_deadline_ms: (with_deadline > 0).then_some(last),
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
    /// Whether its answers can be marked stale, which `PUT /admin/faults` checks
    /// `stale_rate` against: the wallet's can.
    answers_stale: bool,
}

impl Downstream {
    /// The state of a service whose answers are never stale.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            faults,
            stats: Arc::new(Stats::new()),
            answers_stale: false,
        }
    }

    /// The state of a service that can answer as a lagging replica (the wallet), which its
    /// admin route then lets `stale_rate` be set for.
    pub(crate) fn answering_stale(faults: Faults) -> Self {
        Self {
            answers_stale: true,
            ..Self::new(faults)
        }
    }

    /// Runs `work` under the injected faults and the caller's deadline. `work` is given the
    /// plan drawn for this request, which says whether to mark the answer stale.
    ///
    /// Everything, the injected latency included, runs inside one `timeout` of the time the
    /// caller left ([`runner_core::remaining()`], which the deadline layer set from its
    /// header): once the caller has given up, the answer is worthless, so stop and say 504.
    pub(crate) async fn serve<W, F>(
        &self,
        incoming: Option<Extension<IncomingDeadline>>,
        connection: CallerConnection,
        work: W,
    ) -> Response
    where
        W: FnOnce(Plan) -> F,
        F: Future<Output = Response>,
    {
        let guard = InFlight::start(&self.stats);
        if let Some(sent) = incoming.and_then(|Extension(incoming)| incoming.sent) {
            let millis = u64::try_from(sent.as_millis()).unwrap_or(u64::MAX);
            self.stats.last_deadline_ms.store(millis, Ordering::SeqCst);
            self.stats.with_deadline.fetch_add(1, Ordering::SeqCst);
        }
        let plan = self.faults.roll();
        let work = work(plan);
        let faulty = async {
            // Queued for a place first (under a concurrency cap), then served.
            let _place = self.faults.place().await;
            tokio::time::sleep(plan.latency).await;
            match plan.fault {
                Some(Fault::Hang) => std::future::pending().await,
                Some(Fault::Error {
                    status,
                    retry_after_secs,
                }) => injected_error(status, retry_after_secs),
                Some(Fault::Garbage) => (StatusCode::OK, "{\"this is\": not json").into_response(),
                Some(Fault::Truncate) => cut_short(work.await, None).await,
                Some(Fault::Reset) => {
                    let reset = connection.map(|Extension(ConnectInfo(reset))| reset);
                    if reset.is_none() {
                        tracing::warn!("no handle on the connection to reset: closing it instead");
                    }
                    cut_short(work.await, reset).await
                }
                None => work.await,
            }
        };
        let left = runner_core::remaining().unwrap_or(DEADLINE_CAP);
        let response = match tokio::time::timeout(left, faulty).await {
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
        };
        guard.finish();
        response
    }

    /// The service's own route, `GET path` (any other method: a JSON 405), beside the admin
    /// routes.
    pub(crate) fn router(&self, path: &str, get_route: MethodRouter<Self>) -> Router {
        self.with_admin(Router::new().route(path, get_route.fallback(error::method_not_allowed)))
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
            .layer(deadline_layer())
    }
}

/// An injected error: `status`, a JSON body, and `Retry-After: secs` if asked.
fn injected_error(status: u16, retry_after_secs: Option<u64>) -> Response {
    let mut response = ApiError::new(
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        "injected_error",
        "fault injection: error",
    )
    .into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `response` broken off halfway: its status and headers, a `Content-Length` for its whole
/// body (at least one byte more than is sent), the first half of the body, then a pause and
/// an error that makes hyper drop the connection: closed in order, or reset if `reset` is
/// given.
async fn cut_short(response: Response, reset: Option<ResetOnClose>) -> Response {
    // The services' answers are small JSON bodies; a failure to read one leaves an empty body,
    // which is still cut short.
    const READ_LIMIT: usize = 1 << 20;
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, READ_LIMIT)
        .await
        .unwrap_or_default();
    let declared = body.len().max(1);
    let sent = body.slice(..body.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    if let Some(reset) = reset {
        reset.arm();
    }
    let broken = futures::stream::once(async {
        tokio::time::sleep(CUT_SHORT_PAUSE).await;
        Err(std::io::Error::other("fault injection: body cut short"))
    });
    let stream = futures::stream::iter([Ok(sent)]).chain(broken);
    Response::from_parts(parts, Body::from_stream(stream))
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
    if config.stale_rate > 0.0 && !downstream.answers_stale {
        return ApiError::bad_request(
            "invalid_faults",
            "`stale_rate` is the wallet's: this service has no replica to lag behind",
        )
        .into_response();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: an absurd budget used to be trusted as it came (a hang fault then lasted
    // for ever), and a budget of `u64::MAX` read back as "no budget" in the stats.
    #[tokio::test(start_paused = true)]
    async fn an_absurd_deadline_is_capped_and_counted() {
        use tower::ServiceExt;
        let hang = FaultConfig {
            hang_rate: 1.0,
            ..FaultConfig::default()
        };
        let scratch = crate::services::scratch::Scratch::new(Faults::new(hang, 0).unwrap());
        let request = axum::http::Request::get("/cards/7")
            .header("x-request-deadline-ms", u64::MAX.to_string())
            .body(Body::empty())
            .unwrap();
        let started = tokio::time::Instant::now();
        let response = scratch.router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let waited = started.elapsed();
        assert!(
            (DEADLINE_CAP..DEADLINE_CAP + Duration::from_millis(2)).contains(&waited),
            "{waited:?}"
        );
        let stats = scratch.stats().snapshot();
        assert_eq!(stats.last_deadline_ms, Some(u64::MAX));
        assert_eq!((stats.with_deadline, stats.deadline_exceeded), (1, 1));
    }

    #[tokio::test]
    async fn an_injected_error_carries_the_retry_after_asked_for() {
        use tower::ServiceExt;
        let answer = |retry_after_secs| async move {
            let busy = FaultConfig {
                error_rate: 1.0,
                retry_after_secs,
                ..FaultConfig::default()
            };
            let scratch = crate::services::scratch::Scratch::new(Faults::new(busy, 0).unwrap());
            let request = axum::http::Request::get("/cards/7")
                .body(Body::empty())
                .unwrap();
            scratch.router().oneshot(request).await.unwrap()
        };
        let response = answer(Some(2)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("2"))
        );
        let response = answer(None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER), None);
    }

    #[tokio::test]
    async fn only_the_wallet_takes_a_stale_rate() {
        use tower::ServiceExt;
        let put = |router: Router| async move {
            let request = axum::http::Request::put("/admin/faults")
                .body(Body::from(r#"{"stale_rate": 0.5}"#))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        };
        let wallet = crate::services::wallet::Wallet::in_memory(Faults::none()).unwrap();
        let (status, body) = put(wallet.router()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stale_rate"], 0.5);
        assert_eq!(wallet.faults().get().stale_rate, 0.5);

        let scratch = crate::services::scratch::Scratch::new(Faults::none());
        let (status, body) = put(scratch.router()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_faults");
        assert_eq!(scratch.faults().get().stale_rate, 0.0);
    }
}
