//! [`PropagateService`]: a client service that writes the budget and the trace on each
//! request.

use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use crate::client::Propagate;

/// The service [`PropagateLayer`](crate::PropagateLayer) wraps a client in. It writes the
/// headers as the request is sent (in `call`, inside the task that sends it) and returns
/// the client's own future.
#[derive(Debug, Clone)]
pub struct PropagateService<S> {
    inner: S,
    propagate: Propagate,
}

impl<S> PropagateService<S> {
    pub(crate) fn new(inner: S, propagate: Propagate) -> Self {
        Self { inner, propagate }
    }
}

impl<S, B> Service<Request<B>> for PropagateService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.propagate.write(request.headers_mut());
        self.inner.call(request)
    }
}
