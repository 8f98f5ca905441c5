//! Policy events as OpenTelemetry-style counters and histograms, through the `metrics`
//! facade (the `metrics` feature): the application installs the exporter it wants.

use metrics::{counter, gauge, histogram};

use crate::observe::Observer;
use crate::policy::event::{EventKind, PolicyEvent};

/// Records every policy event through the `metrics` facade:
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `runner_policy_attempts_total` | counter | `task`, `policy`, `outcome` |
/// | `runner_policy_attempt_duration_seconds` | histogram | `task`, `policy`, `outcome` |
/// | `runner_policy_retries_total` | counter | `task`, `policy` |
/// | `runner_policy_retries_refused_total` | counter | `task`, `policy`, `reason` |
/// | `runner_policy_hedges_total` | counter | `task`, `policy` |
/// | `runner_policy_hedges_refused_total` | counter | `task`, `policy` |
/// | `runner_policy_breaker_transitions_total` | counter | `task`, `policy`, `state` |
/// | `runner_policy_breaker_openings_total` | counter | `task`, `policy`, `cause` |
/// | `runner_policy_limit` | gauge (an adaptive limit's, as it changes) | `task`, `policy` |
/// | `runner_policy_throttled_total` | counter | `task`, `policy` |
/// | `runner_policy_throttle_wait_seconds` | histogram | `task`, `policy` |
/// | `runner_policy_coalesced_total` | counter (calls that waited on another's flight) | `task`, `policy` |
/// | `runner_policy_coalesce_takeovers_total` | counter | `task`, `policy` |
/// | `runner_policy_coalesce_full_total` | counter (calls run uncoalesced, the group full) | `task`, `policy` |
/// | `runner_policy_rejections_total` | counter | `task`, `policy`, `reason` |
/// | `runner_policy_fallbacks_total` | counter | `task`, `policy`, `error` |
///
/// Attempts are counted as they finish. Each metric recorded copies the policy's name into
/// its label (one small allocation; two for a finished attempt or a throttled call); the other labels are
/// `&'static str`.
///
/// ```
/// use std::sync::Arc;
/// use runner_core::policy::MetricsObserver;
/// use runner_core::set_observer;
///
/// // Once, at start-up, beside the exporter (e.g. metrics-exporter-prometheus).
/// let _ = set_observer(Arc::new(MetricsObserver));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsObserver;

impl Observer for MetricsObserver {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        let task = event.task;
        let policy = || event.policy.to_owned();
        match event.kind {
            EventKind::AttemptStarted { .. } => {}
            EventKind::AttemptFinished {
                outcome, latency, ..
            } => {
                let outcome = outcome.as_str();
                counter!("runner_policy_attempts_total", "task" => task, "policy" => policy(), "outcome" => outcome)
                    .increment(1);
                histogram!("runner_policy_attempt_duration_seconds", "task" => task, "policy" => policy(), "outcome" => outcome)
                    .record(latency.as_secs_f64());
            }
            EventKind::RetryScheduled { .. } => {
                counter!("runner_policy_retries_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::RetryRefused { reason } => {
                counter!("runner_policy_retries_refused_total", "task" => task, "policy" => policy(), "reason" => reason.as_str())
                    .increment(1);
            }
            EventKind::HedgeStarted { .. } => {
                counter!("runner_policy_hedges_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::HedgeRefused { .. } => {
                counter!("runner_policy_hedges_refused_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::BreakerChanged { to, .. } => {
                counter!("runner_policy_breaker_transitions_total", "task" => task, "policy" => policy(), "state" => to.as_str())
                    .increment(1);
            }
            EventKind::BreakerOpened { cause, .. } => {
                counter!("runner_policy_breaker_openings_total", "task" => task, "policy" => policy(), "cause" => cause.as_str())
                    .increment(1);
            }
            EventKind::LimitChanged { to, .. } => {
                gauge!("runner_policy_limit", "task" => task, "policy" => policy()).set(to as f64);
            }
            EventKind::Throttled { wait } => {
                counter!("runner_policy_throttled_total", "task" => task, "policy" => policy())
                    .increment(1);
                histogram!("runner_policy_throttle_wait_seconds", "task" => task, "policy" => policy())
                    .record(wait.as_secs_f64());
            }
            EventKind::Coalesced { .. } => {
                counter!("runner_policy_coalesced_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::CoalesceTakenOver => {
                counter!("runner_policy_coalesce_takeovers_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::CoalesceFull => {
                counter!("runner_policy_coalesce_full_total", "task" => task, "policy" => policy())
                    .increment(1);
            }
            EventKind::Rejected { reason } => {
                counter!("runner_policy_rejections_total", "task" => task, "policy" => policy(), "reason" => reason.as_str())
                    .increment(1);
            }
            EventKind::FallbackUsed { error } => {
                counter!("runner_policy_fallbacks_total", "task" => task, "policy" => policy(), "error" => error)
                    .increment(1);
            }
        }
    }
}
