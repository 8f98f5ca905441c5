//! The policies' `tracing` events, in a test binary of their own: tracing caches each
//! callsite's interest process-wide, and tests running beside this one without a subscriber
//! would race it.

use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

/// The events a subscriber sees, with the task's name: one per retry, one when the breaker
/// opens, one per refused call.
#[test]
fn retries_emit_events() {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<(String, String)>>>);
    struct Fields(Option<String>, Option<String>);
    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "task" => self.0 = Some(value.to_owned()),
                "policy" => self.1 = Some(value.to_owned()),
                _ => {}
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if event.metadata().target() == "runner_core::policy" {
                let mut fields = Fields(None, None);
                event.record(&mut fields);
                if let (Some(task), Some(policy)) = (fields.0, fields.1) {
                    self.0.lock().unwrap().push((task, policy));
                }
            }
        }
    }

    #[task(critical, timeout = "1s", retry(attempts = 3, backoff = "1ms"))]
    async fn down() -> Result<u32, Unavailable> {
        Err(Unavailable)
    }
    #[task(
        best_effort,
        timeout = "1s",
        breaker(failures = 1, window = "10s", cooldown = "10s")
    )]
    async fn card() -> Result<u32, Unavailable> {
        Err(Unavailable)
    }
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            down().await.unwrap_err();
            card().await.unwrap_err();
            card().await.unwrap_err();
        })
    });
    let seen = seen.0.lock().unwrap().clone();
    let event = |task: &str, policy: &str| (task.to_owned(), policy.to_owned());
    assert_eq!(
        seen,
        [
            event("down", "retry"),
            event("down", "retry"),
            event("card", "breaker"),
            event("card", "rejected"),
        ]
    );
}
