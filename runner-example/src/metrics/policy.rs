//! The resilience policies on `/metrics`: an [`Observer`] that counts the typed events of the
//! gateway's own policies, by task and by what they say.
//!
//! Each gateway owns its policies, and so their counters: two gateways in one process (as the
//! end-to-end tests run them) each count their own. Every known series starts at 0, as
//! Prometheus advises, so that a dashboard shows 0 rather than nothing before the first
//! event.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use runner_core::{
    BreakerState, BreakerTrip, EventKind, Observer, PolicyEvent, Rejection, RetryRefusal,
};
use std::sync::atomic::AtomicU64;

use super::TaskLabels;

/// The gateway's tasks, each with a policy: the series every counter starts at 0 for.
pub(crate) const TASKS: [&str; 2] = ["get_balance", "get_scratch_card"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    task: &'static str,
    why: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    task: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    task: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    task: &'static str,
    cause: &'static str,
}

/// The policy counters, by task. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct PolicyMetrics {
    retries: Family<TaskLabels, Counter>,
    retries_refused: Family<RefusedLabels, Counter>,
    hedges: Family<TaskLabels, Counter>,
    breaker_transitions: Family<StateLabels, Counter>,
    breaker_openings: Family<CauseLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    fallbacks: Family<TaskLabels, Counter>,
    coalesced: Family<TaskLabels, Counter>,
    takeovers: Family<TaskLabels, Counter>,
    coalesce_full: Family<TaskLabels, Counter>,
    // An adaptive limit's, as it changes (no series before the first change).
    limits: Family<TaskLabels, Gauge>,
    // The last opening's length, which the error may set (a `Retry-After`): no series
    // before the first opening, as a break that never was has no length.
    breaker_cooldowns: Family<TaskLabels, Gauge<f64, AtomicU64>>,
}

impl PolicyMetrics {
    /// Counters at 0 for every task, reason and state the gateway knows.
    pub(crate) fn new() -> Self {
        let metrics = Self::default();
        for task in TASKS {
            let labels = || TaskLabels { task };
            // Each `get_or_create` makes its series, at 0.
            let _ = metrics.retries.get_or_create(&labels());
            let _ = metrics.hedges.get_or_create(&labels());
            let _ = metrics.fallbacks.get_or_create(&labels());
            let _ = metrics.coalesced.get_or_create(&labels());
            let _ = metrics.takeovers.get_or_create(&labels());
            let _ = metrics.coalesce_full.get_or_create(&labels());
            for why in [
                RetryRefusal::Deadline,
                RetryRefusal::Breaker,
                RetryRefusal::Budget,
                RetryRefusal::Delay,
            ] {
                let _ = metrics.retries_refused.get_or_create(&RefusedLabels {
                    task,
                    why: why.as_str(),
                });
            }
            for state in [
                BreakerState::Open,
                BreakerState::HalfOpen,
                BreakerState::Closed,
            ] {
                let _ = metrics.breaker_transitions.get_or_create(&StateLabels {
                    task,
                    state: state.as_str(),
                });
            }
            for cause in [
                BreakerTrip::Failures,
                BreakerTrip::SlowCalls,
                BreakerTrip::FailedTrial,
            ] {
                let _ = metrics.breaker_openings.get_or_create(&CauseLabels {
                    task,
                    cause: cause.as_str(),
                });
            }
            for reason in [
                Rejection::BreakerOpen,
                Rejection::LimitReached,
                Rejection::RateLimited,
            ] {
                let _ = metrics.rejections.get_or_create(&ReasonLabels {
                    task,
                    reason: reason.as_str(),
                });
            }
        }
        metrics
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
             budget: the retry budget is spent; delay: the error asked for a longer wait, its \
             Retry-After, than the retry's backoff cap)",
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
             (open, half_open, closed, forced_open, forced_closed)",
            self.breaker_transitions.clone(),
        );
        registry.register(
            "gateway_policy_breaker_openings",
            "Circuit breaker openings, by task and what opened it (failures: the failure rate \
             or count; slow_calls: the slow-call rate; failed_trial: too few half-open trial \
             calls succeeded)",
            self.breaker_openings.clone(),
        );
        registry.register(
            "gateway_policy_breaker_cooldown_seconds",
            "How long the breaker's last opening keeps it open, by task: its cooldown, or the \
             wait the error that opened it asked for (the wallet's Retry-After)",
            self.breaker_cooldowns.clone(),
        );
        registry.register(
            "gateway_policy_rejections",
            "Calls refused before they ran, by task and reason (breaker_open, limit_reached, \
             rate_limited)",
            self.rejections.clone(),
        );
        registry.register(
            "gateway_policy_limit",
            "An adaptive concurrency limit, by task, as it last changed",
            self.limits.clone(),
        );
        registry.register(
            "gateway_policy_fallbacks",
            "Failed calls answered by the task's fallback, by task",
            self.fallbacks.clone(),
        );
        registry.register(
            "gateway_policy_coalesced",
            "Calls that waited for another call's run with the same key instead of running, by task",
            self.coalesced.clone(),
        );
        registry.register(
            "gateway_policy_coalesce_takeovers",
            "Runs taken over by a waiting call when the call that ran them left first, by task",
            self.takeovers.clone(),
        );
        registry.register(
            "gateway_policy_coalesce_full",
            "Calls run uncoalesced because their coalescing group was full, by task",
            self.coalesce_full.clone(),
        );
    }
}

