//! [`PropagateLayer`]: [`Propagate`] as a tower layer, for a hyper or tower HTTP client.

use tower_layer::Layer;

use crate::client::{Propagate, PropagateService};

/// Writes the running task's remaining budget and trace context on each request a tower
/// HTTP client sends (see [`Propagate`] for what is written).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use runner_http::{Propagate, PropagateLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// let client = ServiceBuilder::new()
///     .layer(PropagateLayer::new(Propagate::new().grpc_timeout()))
///     .service(service_fn(|request: Request<String>| async move {
///         Ok::<_, Infallible>(Response::new(format!("{:?}", request.headers())))
///     }));
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Default)]
pub struct PropagateLayer {
    propagate: Propagate,
}

impl PropagateLayer {
    /// A layer that writes what `propagate` says.
    pub fn new(propagate: Propagate) -> Self {
        Self { propagate }
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = PropagateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateService::new(inner, self.propagate.clone())
    }
}
