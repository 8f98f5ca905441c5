//! [`DeadlineService`]: the layer around one service.

use std::task::{Context, Poll};

use http::{Request, Response};
use runner_core::Deadline;
use tokio::time::Instant;
use tower_service::Service;

use crate::header;
use crate::server::future::ResponseFuture;
use crate::server::{DeadlineLayer, IncomingDeadline, answer};

/// The service [`DeadlineLayer`] wraps `S` in.
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    layer: DeadlineLayer,
}

impl<S> DeadlineService<S> {
    pub(crate) fn new(inner: S, layer: DeadlineLayer) -> Self {
        Self { inner, layer }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DeadlineService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<http_body_util::Either<ResBody, http_body_util::Full<bytes::Bytes>>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let span = crate::trace::server_span(&request);
        let grpc = answer::is_grpc(request.headers());
        let layer = &self.layer;
        let sent = match header::read(request.headers(), &layer.header, layer.grpc) {
            Ok(sent) => sent,
            Err(error) => return ResponseFuture::answered(answer::invalid(&error, grpc), span),
        };
        let deadline = match layer.budget(sent) {
            Some(budget) if budget.is_zero() => {
                return ResponseFuture::answered(answer::deadline_exceeded(grpc), span);
            }
            // A budget past what an `Instant` can hold is no deadline, as with
            // `tokio::time::sleep`.
            Some(budget) => Instant::now().checked_add(budget),
            None => None,
        };
        request
            .extensions_mut()
            .insert(IncomingDeadline { sent, deadline });
        let deadline = deadline.map_or_else(Deadline::none, Deadline::until);
        // The handler's future is made inside the span and the deadline too: an axum
        // handler does its first work there.
        let future = span.in_scope(|| deadline.run(|| self.inner.call(request)));
        ResponseFuture::running(deadline.scope(future), span)
    }
}
