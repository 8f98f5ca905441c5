//! The answers the layer gives itself, before any work: a budget already gone, or one that
//! cannot be read. JSON to an HTTP caller; a gRPC status to a gRPC one, whose client reads
//! the status from the headers of a body-less answer ("trailers only").

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::header::InvalidBudget;

/// gRPC's status codes the layer answers with.
const GRPC_INVALID_ARGUMENT: &str = "3";
const GRPC_DEADLINE_EXCEEDED: &str = "4";

/// `true` for a gRPC request: `application/grpc`, `application/grpc+proto` and the like,
/// not gRPC-Web (`application/grpc-web`), whose statuses travel otherwise.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        value
            .as_bytes()
            .strip_prefix(b"application/grpc")
            .is_some_and(|rest| matches!(rest.first(), None | Some(b'+' | b';')))
    })
}

/// The answer to a request whose budget was gone when it came.
pub(crate) fn deadline_exceeded(grpc: bool) -> Response<Full<Bytes>> {
    const DETAIL: &str = "the caller's deadline had passed when the request came";
    match grpc {
        true => grpc_status(GRPC_DEADLINE_EXCEEDED, DETAIL),
        false => json(StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded", DETAIL),
    }
}

/// The answer to a request whose budget header cannot be read.
pub(crate) fn invalid(error: &InvalidBudget, grpc: bool) -> Response<Full<Bytes>> {
    let detail = error.to_string();
    match grpc {
        true => grpc_status(GRPC_INVALID_ARGUMENT, &detail),
        false => json(StatusCode::BAD_REQUEST, "invalid_deadline", &detail),
    }
}

/// `{"error": code, "detail": detail}`. Both are this crate's text, a header's name at most
/// (a token: no quote, no backslash, no control character), so nothing needs escaping.
fn json(status: StatusCode, code: &str, detail: &str) -> Response<Full<Bytes>> {
    let body = format!(r#"{{"error":"{code}","detail":"{detail}"}}"#);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn grpc_status(code: &'static str, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from_static(code));
    // The message is printable ASCII: a valid header value as it is.
    if let Ok(message) = HeaderValue::from_str(message) {
        headers.insert("grpc-message", message);
    }
    response
}
