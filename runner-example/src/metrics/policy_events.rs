//! The resilience policies on `/metrics`: a `tracing` layer that counts the events
//! `runner_core`'s policies emit (target `runner_core::policy`), by task and by what they say.
//!
//! The policies report through `tracing` rather than through a metrics API of their own, so
//! this layer reads the fields every policy event carries: `task`, and `policy` (`retry`,
//! `retry_refused`, `hedge`, `breaker`, `rejected`, `fallback`), with `why`, `state` or
//! `reason` beside it. [`policy_metrics_layer`] installs it behind a filter of its own, so it
//! sees those `debug` events whatever level the logs are at.
//!
//! A task fn's policy lives in a `static`, shared by every gateway in the process, and so do
//! these counters: one [`PolicyMetrics::global`] that every gateway's registry shows. (Per
//! gateway counts would split one breaker's story across registries.)

use std::fmt;
use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::TaskLabels;

/// The target of the events `runner_core`'s policies emit.
const POLICY_TARGET: &str = "runner_core::policy";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    task: String,
    why: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    task: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    task: String,
    reason: String,
}

/// The policy counters, by task. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct PolicyMetrics {
    retries: Family<TaskLabels, Counter>,
    retries_refused: Family<RefusedLabels, Counter>,
    hedges: Family<TaskLabels, Counter>,
    breaker_transitions: Family<StateLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    fallbacks: Family<TaskLabels, Counter>,
}

static GLOBAL: LazyLock<PolicyMetrics> = LazyLock::new(PolicyMetrics::default);

impl PolicyMetrics {
    /// The process's counters: what [`policy_metrics_layer`] counts into and every
    /// [`Metrics`](crate::Metrics) renders.
    pub fn global() -> &'static Self {
        &GLOBAL
    }

    /// Adds the counters to `registry` (they stay shared with `self`).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_policy_retries",
            "Retries made after a backoff, by task (one the open breaker then refuses is also \
             a rejection)",
            self.retries.clone(),
        );
        registry.register(
            "gateway_policy_retries_refused",
            "Failed calls that could have been retried but were not, by task and why \
             (deadline: no time left for another attempt; breaker: the breaker would refuse it; \
             budget: the retry budget is spent)",
            self.retries_refused.clone(),
        );
        registry.register(
            "gateway_policy_hedges",
            "Hedged attempts started beside a slow one, by task",
            self.hedges.clone(),
        );
        registry.register(
            "gateway_policy_breaker_transitions",
            "Circuit breaker state changes, by task and the state entered \
             (open, half_open, closed)",
            self.breaker_transitions.clone(),
        );
        registry.register(
            "gateway_policy_rejections",
            "Calls refused before they ran, by task and reason (breaker_open, limit_reached)",
            self.rejections.clone(),
        );
        registry.register(
            "gateway_policy_fallbacks",
            "Failed calls answered by the task's fallback, by task",
            self.fallbacks.clone(),
        );
    }

    /// Counts one policy event. An event without its `task`, of an unknown kind, or without
    /// the field its kind needs, is left out rather than counted under an empty label.
    fn record(&self, event: PolicyEvent) {
        let PolicyEvent {
            task: Some(task),
            policy: Some(kind),
            why,
            state,
            reason,
        } = event
        else {
            return;
        };
        match (kind, why, state, reason) {
            (Kind::Retry, ..) => self.retries.get_or_create(&TaskLabels { task }).inc(),
            (Kind::RetryRefused, Some(why), ..) => self
                .retries_refused
                .get_or_create(&RefusedLabels { task, why })
                .inc(),
            (Kind::Hedge, ..) => self.hedges.get_or_create(&TaskLabels { task }).inc(),
            (Kind::Breaker, _, Some(state), _) => self
                .breaker_transitions
                .get_or_create(&StateLabels { task, state })
                .inc(),
            (Kind::Rejected, _, _, Some(reason)) => self
                .rejections
                .get_or_create(&ReasonLabels { task, reason })
                .inc(),
            (Kind::Fallback, ..) => self.fallbacks.get_or_create(&TaskLabels { task }).inc(),
            (Kind::RetryRefused | Kind::Breaker | Kind::Rejected, ..) => return,
        };
    }
}

/// What a policy event says happened: its `policy` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Retry,
    RetryRefused,
    Hedge,
    Breaker,
    Rejected,
    Fallback,
}

