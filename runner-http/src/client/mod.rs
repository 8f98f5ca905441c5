//! The client side: [`Propagate`] writes the running task's remaining budget (and, with the
//! `opentelemetry` feature, its span's trace context) on each outgoing request, as a tower
//! layer ([`PropagateLayer`]) or a `reqwest_middleware::Middleware` (the `reqwest`
//! feature).

mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;
mod service;

pub use self::layer::PropagateLayer;
pub use self::service::PropagateService;

use http::{HeaderMap, HeaderName};

use crate::header::{self, DEADLINE_MS, GRPC_TIMEOUT};

/// What goes on each outgoing request: the budget left, in whole milliseconds in
/// `x-request-deadline-ms` (or the header [`header`](Self::header) names), in `grpc-timeout`
/// too if asked, and the trace context.
///
/// The budget is [`runner_core::remaining()`] when the request is made: inside a task, the
/// tighter of its timeout and its fan-out's deadline (and the deadline its service got from
/// its own caller, through [`DeadlineLayer`](crate::DeadlineLayer)); rounded up to the
/// millisecond, so that the callee gives up no sooner than the caller does. Where no
/// deadline is in force (outside a task, a handler under `DeadlineLayer` or a
/// `runner_core::Deadline` scope), no budget is written. Inside a retry's attempt, it is the
/// task's time, not the attempt's (`Retry::attempt_timeout` ends the attempt on our side).
///
/// ```
/// use runner_http::Propagate;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(Propagate::new())
///     .build();
/// # let _ = client;
/// ```
#[derive(Debug, Clone)]
pub struct Propagate {
    header: Option<HeaderName>,
    grpc: bool,
}

impl Propagate {
    /// `x-request-deadline-ms` and the trace context.
    pub fn new() -> Self {
        Self {
            header: Some(DEADLINE_MS),
            grpc: false,
        }
    }

    /// Writes the budget's milliseconds in `header` instead.
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = Some(header);
        self
    }

    /// Writes the budget in `grpc-timeout` too (for a gRPC server); with
    /// [`without_header`](Self::without_header), only there.
    pub fn grpc_timeout(mut self) -> Self {
        self.grpc = true;
        self
    }

    /// Writes no milliseconds header.
    pub fn without_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// Writes the budget left and the trace context into `headers`, replacing what they had.
    pub fn write(&self, headers: &mut HeaderMap) {
        if let Some(left) = runner_core::remaining() {
            if let Some(name) = &self.header {
                headers.insert(name.clone(), header::format_ms(left));
            }
            if self.grpc {
                headers.insert(GRPC_TIMEOUT, header::format_grpc(left));
            }
        }
        crate::trace::inject(headers);
    }
}

impl Default for Propagate {
    fn default() -> Self {
        Self::new()
    }
}
