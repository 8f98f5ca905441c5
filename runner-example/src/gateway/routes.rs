//! The routes both gateway implementations share around their `GET /get_balance` handler.

use std::sync::Arc;

use axum::routing::{MethodRouter, get};
use axum::{Json, Router, middleware};

use crate::error;
use crate::metrics::{self, Metrics};

/// The gateway's routes around its `GET /get_balance` handler: `/healthz`, `/metrics`, JSON
/// 404 and 405, and the request metrics. Shared by both gateway implementations.
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
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
