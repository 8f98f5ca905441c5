//! The one error body every service of the example answers with.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The JSON body of every error response: `{"error": "...", "detail": "..."}`.
///
/// `error` is a short, stable code a client can match on; `detail` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short, stable code, e.g. `invalid_user_id`.
    pub error: String,
    /// What went wrong, in words.
    pub detail: String,
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status to answer with.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, code `error` and a `detail` for people.
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                detail: detail.into(),
            },
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(error: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, detail)
    }

    /// 404 for a path no route matches.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 405 for a method a route does not take.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Router fallback: unknown routes answer 404 with a JSON body, not axum's empty one.
pub(crate) async fn no_route() -> ApiError {
    ApiError::no_route()
}

/// Method fallback: other methods answer 405 with a JSON body, not axum's empty one.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