impl Kind {
    fn parse(policy: &str) -> Option<Self> {
        Some(match policy {
            "retry" => Self::Retry,
            "retry_refused" => Self::RetryRefused,
            "hedge" => Self::Hedge,
            "breaker" => Self::Breaker,
            "rejected" => Self::Rejected,
            "fallback" => Self::Fallback,
            _ => return None,
        })
    }
}

/// The fields of one policy event that the counters need. `runner_core` records them all as
/// `&'static str`, so only `record_str` is read.
#[derive(Debug, Default)]
struct PolicyEvent {
    task: Option<String>,
    policy: Option<Kind>,
    /// Of a `retry_refused` event.
    why: Option<String>,
    /// Of a `breaker` event.
    state: Option<String>,
    /// Of a `rejected` event.
    reason: Option<String>,
}

impl PolicyEvent {
    fn read(event: &Event<'_>) -> Self {
        let mut fields = Self::default();
        event.record(&mut fields);
        fields
    }
}

impl Visit for PolicyEvent {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "task" => self.task = Some(value.to_owned()),
            "policy" => self.policy = Kind::parse(value),
            "why" => self.why = Some(value.to_owned()),
            "state" => self.state = Some(value.to_owned()),
            "reason" => self.reason = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The layer that counts policy events into its [`PolicyMetrics`].
#[derive(Debug, Clone)]
pub struct PolicyEventLayer {
    metrics: PolicyMetrics,
}

impl PolicyEventLayer {
    /// A layer counting into `metrics`.
    pub fn new(metrics: PolicyMetrics) -> Self {
        Self { metrics }
    }
}

impl<S: Subscriber> Layer<S> for PolicyEventLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        // The filter lets the target's children through too; the events are on this one.
        if event.metadata().target() == POLICY_TARGET {
            self.metrics.record(PolicyEvent::read(event));
        }
    }
}

/// The policy events at `debug` and above, and nothing else.
fn policy_events_filter() -> Targets {
    Targets::new().with_target(POLICY_TARGET, LevelFilter::DEBUG)
}