impl Observer for PolicyMetrics {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        // An operator's hand on a breaker (a reset, a force) belongs to no task.
        if event.task.is_empty() {
            return;
        }
        let task = || event.task;
        match event.kind {
            EventKind::RetryScheduled { .. } => {
                self.retries
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            EventKind::RetryRefused { reason } => {
                let labels = RefusedLabels {
                    task: task(),
                    why: reason.as_str(),
                };
                self.retries_refused.get_or_create(&labels).inc();
            }
            EventKind::HedgeStarted { .. } => {
                self.hedges
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            EventKind::BreakerChanged { to, .. } => {
                let labels = StateLabels {
                    task: task(),
                    state: to.as_str(),
                };
                self.breaker_transitions.get_or_create(&labels).inc();
            }
            EventKind::BreakerOpened {
                cause, cooldown, ..
            } => {
                let labels = CauseLabels {
                    task: task(),
                    cause: cause.as_str(),
                };
                self.breaker_openings.get_or_create(&labels).inc();
                self.breaker_cooldowns
                    .get_or_create(&TaskLabels { task: task() })
                    .set(cooldown.as_secs_f64());
            }
            EventKind::Rejected { reason } => {
                let labels = ReasonLabels {
                    task: task(),
                    reason: reason.as_str(),
                };
                self.rejections.get_or_create(&labels).inc();
            }
            EventKind::LimitChanged { to, .. } => {
                let to = i64::try_from(to).unwrap_or(i64::MAX);
                self.limits
                    .get_or_create(&TaskLabels { task: task() })
                    .set(to);
            }
            EventKind::FallbackUsed { .. } => {
                self.fallbacks
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            EventKind::Coalesced { .. } => {
                self.coalesced
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            EventKind::CoalesceTakenOver => {
                self.takeovers
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            EventKind::CoalesceFull => {
                self.coalesce_full
                    .get_or_create(&TaskLabels { task: task() })
                    .inc();
            }
            // Per attempt: the task outcomes and durations come from the fan-out's report.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use runner_core::{Breaker, Hedge, Options, Policy, Retry, TaskError};

    use crate::Metrics;

    #[derive(Debug, thiserror::Error)]
    #[error("down")]
    struct Down;

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }

    /// On a paused clock.
    fn paused<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn every_known_series_starts_at_zero() {
        let text = Metrics::new().render().unwrap();
        for task in super::TASKS {
            has(
                &text,
                &format!("gateway_policy_retries_total{{task=\"{task}\"}} 0"),
            );
            has(
                &text,
                &format!("gateway_policy_hedges_total{{task=\"{task}\"}} 0"),
            );
            has(
                &text,
                &format!(
                    "gateway_policy_retries_refused_total{{task=\"{task}\",why=\"budget\"}} 0"
                ),
            );
            has(
                &text,
                &format!("gateway_policy_retries_refused_total{{task=\"{task}\",why=\"delay\"}} 0"),
            );
            has(
                &text,
                &format!(
                    "gateway_policy_breaker_transitions_total{{task=\"{task}\",state=\"open\"}} 0"
                ),
            );
            has(
                &text,
                &format!(
                    "gateway_policy_breaker_openings_total{{task=\"{task}\",cause=\"slow_calls\"}} 0"
                ),
            );
            has(
                &text,
                &format!(
                    "gateway_policy_rejections_total{{task=\"{task}\",reason=\"breaker_open\"}} 0"
                ),
            );
            has(
                &text,
                &format!("gateway_task_outcomes_total{{task=\"{task}\",outcome=\"timed_out\"}} 0"),
            );
        }
    }

    /// Each kind of event is counted under its task: a retry and the refusal of the next, a
    /// breaker opening, a rejection, a hedge and a fallback.
    #[test]
    fn the_policies_events_are_counted_by_kind() {
        let metrics = Metrics::new();
        let observer = Arc::new(metrics.policies().clone());
        paused(async {
            let wallet = Policy::builder()
                .retry(Retry::new(3).backoff(Duration::from_millis(1)))
                .breaker(Breaker::new(
                    2,
                    Duration::from_secs(10),
                    Duration::from_secs(5),
                ))
                .observer(observer.clone())
                .build()
                .unwrap();
            let down = || wallet.critical("get_balance", || async { Err::<u32, _>(Down) });
            // Attempt, retry, attempt: the second failure opens the breaker, which refuses
            // the third attempt's retry; the next call is rejected.
            assert!(down().await.is_err());
            assert!(matches!(down().await, Err(TaskError::Rejected(_))));

            let card = Policy::builder()
                .hedge(Hedge::new(Duration::from_millis(10)))
                .observer(observer)
                .build()
                .unwrap();
            let n = AtomicU32::new(0);
            let slow_then_fast = card.best_effort("get_scratch_card", || {
                let slow = n.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    let ms = if slow { 100 } else { 1 };
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok::<_, Down>(1_u32)
                }
            });
            assert_eq!(slow_then_fast.await.unwrap(), 1);
            let zero = |_: &TaskError<Down>| 0_u32;
            let falls_back = card.task::<runner_core::BestEffort, _, _, _, _, _>(
                "get_scratch_card",
                || async { Err::<u32, _>(Down) },
                Options::new().fallback(zero),
            );
            assert_eq!(falls_back.await.unwrap(), 0);
        });
        let text = metrics.render().unwrap();
        has(
            &text,
            "gateway_policy_retries_total{task=\"get_balance\"} 1",
        );
        has(
            &text,
            "gateway_policy_retries_refused_total{task=\"get_balance\",why=\"breaker\"} 1",
        );
        has(
            &text,
            "gateway_policy_breaker_transitions_total{task=\"get_balance\",state=\"open\"} 1",
        );
        has(
            &text,
            "gateway_policy_breaker_openings_total{task=\"get_balance\",cause=\"failures\"} 1",
        );
        has(
            &text,
            "gateway_policy_breaker_cooldown_seconds{task=\"get_balance\"} 5.0",
        );
        has(
            &text,
            "gateway_policy_rejections_total{task=\"get_balance\",reason=\"breaker_open\"} 1",
        );
        has(
            &text,
            "gateway_policy_hedges_total{task=\"get_scratch_card\"} 1",
        );
        has(
            &text,
            "gateway_policy_fallbacks_total{task=\"get_scratch_card\"} 1",
        );
    }

    /// An error that asks for a wait (a `Retry-After`): the retry refused as `delay`, and
    /// the break as long as it asked.
    #[test]
    fn an_error_asking_for_a_wait_is_counted_as_such() {
        let metrics = Metrics::new();
        let observer = Arc::new(metrics.policies().clone());
        let two_seconds = |_: &Down| Some(Duration::from_secs(2));
        paused(async {
            let wallet = Policy::builder()
                .retry(Retry::new(3))
                .breaker(Breaker::new(
                    1,
                    Duration::from_secs(10),
                    Duration::from_secs(5),
                ))
                .observer(observer)
                .build()
                .unwrap();
            let busy = wallet.task::<runner_core::Critical, _, _, _, _, _>(
                "get_balance",
                || async { Err::<u32, _>(Down) },
                Options::new()
                    .retry_delay_from(two_seconds)
                    .cooldown_from(two_seconds),
            );
            assert!(matches!(busy.await, Err(TaskError::Failed(Down))));
        });
        let text = metrics.render().unwrap();
        has(
            &text,
            "gateway_policy_retries_refused_total{task=\"get_balance\",why=\"delay\"} 1",
        );
        has(
            &text,
            "gateway_policy_retries_total{task=\"get_balance\"} 0",
        );
        has(
            &text,
            "gateway_policy_breaker_cooldown_seconds{task=\"get_balance\"} 2.0",
        );
    }
}
