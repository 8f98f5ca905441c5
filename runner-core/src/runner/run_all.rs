//! The future of a [`TaskRunner`] run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::future::FusedFuture;
use pin_project_lite::pin_project;

use super::engine::Engine;
use super::threading::{Sendable, Threading};
use super::{Results, TaskRunner};
use crate::error::FanOutError;
use crate::report::Report;
use crate::runner::erased::ErasedSlot;
use crate::timer::Clock;
use crate::with_report::{Run, WithReport, sealed};

pin_project! {
    /// The future of [`TaskRunner::run_all`]: `Result<Results, FanOutError>`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct RunAll<'a, M: Threading = Sendable> {
        #[pin]
        engine: Engine<'a, M>,
        want_report: bool,
        report: Option<Report>,
        finished: bool,
    }
}

impl<'a, M: Threading> RunAll<'a, M> {
    pub(super) fn new(runner: TaskRunner<'a, M>) -> Self {
        Self {
            engine: Engine::new(runner, false),
            want_report: false,
            report: None,
            finished: false,
        }
    }

    /// The same run, returning its [`Report`] beside its result.
    pub fn with_report(mut self) -> WithReport<Self> {
        self.want_report = true;
        WithReport::new(self)
    }
}

impl<M: Threading> sealed::Sealed for RunAll<'_, M> {}

impl<'a, M: Threading> Run for RunAll<'a, M> {
    type Ok = Results<'a, M>;
    type Records = Vec<crate::TaskRecord>;

    fn poll_run(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Results<'a, M>, FanOutError>> {
        let mut this = self.project();
        assert!(!*this.finished, "`RunAll` polled after completion");
        let mut clock = Clock::default();
        let result = ready!(this.engine.as_mut().poll_tasks(cx, &mut clock));
        *this.finished = true;
        let (result, elapsed) = this.engine.as_mut().conclude(result, true, &mut clock);
        if *this.want_report {
            *this.report = Some(Report::new(
                this.engine
                    .slots()
                    .iter()
                    .map(|slot| slot.record())
                    .collect(),
                elapsed,
            ));
        }
        let slots = this.engine.as_mut().take_slots();
        let runner = this.engine.runner();
        Poll::Ready(result.map(|()| Results::new(slots, runner, elapsed)))
    }

    fn report(self: Pin<&mut Self>) -> Report {
        self.project()
            .report
            .take()
            .unwrap_or_else(|| Report::new(Vec::new(), Default::default()))
    }
}

impl<'a, M: Threading> Future for RunAll<'a, M> {
    type Output = Result<Results<'a, M>, FanOutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_run(cx)
    }
}

impl<M: Threading> FusedFuture for RunAll<'_, M> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}