/// The layer that feeds [`PolicyMetrics::global`], behind a filter of its own that lets
/// through the policy events at `debug` and above and nothing else: add it to the process's
/// subscriber beside the log layer, whose level then does not hide these events from it
/// (`main` does; so do the end-to-end tests that read the policy counters).
pub fn policy_metrics_layer<S>() -> Filtered<PolicyEventLayer, Targets, S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    PolicyEventLayer::new(PolicyMetrics::global().clone()).with_filter(policy_events_filter())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use prometheus_client::encoding::text::encode;
    use runner_core::{Breaker, Budget, Options, Policy, Retry, TaskError};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("down")]
    struct Down;

    /// Runs `work` with a subscriber that has only the policy layer, counting into a fresh
    /// [`PolicyMetrics`], and a log layer at `log_level`; returns the rendered counters.
    fn counted<F: FnOnce()>(log_level: LevelFilter, work: F) -> String {
        let metrics = PolicyMetrics::default();
        let subscriber = tracing_subscriber::registry()
            .with(Logged.with_filter(log_level))
            .with(PolicyEventLayer::new(metrics.clone()).with_filter(policy_events_filter()));
        tracing::subscriber::with_default(subscriber, work);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encoded");
        text
    }

    /// A stand-in for the log layer: it only has a level filter.
    struct Logged;

    impl<S: Subscriber> Layer<S> for Logged {}

    /// On a paused clock, on this thread, so the thread's default subscriber sees it all.
    fn paused<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }

    fn lacks(text: &str, series: &str) {
        assert!(
            !text.lines().any(|l| l.starts_with(series)),
            "unexpected `{series}` in:\n{text}"
        );
    }

    #[test]
    fn counts_what_a_real_policy_does_to_a_failing_call() {
        static FLAKY: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
            Policy::builder()
                .retry(Retry::new(3).backoff(Duration::from_millis(1)))
                .breaker(Breaker::new(
                    3,
                    Duration::from_secs(10),
                    Duration::from_secs(5),
                ))
                .build()
                .unwrap()
        });
        let calls = AtomicUsize::new(0);
        let text = counted(LevelFilter::INFO, || {
            paused(async {
                let attempt = || {
                    let call = calls.fetch_add(1, Ordering::SeqCst);
                    // The first three attempts fail; the probe after the cooldown succeeds.
                    async move { if call < 3 { Err(Down) } else { Ok(call) } }
                };
                // Three attempts fail (two retries): the third opens the breaker.
                let first = FLAKY.best_effort("flaky", attempt).await;
                assert!(matches!(first, Err(TaskError::Failed(Down))), "{first:?}");
                // Refused while open, and not retried.
                let second = FLAKY.best_effort("flaky", attempt).await;
                assert!(matches!(second, Err(TaskError::Rejected(_))), "{second:?}");
                // After the cooldown, one probe goes through and closes it.
                tokio::time::sleep(Duration::from_secs(5)).await;
                let third = FLAKY.best_effort("flaky", attempt).await;
                assert_eq!(third.ok(), Some(3));
            });
        });
        has(&text, r#"gateway_policy_retries_total{task="flaky"} 2"#);
        for state in ["open", "half_open", "closed"] {
            has(
                &text,
                &format!(
                    r#"gateway_policy_breaker_transitions_total{{task="flaky",state="{state}"}} 1"#
                ),
            );
        }
        has(
            &text,
            r#"gateway_policy_rejections_total{task="flaky",reason="breaker_open"} 1"#,
        );
        lacks(&text, "gateway_policy_hedges_total{");
        lacks(&text, "gateway_policy_retries_refused_total{");
    }

    #[test]
    fn counts_hedges_refused_retries_and_fallbacks() {
        static HEDGED: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
            Policy::builder()
                .hedge(runner_core::Hedge::new(Duration::from_millis(10)).max(1))
                .build()
                .unwrap()
        });
        // No budget at all: the first retry is refused.
        static BROKE: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
            Policy::builder()
                .retry(Retry::new(3).budget(Budget::new(0.0, Duration::from_secs(1), 0)))
                .build()
                .unwrap()
        });
        static FALLS_BACK: std::sync::LazyLock<Policy> =
            std::sync::LazyLock::new(|| Policy::builder().build().unwrap());
        let text = counted(LevelFilter::WARN, || {
            paused(async {
                let slow = || async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Down>(1)
                };
                assert_eq!(HEDGED.best_effort("slow", slow).await.ok(), Some(1));
                let failing = || async { Err::<u32, _>(Down) };
                assert!(BROKE.best_effort("broke", failing).await.is_err());
                let options = Options::new().fallback(|_: &TaskError<Down>| 0_u32);
                let value = FALLS_BACK
                    .task::<runner_core::BestEffort, _, _, _, _, _>("falls_back", failing, options)
                    .await;
                assert_eq!(value.ok(), Some(0));
            });
        });
        has(&text, r#"gateway_policy_hedges_total{task="slow"} 1"#);
        has(
            &text,
            r#"gateway_policy_retries_refused_total{task="broke",why="budget"} 1"#,
        );
        has(
            &text,
            r#"gateway_policy_fallbacks_total{task="falls_back"} 1"#,
        );
        lacks(&text, "gateway_policy_retries_total{");
    }

    #[test]
    fn sees_debug_policy_events_under_a_warn_log_and_nothing_else() {
        let text = counted(LevelFilter::WARN, || {
            tracing::debug!(target: "runner_core::policy", task = "t", policy = "retry", "retrying");
            // Too verbose for the filter, another target, a child target, an unknown kind,
            // and events missing a field they need: none counts.
            tracing::trace!(target: "runner_core::policy", task = "t", policy = "retry", "x");
            tracing::debug!(target: "elsewhere", task = "t", policy = "retry", "x");
            tracing::debug!(target: "runner_core::policy::inner", task = "t", policy = "retry");
            tracing::debug!(target: "runner_core::policy", task = "t", policy = "explode");
            tracing::debug!(target: "runner_core::policy", policy = "retry", "no task");
            tracing::debug!(target: "runner_core::policy", task = "t", policy = "breaker");
            tracing::debug!(target: "runner_core::policy", task = "t", policy = "rejected");
            // Fields in another order, and a field as a number, still read.
            tracing::info!(target: "runner_core::policy", state = "open", attempt = 2, policy = "breaker", task = "t");
        });
        has(&text, r#"gateway_policy_retries_total{task="t"} 1"#);
        has(
            &text,
            r#"gateway_policy_breaker_transitions_total{task="t",state="open"} 1"#,
        );
        lacks(&text, "gateway_policy_rejections_total{");
    }

    #[test]
    fn every_gateway_shows_the_global_counters() {
        // What `policy_metrics_layer` counts into: the process's counters (under a task name
        // no other test uses, since they are shared).
        let subscriber = tracing_subscriber::registry().with(policy_metrics_layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "runner_core::policy", task = "global_test", policy = "hedge");
        });
        for _ in 0..2 {
            let text = crate::Metrics::new().render().expect("rendered");
            has(
                &text,
                r#"gateway_policy_hedges_total{task="global_test"} 1"#,
            );
        }
    }
}
