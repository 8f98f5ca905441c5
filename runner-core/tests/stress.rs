//! 64 callers at once on a multi-thread runtime (and on OS threads for the keyed map): the
//! invariants of the shared state, as counts. Real time, but no time is asserted: each test
//! waits on counts, under a bound that only a broken invariant (a caller let through that
//! must not be) can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runner_core::{
    Breaker, BreakerState, EventKind, Limit, Observer, Policy, PolicyEvent, PolicyMap, Rejection,
    Retry, TaskError,
};

const CALLERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// Waits until `done` reaches `target`, for ten seconds at most.
async fn until(done: &AtomicUsize, target: usize) {
    for _ in 0..10_000 {
        if done.load(Ordering::SeqCst) >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A half-open breaker lets exactly one of 64 callers through: the probe holds its attempt
/// open until the 63 others are done, so any second caller let through would be counted.
#[test]
fn a_half_open_breaker_lets_exactly_one_of_64_callers_probe() {
    runtime().block_on(async {
        let policy = Arc::new(
            Policy::builder()
                .breaker(Breaker::new(
                    1,
                    Duration::from_secs(10),
                    Duration::from_millis(20),
                ))
                .build()
                .unwrap(),
        );
        let opens = policy.critical("probe", || async { Err::<u32, _>(Unavailable) });
        assert_eq!(opens.await, Err(TaskError::Failed(Unavailable)));
        // Open, or already past its 20 ms on a loaded machine: no time is asserted.
        assert_ne!(policy.breaker_state(), Some(BreakerState::Closed));
        tokio::time::sleep(Duration::from_millis(30)).await;

        let (reached, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (policy, reached, done) = (policy.clone(), reached.clone(), done.clone());
                tokio::spawn(async move {
                    let call = policy.critical("probe", || async {
                        reached.fetch_add(1, Ordering::SeqCst);
                        until(&done, CALLERS - 1).await;
                        Ok::<_, Unavailable>(1)
                    });
                    let result = call.await;
                    done.fetch_add(1, Ordering::SeqCst);
                    result
                })
            })
            .collect();
        let mut refused = 0;
        for caller in callers {
            match caller.await.unwrap() {
                Ok(1) => {}
                Err(TaskError::Rejected(Rejection::BreakerOpen)) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(reached.load(Ordering::SeqCst), 1, "probes let through");
        assert_eq!(refused, CALLERS - 1);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    });
}

/// 64 callers, 20 calls each, through a limit of 8: never more than 8 inside, every call
/// made, and no place left taken.
#[test]
fn a_limit_of_8_holds_under_64_callers_and_leaks_no_place() {
    runtime().block_on(async {
        let policy = Arc::new(Policy::builder().limit(Limit::new(8)).build().unwrap());
        let (inside, most, calls) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (policy, inside, most, calls) =
                    (policy.clone(), inside.clone(), most.clone(), calls.clone());
                tokio::spawn(async move {
                    for _ in 0..20 {
                        let call = policy.critical("limited", || async {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            for _ in 0..3 {
                                tokio::task::yield_now().await;
                            }
                            inside.fetch_sub(1, Ordering::SeqCst);
                            calls.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Unavailable>(())
                        });
                        call.await.unwrap();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        assert!(
            most.load(Ordering::SeqCst) <= 8,
            "{} inside",
            most.load(Ordering::SeqCst)
        );
        assert_eq!(calls.load(Ordering::SeqCst), CALLERS * 20);
        assert_eq!(policy.in_flight(), 0);
    });
}

/// Counts the attempts a policy's observer is told of.
#[derive(Default)]
struct Attempts {
    started: AtomicUsize,
    finished: AtomicUsize,
    retries: AtomicUsize,
}

impl Observer for Attempts {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        let counter = match event.kind {
            EventKind::AttemptStarted { .. } => &self.started,
            EventKind::AttemptFinished { .. } => &self.finished,
            EventKind::RetryScheduled { .. } => &self.retries,
            _ => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// 64 callers each fail once and succeed on their retry: 64 retries in the budget's count
/// and in the events, 128 attempts started and finished.
#[test]
fn retries_and_attempts_are_counted_exactly_under_64_callers() {
    runtime().block_on(async {
        let events = Arc::new(Attempts::default());
        let budget = runner_core::Budget::new(1000.0, Duration::from_secs(10), 1_000);
        let policy = Arc::new(
            Policy::builder()
                .retry(
                    Retry::new(2)
                        .backoff(Duration::from_millis(1))
                        .budget(budget),
                )
                .observer(events.clone())
                .build()
                .unwrap(),
        );
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let policy = policy.clone();
                tokio::spawn(async move {
                    let tries = AtomicUsize::new(0);
                    let call = policy.critical("flaky", || {
                        let first = tries.fetch_add(1, Ordering::SeqCst) == 0;
                        async move {
                            match first {
                                true => Err(Unavailable),
                                false => Ok(()),
                            }
                        }
                    });
                    call.await
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        let report = policy.retry_budget().unwrap();
        assert_eq!((report.retried, report.refused), (CALLERS as u64, 0));
        assert_eq!(events.retries.load(Ordering::SeqCst), CALLERS);
        assert_eq!(events.started.load(Ordering::SeqCst), 2 * CALLERS);
        assert_eq!(events.finished.load(Ordering::SeqCst), 2 * CALLERS);
    });
}

/// 64 threads asking for 16 keys: one policy per key, the same for every thread.
#[test]
fn a_keyed_map_gives_64_threads_one_policy_per_key() {
    let map = Arc::new(PolicyMap::new(Policy::builder(), 64).unwrap());
    let seen: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..CALLERS)
            .map(|_| {
                let map = map.clone();
                scope.spawn(move || {
                    let mut first = vec![0; 16];
                    for round in 0..200 {
                        for key in 0..16_u32 {
                            let at = Arc::as_ptr(&map.get(&key)) as usize;
                            if round == 0 {
                                first[key as usize] = at;
                            } else {
                                assert_eq!(first[key as usize], at, "key {key} rebuilt");
                            }
                        }
                    }
                    first
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(seen.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(map.len(), 16);
}
