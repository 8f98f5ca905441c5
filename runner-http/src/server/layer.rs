//! [`DeadlineLayer`]: its settings.

use std::time::Duration;

use http::HeaderName;
use tower_layer::Layer;

use crate::header::DEADLINE_MS;
use crate::server::DeadlineService;

/// Reads the caller's budget from each request and makes it the deadline the handler runs
/// under: the deadline that `fan_out!`, `TaskRunner`, tasks and
/// [`runner_core::remaining()`] see inside it, as Finagle's `DeadlineFilter` and gRPC
/// servers do.
///
/// - The budget is the tighter of `x-request-deadline-ms` (whole milliseconds; the header's
///   name is [`header`](Self::header)'s) and gRPC's `grpc-timeout` (unless
///   [`without_grpc_timeout`](Self::without_grpc_timeout)); a request with neither gets
///   [`default`](Self::default_budget)'s, or no deadline.
/// - It is cut to [`max`](Self::max), then shortened by [`offset`](Self::offset), the time
///   the answer takes back over the network, so that it reaches the caller in time.
/// - A request whose budget is already gone is answered at once, before any work: 504 with
///   a JSON body (`{"error": "deadline_exceeded", "detail": ...}`), or gRPC's
///   `DEADLINE_EXCEEDED` to a gRPC request (`content-type: application/grpc...`).
/// - A budget header that cannot be read is a 400 with a JSON body (`invalid_deadline`), or
///   gRPC's `INVALID_ARGUMENT`: never a panic or a 500.
///
/// The handler is not stopped at the deadline: the work inside is (a fan-out, a task, a
/// `tokio::time::timeout(remaining)` of the handler's own); wrap the service in
/// `tower::timeout` for a hard stop. What it read is in the request's
/// [`IncomingDeadline`](crate::IncomingDeadline) extension. With the `opentelemetry`
/// feature, each request runs in a server span whose parent is the caller's `traceparent`.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use runner_http::DeadlineLayer;
///
/// async fn balance() -> String {
///     // The caller's budget, less 2 ms for the way back.
///     format!("{:?}", runner_core::remaining())
/// }
///
/// let app: Router = Router::new().route("/balance", get(balance)).layer(
///     DeadlineLayer::new()
///         .max(Duration::from_secs(30))
///         .default_budget(Duration::from_secs(30))
///         .offset(Duration::from_millis(2)),
/// );
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    pub(crate) header: HeaderName,
    pub(crate) grpc: bool,
    pub(crate) max: Option<Duration>,
    pub(crate) offset: Duration,
    pub(crate) default: Option<Duration>,
}

impl DeadlineLayer {
    /// Reads `x-request-deadline-ms` and `grpc-timeout`, with no cap, no offset and no
    /// default.
    pub fn new() -> Self {
        Self {
            header: DEADLINE_MS,
            grpc: true,
            max: None,
            offset: Duration::ZERO,
            default: None,
        }
    }

    /// Reads the budget in whole milliseconds from `header` instead of
    /// `x-request-deadline-ms`.
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Does not read `grpc-timeout`.
    pub fn without_grpc_timeout(mut self) -> Self {
        self.grpc = false;
        self
    }

    /// The longest budget a caller may give: a longer one is cut to it.
    pub fn max(mut self, max: Duration) -> Self {
        self.max = Some(max);
        self
    }

    /// Taken from every budget: the time the answer takes back to the caller.
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// The budget of a request that sent none (cut to [`max`](Self::max) and shortened by
    /// [`offset`](Self::offset) as any other); without it, such a request has no deadline.
    pub fn default_budget(mut self, budget: Duration) -> Self {
        self.default = Some(budget);
        self
    }

    /// The deadline a request that sent `sent` runs under: the budget after the default, the
    /// cap and the offset. `Some(ZERO)` is a budget already gone.
    pub(crate) fn budget(&self, sent: Option<Duration>) -> Option<Duration> {
        let budget = sent.or(self.default)?;
        let capped = match self.max {
            Some(max) => budget.min(max),
            None => budget,
        };
        Some(capped.saturating_sub(self.offset))
    }
}

impl Default for DeadlineLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService::new(inner, self.clone())
    }
}
