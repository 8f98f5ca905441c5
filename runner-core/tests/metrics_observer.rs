//! The `metrics` feature: policy events recorded as counters and histograms.

#![cfg(feature = "metrics")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use runner_core::policy::MetricsObserver;
use runner_core::{Breaker, Policy, Retry};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[test]
fn policy_events_become_counters_and_histograms() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let policy = Policy::builder()
                .name("wallet")
                .retry(Retry::new(2).backoff(Duration::from_millis(1)))
                .breaker(Breaker::new(
                    1,
                    Duration::from_secs(10),
                    Duration::from_secs(5),
                ))
                .observer(Arc::new(MetricsObserver))
                .build()
                .unwrap();
            let n = AtomicU32::new(0);
            // Fails once, opening the breaker: the retry is refused, and the next call too.
            let task = || {
                policy.best_effort("balance", || {
                    n.fetch_add(1, Ordering::SeqCst);
                    async { Err::<u32, _>(Unavailable) }
                })
            };
            assert!(task().await.is_err());
            assert!(task().await.is_err());
            assert_eq!(n.load(Ordering::SeqCst), 1);

            // Two calls at once through a rate limit of one: the second waits 100 ms.
            let limited = Policy::builder()
                .name("cards")
                .rate_limit(runner_core::RateLimit::new(1, Duration::from_millis(100)))
                .observer(Arc::new(MetricsObserver))
                .build()
                .unwrap();
            let card = || limited.best_effort("card", || async { Ok::<u32, Unavailable>(1) });
            let (first, second) = tokio::join!(card(), card());
            assert_eq!((first.unwrap(), second.unwrap()), (1, 1));
        })
    });
    let mut seen: Vec<(String, Vec<String>, String)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => format!("{kind:?} {n}"),
                DebugValue::Histogram(samples) => format!("{kind:?} x{}", samples.len()),
                DebugValue::Gauge(g) => format!("{kind:?} {g}"),
            };
            (key.name().to_owned(), labels, value)
        })
        .collect();
    seen.sort();
    let labeled = |task: &str, policy: &str, extra: &[&str]| {
        let mut labels = vec![format!("task={task}"), format!("policy={policy}")];
        labels.extend(extra.iter().map(|label| (*label).to_owned()));
        labels
    };
    let labels = |extra: &[&str]| labeled("balance", "wallet", extra);
    let cards = |extra: &[&str]| labeled("card", "cards", extra);
    assert_eq!(
        seen,
        vec![
            (
                "runner_policy_attempt_duration_seconds".to_owned(),
                labels(&["outcome=failed"]),
                "Histogram x1".to_owned()
            ),
            (
                "runner_policy_attempt_duration_seconds".to_owned(),
                cards(&["outcome=succeeded"]),
                "Histogram x2".to_owned()
            ),
            (
                "runner_policy_attempts_total".to_owned(),
                labels(&["outcome=failed"]),
                "Counter 1".to_owned()
            ),
            (
                "runner_policy_attempts_total".to_owned(),
                cards(&["outcome=succeeded"]),
                "Counter 2".to_owned()
            ),
            (
                "runner_policy_breaker_openings_total".to_owned(),
                labels(&["cause=failures"]),
                "Counter 1".to_owned()
            ),
            (
                "runner_policy_breaker_transitions_total".to_owned(),
                labels(&["state=open"]),
                "Counter 1".to_owned()
            ),
            (
                "runner_policy_rejections_total".to_owned(),
                labels(&["reason=breaker_open"]),
                "Counter 1".to_owned()
            ),
            (
                "runner_policy_retries_refused_total".to_owned(),
                labels(&["reason=breaker"]),
                "Counter 1".to_owned()
            ),
            (
                "runner_policy_throttle_wait_seconds".to_owned(),
                cards(&[]),
                "Histogram x1".to_owned()
            ),
            (
                "runner_policy_throttled_total".to_owned(),
                cards(&[]),
                "Counter 1".to_owned()
            ),
        ]
    );
}
