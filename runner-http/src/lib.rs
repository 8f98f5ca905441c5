//! runner-core across the wire: the caller's deadline and trace, carried into a service and
//! out of it again, as tower middleware.
//!
//! A request's budget comes in as `x-request-deadline-ms` (whole milliseconds) or gRPC's
//! `grpc-timeout`; [`DeadlineLayer`] makes it the deadline that `fan_out!`, `TaskRunner`,
//! tasks and [`runner_core::remaining()`] see inside the handler, and answers at once a
//! request whose budget is already gone (504) or cannot be read (400). A call the handler's
//! tasks make downstream carries what is left of it: [`Propagate`] writes it on each
//! outgoing request, as a tower layer ([`PropagateLayer`]) for a hyper or tower client, or as
//! a `reqwest_middleware::Middleware` (the `reqwest` feature). With the `opentelemetry`
//! feature (on by default) the W3C `traceparent` travels the same way: each request runs in
//! a server span whose parent is its caller's, and each call out carries the span of the
//! task that makes it.
//!
//! runner-core itself has no HTTP dependency: this crate is where HTTP meets it.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use runner_core::{fan_out, task};
//! use runner_http::{DeadlineLayer, Propagate};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! #[task(critical, timeout = "200ms")]
//! async fn balance(user_id: u64) -> Result<u64, WalletError> {
//!     // Inside the task, `Propagate` writes `remaining()` on the request it sends:
//!     // the tighter of this task's 200 ms and what the caller gave.
//!     Ok(user_id * 100)
//! }
//!
//! async fn page() -> String {
//!     // No deadline of its own: the fan-out inherits the caller's.
//!     match fan_out!(balance(7)).await {
//!         Ok((balance,)) => balance.to_string(),
//!         Err(error) => error.to_string(),
//!     }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/page", get(page))
//!     .layer(DeadlineLayer::new().max(Duration::from_secs(30)));
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(Propagate::new())
//!     .build();
//! # let _ = (app, client);
//! ```

mod client;
mod header;
mod server;
mod trace;

pub use crate::client::{Propagate, PropagateLayer, PropagateService};
pub use crate::header::{DEADLINE_MS, GRPC_TIMEOUT, InvalidBudget};
pub use crate::server::{DeadlineLayer, DeadlineService, IncomingDeadline, ResponseFuture};
