//! [`ResponseFuture`]: the handler's answer under the caller's deadline and in the request's
//! span, or the layer's own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use runner_core::Scoped;
use tracing::Span;

pin_project! {
    /// The future of [`DeadlineService`](crate::DeadlineService)'s answer.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: Scoped<F> },
        Answered { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn running(future: Scoped<F>, span: Span) -> Self {
        Self {
            state: State::Running { future },
            span,
        }
    }

    pub(crate) fn answered(response: Response<Full<Bytes>>, span: Span) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
            span,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<B, Full<Bytes>>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let response = match this.state.project() {
            StateProj::Running { future } => ready!(future.poll(cx))?.map(Either::Left),
            StateProj::Answered { response } => response
                .take()
                .expect("`ResponseFuture` polled after completion")
                .map(Either::Right),
        };
        crate::trace::record_status(this.span, response.status());
        Poll::Ready(Ok(response))
    }
}
