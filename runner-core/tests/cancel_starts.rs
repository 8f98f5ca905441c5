//! A cancel made as a `TaskRunner` task is timed out (the drop of its future cancels the
//! run's token) starts no task after it: counted by the task spans opened, with the
//! process's subscriber, the one test in this binary.

mod support;

use std::future::pending;

use runner_core::{CancellationToken, FanOutError, Task, TaskRunner};
use support::{Boom, ms};

/// A cancel made as a task is timed out (its future's drop cancels the token) starts no
/// task after it: the queued one never opens its span.
#[tokio::test(start_paused = true)]
async fn a_cancel_made_as_a_task_times_out_starts_no_other() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::prelude::*;

    /// Counts the task spans opened: one per task started.
    #[derive(Clone, Default)]
    struct Starts(Arc<AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Starts {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if attrs.metadata().name() == "task" {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let starts = Starts::default();
    // The process's subscriber, set once: a thread's own could miss a span whose interest
    // another test's thread settled first.
    tracing_subscriber::registry().with(starts.clone()).init();
    let token = CancellationToken::new();
    let mut runner = TaskRunner::new()
        .concurrency_limit(1)
        .cancel_on(token.clone());
    let guard = token.clone().drop_guard();
    let _a = runner.add(
        Task::best_effort("a", async move {
            let _guard = guard;
            pending::<()>().await;
            Ok::<u32, Boom>(0)
        })
        .timeout(ms(10)),
    );
    let _b = runner.add(Task::best_effort("b", async { Ok::<u32, Boom>(0) }));
    let result = runner.run_all().await;
    assert!(matches!(result, Err(FanOutError::Cancelled)));
    assert_eq!(starts.0.load(Ordering::SeqCst), 1, "tasks started");
}
