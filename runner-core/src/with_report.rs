//! The form of both engines that also returns the run's [`Report`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::FanOutError;
use crate::report::Report;

/// An engine's run, polled by [`FanOut`](crate::FanOut), [`RunAll`](crate::RunAll) and
/// [`WithReport`].
pub trait Run: sealed::Sealed {
    /// What the run gives on success.
    type Ok;
    /// How the report stores its records.
    type Records: AsRef<[crate::TaskRecord]>;

    #[doc(hidden)]
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Self::Ok, FanOutError>>;

    /// Called once, after `poll_run` returned `Ready`.
    #[doc(hidden)]
    fn report(self: Pin<&mut Self>) -> Report<Self::Records>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

pin_project! {
    /// A fan-out that returns its [`Report`] beside its result, even when it failed.
    ///
    /// Made by [`FanOut::with_report`](crate::FanOut::with_report) and
    /// [`RunAll::with_report`](crate::RunAll::with_report).
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithReport<R> {
        #[pin]
        run: R,
    }
}

impl<R> WithReport<R> {
    pub(crate) fn new(run: R) -> Self {
        Self { run }
    }
}

impl<R: Run> Future for WithReport<R> {
    type Output = (Result<R::Ok, FanOutError>, Report<R::Records>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut run = self.project().run;
        let result = std::task::ready!(run.as_mut().poll_run(cx));
        Poll::Ready((result, run.report()))
    }
}

impl<R: Run + futures::future::FusedFuture> futures::future::FusedFuture for WithReport<R> {
    fn is_terminated(&self) -> bool {
        self.run.is_terminated()
    }
}
