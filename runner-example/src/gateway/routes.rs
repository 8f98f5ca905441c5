//! The routes both gateway implementations share around their `GET /get_balance` handler.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{MethodRouter, get};
use axum::{Json, Router, middleware};
use runner_http::DeadlineLayer;

use crate::error;
use crate::metrics::{self, Metrics};

/// The longest budget a client may give the gateway: a longer one is cut to it.
const MAX_BUDGET: Duration = Duration::from_secs(30);

/// Taken from a client's budget for the answer's way back to it: on loopback or a LAN, well
/// under a millisecond.
const WAY_BACK: Duration = Duration::from_millis(1);

/// The gateway's routes around its `GET /get_balance` handler: `/healthz`, `/metrics`, JSON
/// 404 and 405, and the request metrics. Shared by both gateway implementations.
///
/// A client's budget (`x-request-deadline-ms` or `grpc-timeout`) is the deadline of the page
/// inside (the fan-out keeps its own 300 ms when that is tighter); one already gone is a 504
/// before any work, one that cannot be read a 400 (`invalid_deadline`). The request metrics
/// count those answers too.
pub(crate) fn routes(get_balance: MethodRouter, metrics: &Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/get_balance",
            get_balance.fallback(error::method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(error::method_not_allowed))
        .route(
            "/metrics",
            get(metrics::render)
                .with_state(metrics.clone())
                .fallback(error::method_not_allowed),
        )
        .fallback(error::no_route)
        .layer(DeadlineLayer::new().max(MAX_BUDGET).offset(WAY_BACK))
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
