//! The server side: [`DeadlineLayer`] reads the caller's budget (and, with the
//! `opentelemetry` feature, its trace) from each request, answers at once a request whose
//! budget is gone or unreadable, and runs the handler under the budget as its deadline.

mod answer;
mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::DeadlineLayer;
pub use self::service::DeadlineService;

use std::time::Duration;

use tokio::time::Instant;

/// What [`DeadlineLayer`] read from a request, in its extensions for the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingDeadline {
    /// The budget the caller sent, as sent (the tighter of the two headers), before the
    /// layer's cap and offset; `None` if it sent none.
    pub sent: Option<Duration>,
    /// The deadline the handler runs under: `None` without one.
    pub deadline: Option<Instant>,
}
