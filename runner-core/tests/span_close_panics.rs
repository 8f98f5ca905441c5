//! A `tracing` subscriber that panics as a task's span closes: the panic passes through the
//! drop of a run that is still running, and every task's future is still dropped (in a
//! binary of its own, as the subscriber is the thread's and its interest is global).

mod support;

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use runner_core::{Task, TaskRunner};
use support::{Act, Probe};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Takes every span, and panics the first time one closes.
#[derive(Default)]
struct PanicsOnFirstClose {
    next: AtomicU64,
    panicked: AtomicBool,
}

impl Subscriber for PanicsOnFirstClose {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}

    fn try_close(&self, _: Id) -> bool {
        if !self.panicked.swap(true, Ordering::Relaxed) {
            panic!("a layer that panics as a span closes");
        }
        true
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_as_a_span_closes_leaves_no_task_of_a_dropped_run_undropped() {
    let _subscriber = tracing::subscriber::set_default(PanicsOnFirstClose::default());
    tracing::callsite::rebuild_interest_cache();
    let probe = Probe::default();
    let mut runner = TaskRunner::new();
    let _a = runner.add(Task::best_effort("a", probe.task(1_000, Act::Ok, 1)));
    let _b = runner.add(Task::best_effort("b", probe.task(1_000, Act::Ok, 2)));
    let mut run = Box::pin(runner.run_all());
    let pending = poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx).is_pending())).await;
    assert!(pending);
    assert_eq!(probe.alive(), 2);
    // The first task's span panics as the run drops it; the second task is dropped all the
    // same, as the panic passes.
    assert!(catch_unwind(AssertUnwindSafe(|| drop(run))).is_err());
    assert_eq!(probe.alive(), 0);
}
