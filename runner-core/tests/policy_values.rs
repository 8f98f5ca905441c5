//! Policies as values the application owns: one per instance (`policy = self.p`), one per
//! key (`PolicyMap`), replaced live, inspected and forced by an operator, watched through
//! typed events, and the per-fn defaults reachable by name. On tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::policy::defaults;
use runner_core::{
    AttemptOutcome, Breaker, BreakerState, EventKind, Hedge, Limit, Observer, Policy, PolicyEvent,
    PolicyMap, Rejection, Retry, RetryRefusal, TaskError, fan_out, task,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(failures: u32) -> Breaker {
    Breaker::new(failures, Duration::from_secs(10), Duration::from_secs(5))
}

/// A backend whose calls fail while `failing` is set.
struct Backend {
    policy: Policy,
    failing: AtomicU32,
    calls: AtomicU32,
}

impl Backend {
    fn new(policy: Policy) -> Self {
        Self {
            policy,
            failing: AtomicU32::new(0),
            calls: AtomicU32::new(0),
        }
    }

    #[task(best_effort, timeout = "1s", policy = self.policy)]
    async fn call(&self, latency: Duration) -> Result<u32, Unavailable> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sleep(latency).await;
        match self.failing.load(Ordering::SeqCst) {
            0 => Ok(1),
            _ => Err(Unavailable),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn two_instances_have_independent_breakers() {
    let make = || Policy::builder().breaker(breaker(2)).build().unwrap();
    let (sick, healthy) = (Backend::new(make()), Backend::new(make()));
    sick.failing.store(1, Ordering::SeqCst);
    for _ in 0..2 {
        assert_eq!(sick.call(ms(1)).await, Err(TaskError::Failed(Unavailable)));
    }
    assert_eq!(sick.policy.breaker_state(), Some(BreakerState::Open));
    assert_eq!(
        sick.call(ms(1)).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    );
    // The healthy instance, the same fn, is not refused.
    assert_eq!(healthy.policy.breaker_state(), Some(BreakerState::Closed));
    assert_eq!(healthy.call(ms(1)).await, Ok(1));
    assert_eq!(
        (
            sick.calls.load(Ordering::SeqCst),
            healthy.calls.load(Ordering::SeqCst)
        ),
        (2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_policy_map_gives_each_key_its_own_breaker_and_stays_bounded() {
    let hosts = PolicyMap::new(Policy::builder().name("wallet").breaker(breaker(1)), 4).unwrap();
    hosts.get(&"a".to_owned()).force_open();
    assert_eq!(
        hosts.get(&"a".to_owned()).breaker_state(),
        Some(BreakerState::ForcedOpen)
    );
    assert_eq!(
        hosts.get(&"b".to_owned()).breaker_state(),
        Some(BreakerState::Closed)
    );
    assert_eq!(hosts.get(&"b".to_owned()).name(), "wallet/b");
    // The same key is the same policy.
    assert!(Arc::ptr_eq(
        &hosts.get(&"b".to_owned()),
        &hosts.get(&"b".to_owned())
    ));
    for key in 0..100 {
        hosts.get(&key.to_string());
    }
    assert!(hosts.len() <= 4, "{} keys held", hosts.len());
}

#[tokio::test(start_paused = true)]
async fn a_policy_map_replaces_every_keys_settings() {
    let hosts = PolicyMap::new(Policy::builder().breaker(breaker(5)), 16).unwrap();
    let a = hosts.get(&1_u32);
    let stricter = hosts.settings().breaker(breaker(1)).timeout(ms(40));
    hosts.update(stricter).unwrap();
    assert_eq!(a.settings(), stricter);
    assert_eq!(hosts.get(&2).settings(), stricter);
    // A bad update changes nothing.
    let error = hosts
        .update(stricter.limit(Limit::new(0)))
        .expect_err("a zero limit");
    assert_eq!(error.field(), "limit.max");
    assert_eq!(hosts.get(&3).settings(), stricter);
}

/// New settings apply to the calls that start after them; the breaker keeps its count.
#[tokio::test(start_paused = true)]
async fn settings_are_replaced_live_keeping_the_state_that_still_applies() {
    let backend = Backend::new(
        Policy::builder()
            .timeout(ms(200))
            .breaker(breaker(3))
            .build()
            .unwrap(),
    );
    // A call slower than 100 ms finishes under the 200 ms timeout.
    assert_eq!(backend.call(ms(150)).await, Ok(1));
    backend.failing.store(1, Ordering::SeqCst);
    assert_eq!(
        backend.call(ms(1)).await,
        Err(TaskError::Failed(Unavailable))
    );

    let new = backend
        .policy
        .settings()
        .timeout(ms(100))
        .breaker(breaker(2));
    backend.policy.update(new).unwrap();
    backend.failing.store(0, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(
        backend.call(ms(150)).await,
        Err(TaskError::TimedOut(ms(100)))
    );
    assert_eq!(started.elapsed(), ms(100));
    // Two failures counted, the first before the update: at the new threshold, it opens.
    assert_eq!(backend.policy.breaker_state(), Some(BreakerState::Open));
}

/// A call waiting for a place under a limit gets in when the limit is raised.
#[tokio::test(start_paused = true)]
async fn a_raised_limit_lets_a_waiting_call_in() {
    let backend = Backend::new(Policy::builder().limit(Limit::new(1)).build().unwrap());
    let started = Instant::now();
    let raise = async {
        sleep(ms(10)).await;
        assert_eq!(backend.policy.in_flight(), 1);
        let raised = backend.policy.settings().limit(Limit::new(2));
        backend.policy.update(raised).unwrap();
        Ok::<_, Unavailable>(())
    };
    let finished = |result: Result<u32, TaskError<Unavailable>>| {
        assert_eq!(result, Ok(1));
        started.elapsed()
    };
    let (first, second, ()) = tokio::join!(
        async { finished(backend.call(ms(100)).await) },
        async { finished(backend.call(ms(100)).await) },
        async { raise.await.unwrap() },
    );
    // The second call started at 10 ms, not at 100 ms.
    assert_eq!((first, second), (ms(100), ms(110)));
    assert_eq!(backend.policy.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_operator_forces_the_breaker_open_and_closed_and_resets_it() {
    let backend = Backend::new(Policy::builder().breaker(breaker(1)).build().unwrap());
    backend.policy.force_open();
    assert_eq!(
        backend.call(ms(1)).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    );
    assert_eq!(backend.calls.load(Ordering::SeqCst), 0);

    backend.policy.force_closed();
    backend.failing.store(1, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(
            backend.call(ms(1)).await,
            Err(TaskError::Failed(Unavailable))
        );
    }
    // Forced closed: the failures went through and none was counted.
    backend.policy.reset();
    assert_eq!(backend.policy.breaker_state(), Some(BreakerState::Closed));
    backend.failing.store(0, Ordering::SeqCst);
    assert_eq!(backend.call(ms(1)).await, Ok(1));

    // A policy without a breaker can be forced open too.
    let plain = Backend::new(Policy::builder().build().unwrap());
    assert_eq!(plain.policy.breaker_state(), None);
    plain.policy.force_open();
    assert_eq!(plain.policy.breaker_state(), Some(BreakerState::ForcedOpen));
    assert!(matches!(
        plain.call(ms(1)).await,
        Err(TaskError::Rejected(_))
    ));
    plain.policy.reset();
    assert_eq!(plain.call(ms(1)).await, Ok(1));
}

/// Every event a policy gives, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, EventKind)>>);

impl Observer for Recorder {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        let who = format!("{}@{}", event.task, event.policy);
        self.0.lock().unwrap().push((who, event.kind));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, EventKind)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test(start_paused = true)]
async fn an_observer_gets_typed_events() {
    let events = Arc::new(Recorder::default());
    let policy = Policy::builder()
        .name("wallet")
        .retry(Retry::new(2).backoff(ms(10)))
        .breaker(breaker(2))
        .observer(events.clone())
        .build()
        .unwrap();
    fastrand::seed(7);
    let n = AtomicU32::new(0);
    let flaky = policy.critical("balance", || {
        let fails = n.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            sleep(ms(3)).await;
            match fails {
                true => Err(Unavailable),
                false => Ok(5),
            }
        }
    });
    assert_eq!(flaky.await, Ok(5));
    let got = events.take();
    let who = "balance@wallet".to_owned();
    let delay = match got[2].1 {
        EventKind::RetryScheduled { attempt: 2, delay } => delay,
        other => panic!("{other:?}"),
    };
    assert!(delay < ms(10));
    assert_eq!(
        got,
        vec![
            (
                who.clone(),
                EventKind::AttemptStarted {
                    attempt: 1,
                    hedge: false
                }
            ),
            (
                who.clone(),
                EventKind::AttemptFinished {
                    attempt: 1,
                    outcome: AttemptOutcome::Failed,
                    latency: ms(3)
                }
            ),
            (who.clone(), EventKind::RetryScheduled { attempt: 2, delay }),
            (
                who.clone(),
                EventKind::AttemptStarted {
                    attempt: 2,
                    hedge: false
                }
            ),
            (
                who.clone(),
                EventKind::AttemptFinished {
                    attempt: 2,
                    outcome: AttemptOutcome::Succeeded,
                    latency: ms(3)
                }
            ),
        ]
    );

    // Two failures open the breaker; the retry it would refuse is not made.
    let down = || policy.best_effort("balance", || async { Err::<u32, _>(Unavailable) });
    let _ = down().await;
    let kinds: Vec<_> = events.take().into_iter().map(|(_, kind)| kind).collect();
    assert!(
        kinds.contains(&EventKind::BreakerChanged {
            from: BreakerState::Closed,
            to: BreakerState::Open
        }),
        "{kinds:?}"
    );
    assert!(kinds.contains(&EventKind::RetryRefused {
        reason: RetryRefusal::Breaker
    }));
    let _ = down().await;
    assert_eq!(
        events.take(),
        vec![(
            who,
            EventKind::Rejected {
                reason: Rejection::BreakerOpen
            }
        )]
    );
    let budget = policy.retry_budget().unwrap();
    // One retry made; the second call's was refused by the breaker, not the budget.
    assert_eq!((budget.retried, budget.refused), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn hedges_and_fallbacks_are_events_too() {
    let events = Arc::new(Recorder::default());
    let policy = Policy::builder()
        .hedge(Hedge::new(ms(10)).max(2))
        .observer(events.clone())
        .build()
        .unwrap();
    let n = AtomicU32::new(0);
    let slow_first = policy.critical("card", || {
        let n = n.fetch_add(1, Ordering::SeqCst);
        async move {
            // The first attempt takes 100 ms, each hedge 5 ms.
            sleep(if n == 0 { ms(100) } else { ms(15) }).await;
            Ok::<_, Unavailable>(n)
        }
    });
    assert_eq!(slow_first.await, Ok(1));
    let kinds: Vec<_> = events.take().into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::AttemptStarted {
                attempt: 1,
                hedge: false
            },
            EventKind::HedgeStarted { hedge: 1 },
            EventKind::AttemptStarted {
                attempt: 2,
                hedge: true
            },
            EventKind::HedgeStarted { hedge: 2 },
            EventKind::AttemptStarted {
                attempt: 3,
                hedge: true
            },
            EventKind::AttemptFinished {
                attempt: 2,
                outcome: AttemptOutcome::Succeeded,
                latency: ms(15)
            },
            EventKind::AttemptFinished {
                attempt: 1,
                outcome: AttemptOutcome::Dropped,
                latency: ms(25)
            },
            EventKind::AttemptFinished {
                attempt: 3,
                outcome: AttemptOutcome::Dropped,
                latency: ms(5)
            },
        ]
    );

    let zero = |_: &TaskError<Unavailable>| 0_u32;
    let falls_back = policy.task::<runner_core::BestEffort, _, _, _, _, _>(
        "card",
        || async { Err::<u32, _>(Unavailable) },
        runner_core::Options::new().fallback(zero),
    );
    assert_eq!(falls_back.await, Ok(0));
    let kinds: Vec<_> = events.take().into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(
        kinds.last(),
        Some(&EventKind::FallbackUsed { error: "failed" })
    );
}

#[task(
    critical,
    name = "registered_wallet",
    breaker(failures = 1, window = "10s", cooldown = "5s")
)]
async fn registered_wallet() -> Result<u32, Unavailable> {
    Ok(3)
}

/// A per-fn default is registered at start-up: reachable, and forced, before its first call.
#[tokio::test(start_paused = true)]
async fn a_per_fn_default_is_reachable_by_name_before_its_first_call() {
    let policy = defaults::of("registered_wallet").expect("registered");
    let by_path = defaults::of(concat!(module_path!(), "::registered_wallet"));
    assert!(std::ptr::eq(policy, by_path.expect("by its path")));
    assert!(defaults::of("no_such_task").is_none());
    assert_eq!(policy.name(), "registered_wallet");
    policy.force_open();
    assert_eq!(
        registered_wallet().await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    );
    assert!(fan_out!(registered_wallet()).await.is_err());
    policy.reset();
    assert_eq!(registered_wallet().await, Ok(3));
}

/// A probe let through before a reset is an ordinary attempt after it: its failure is one
/// failure of the new count, not a failed probe that opens the breaker at once.
#[tokio::test(start_paused = true)]
async fn a_probe_from_before_a_reset_does_not_reopen_the_breaker() {
    let policy = Policy::builder()
        .breaker(Breaker::new(2, Duration::from_secs(10), ms(100)))
        .build()
        .unwrap();
    for _ in 0..2 {
        let down = policy.best_effort("wallet", || async { Err::<u32, _>(Unavailable) });
        assert_eq!(down.await, Err(TaskError::Failed(Unavailable)));
    }
    assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
    sleep(ms(100)).await;
    let release = tokio::sync::Notify::new();
    let probe = policy.best_effort("wallet", || async {
        release.notified().await;
        Err::<u32, _>(Unavailable)
    });
    let operator = async {
        sleep(ms(1)).await;
        assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
        policy.reset();
        release.notify_one();
    };
    let (probed, ()) = tokio::join!(probe, operator);
    assert_eq!(probed, Err(TaskError::Failed(Unavailable)));
    assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
}

/// A reload that removes the breaker keeps an operator's force.
#[tokio::test(start_paused = true)]
async fn a_reload_keeps_an_operators_force() {
    let backend = Backend::new(Policy::builder().breaker(breaker(1)).build().unwrap());
    backend.policy.force_open();
    let without = runner_core::PolicySettings::new().timeout(ms(500));
    backend.policy.update(without).unwrap();
    assert_eq!(
        backend.policy.breaker_state(),
        Some(BreakerState::ForcedOpen)
    );
    assert_eq!(
        backend.call(ms(1)).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    );
}

/// A backoff longer than the default cap is the cap, not a mistake.
#[tokio::test(start_paused = true)]
async fn a_long_backoff_without_a_cap_is_its_own_cap() {
    let policy = Policy::builder()
        .retry(Retry::new(2).backoff(Duration::from_secs(2)))
        .build()
        .unwrap();
    let n = AtomicU32::new(0);
    let flaky = policy.critical("wallet", || {
        let first = n.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            match first {
                true => Err(Unavailable),
                false => Ok(1),
            }
        }
    });
    assert_eq!(flaky.await, Ok(1));
    let small = Policy::builder().breaker(Breaker::new(1, ms(10), ms(10)).rate(0.0004));
    assert!(
        small.build().is_ok(),
        "a positive rate below a thousandth is one"
    );
}

/// A limit is 1 to 2³¹ − 1 calls: the gate counts them in 31 bits.
#[test]
fn a_limit_past_the_gates_count_is_refused_by_name() {
    let largest = i32::MAX as usize;
    assert!(Policy::builder().limit(Limit::new(largest)).build().is_ok());
    for bad in [0, largest + 1, usize::MAX] {
        let error = Policy::builder()
            .limit(Limit::new(bad))
            .build()
            .expect_err("out of range");
        assert_eq!(error.field(), "limit.max");
        assert!(error.to_string().contains("1 to 2147483647"), "{error}");
    }
}
