//! The bulkhead's rules on tokio's paused clock: a place freed goes to a critical call
//! before a best-effort one, and an adaptive limit learns a dependency's capacity from its
//! latency, and cuts itself on errors and timeouts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{
    Adaptive, EventKind, Limit, Observer, Policy, PolicyEvent, Rejection, TaskError,
};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A call of `policy`'s, critical or not, that holds its place for `hold`: when it got in.
async fn call(
    policy: &Policy,
    critical: bool,
    hold: Duration,
    start: Instant,
) -> Result<Duration, TaskError<Unavailable>> {
    let work = move || async move {
        let entered = start.elapsed();
        sleep(hold).await;
        Ok::<_, Unavailable>(entered)
    };
    let timeout = Duration::from_secs(10);
    match critical {
        true => policy.critical("call", work).timeout(timeout).await,
        false => policy.best_effort("call", work).timeout(timeout).await,
    }
}

#[tokio::test(start_paused = true)]
async fn a_place_freed_goes_to_a_critical_call_before_a_best_effort_one() {
    let policy = Policy::builder().limit(Limit::new(1)).build().unwrap();
    let start = Instant::now();
    let later = |after: u64, critical: bool| {
        let policy = &policy;
        async move {
            sleep(ms(after)).await;
            call(policy, critical, ms(100), start).await
        }
    };
    // The place is held until 100 ms; a best-effort call waits from 10 ms, a critical one
    // from 20 ms, another best-effort one from 30 ms.
    let (holder, best_effort, critical, last) = tokio::join!(
        later(0, true),
        later(10, false),
        later(20, true),
        later(30, false),
    );
    assert_eq!(holder.unwrap(), ms(0));
    assert_eq!(critical.unwrap(), ms(100), "it came later, and went first");
    assert_eq!(best_effort.unwrap(), ms(200));
    assert_eq!(last.unwrap(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn a_best_effort_call_does_not_take_a_place_a_critical_call_waits_for() {
    let policy = Policy::builder().limit(Limit::new(2)).build().unwrap();
    let start = Instant::now();
    // Two places held, until 100 and 200 ms; a critical call waits from 10 ms; a
    // best-effort one arrives at 150 ms, when the place freed at 100 ms is the critical's.
    let later = |after: u64, critical: bool, hold: u64| {
        let policy = &policy;
        async move {
            sleep(ms(after)).await;
            call(policy, critical, ms(hold), start).await
        }
    };
    let (_, _, critical, best_effort) = tokio::join!(
        later(0, true, 100),
        later(0, true, 200),
        later(10, true, 300),
        later(150, false, 10),
    );
    assert_eq!(critical.unwrap(), ms(100));
    assert_eq!(best_effort.unwrap(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn with_reject_a_full_gate_refuses_either_kind_at_once() {
    let policy = Policy::builder()
        .limit(Limit::new(1).reject_when_full())
        .build()
        .unwrap();
    let start = Instant::now();
    let (held, critical, best_effort) = tokio::join!(
        call(&policy, true, ms(100), start),
        call(&policy, true, ms(100), start),
        call(&policy, false, ms(100), start),
    );
    assert_eq!(held.unwrap(), ms(0));
    assert!(matches!(
        critical,
        Err(TaskError::Rejected(Rejection::LimitReached))
    ));
    assert!(matches!(
        best_effort,
        Err(TaskError::Rejected(Rejection::LimitReached))
    ));
}

/// What an adaptive limit told the policy's observer.
#[derive(Default)]
struct Changes(Mutex<Vec<(usize, usize)>>);

impl Observer for Changes {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        if let EventKind::LimitChanged { from, to } = event.kind {
            self.0.lock().unwrap().push((from, to));
        }
    }
}

/// A dependency that serves `capacity` calls at once, each in `latency`; the rest queue.
struct Dependency {
    serving: Semaphore,
    latency: Duration,
}

impl Dependency {
    fn new(capacity: usize, latency: Duration) -> Arc<Self> {
        Arc::new(Self {
            serving: Semaphore::new(capacity),
            latency,
        })
    }

    async fn serve(&self) -> Result<(), Unavailable> {
        let _serving = self.serving.acquire().await.unwrap();
        sleep(self.latency).await;
        Ok(())
    }
}

/// `clients` callers each calling through `policy` in a loop until `until`; the calls made.
async fn load(
    policy: &Policy,
    dependency: &Arc<Dependency>,
    clients: usize,
    until: Instant,
) -> usize {
    let client = || async {
        let mut calls = 0;
        while Instant::now() < until {
            let dependency = dependency.clone();
            let task = policy
                .critical("serve", move || {
                    let dependency = dependency.clone();
                    async move { dependency.serve().await }
                })
                .timeout(Duration::from_secs(1));
            let _ = task.await;
            calls += 1;
        }
        calls
    };
    futures::future::join_all((0..clients).map(|_| client()))
        .await
        .into_iter()
        .sum()
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_learns_the_capacity_of_a_dependency_that_queues() {
    let changes = Arc::new(Changes::default());
    let policy = Policy::builder()
        .limit(Limit::adaptive(Adaptive::new().initial(50).bounds(1, 200)))
        .observer(changes.clone())
        .build()
        .unwrap();
    assert_eq!(policy.limit_now(), Some(50));
    // Five at once, 10 ms each; a hundred callers.
    let dependency = Dependency::new(5, ms(10));
    load(
        &policy,
        &dependency,
        100,
        Instant::now() + Duration::from_secs(20),
    )
    .await;
    let learned = policy.limit_now().unwrap();
    assert!(
        (5..=15).contains(&learned),
        "learned {learned}; changes: {:?}",
        changes.0.lock().unwrap()
    );
    let changes = changes.0.lock().unwrap();
    assert!(
        changes
            .first()
            .is_some_and(|&(from, to)| from == 50 && to < 50),
        "{changes:?}"
    );
    for pair in changes.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each change starts where the last ended"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_grows_for_a_dependency_that_keeps_up() {
    let policy = Policy::builder()
        .limit(Limit::adaptive(Adaptive::new().initial(5).bounds(1, 40)))
        .build()
        .unwrap();
    // Room for a hundred at once: the latency never grows, and forty callers keep the
    // limit busy.
    let dependency = Dependency::new(100, ms(10));
    load(
        &policy,
        &dependency,
        40,
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    assert_eq!(policy.limit_now(), Some(40));
}

/// Which errors the policy counts.
type Counts = fn(&Unavailable) -> bool;

#[tokio::test(start_paused = true)]
async fn timeouts_and_errors_cut_an_adaptive_limit() {
    let policy = Policy::builder()
        .limit(Limit::adaptive(
            Adaptive::new().initial(10).bounds(3, 200).backoff(0.5),
        ))
        .build()
        .unwrap();
    // Ten calls at once (a window: the limit learns from ten calls at least), each with
    // `attempt`, under a 50 ms timeout.
    let wave = |attempt: fn() -> futures::future::BoxFuture<'static, Result<(), Unavailable>>,
                counts: Counts| {
        let policy = &policy;
        let calls = (0..10).map(move |_| {
            let options = runner_core::Options::new().breaker_if(counts);
            let task = policy
                .task::<runner_core::Critical, _, _, _, _, _>("call", attempt, options)
                .timeout(ms(50));
            async move { task.await }
        });
        futures::future::join_all(calls)
    };
    let counted: Counts = |_| true;
    let ignored: Counts = |_| false;
    let hang = || -> futures::future::BoxFuture<'static, Result<(), Unavailable>> {
        Box::pin(std::future::pending())
    };
    let fail = || -> futures::future::BoxFuture<'static, Result<(), Unavailable>> {
        Box::pin(async { Err(Unavailable) })
    };
    // Time ran out on them.
    let outcomes = wave(hang, counted).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, Err(TaskError::TimedOut(_))))
    );
    assert_eq!(policy.limit_now(), Some(5));
    // Errors the policy does not count say nothing of the dependency.
    wave(fail, ignored).await;
    assert_eq!(policy.limit_now(), Some(5));
    // Counted errors.
    wave(fail, counted).await;
    assert_eq!(policy.limit_now(), Some(3), "no lower than its bound");
    // Dropped before their time ran out: no sample.
    let dropped = tokio::time::timeout(ms(10), wave(hang, counted)).await;
    assert!(dropped.is_err());
    assert_eq!(policy.limit_now(), Some(3));
    policy.reset();
    assert_eq!(policy.limit_now(), Some(10), "a reset starts it again");
}

#[tokio::test(start_paused = true)]
async fn under_an_adaptive_limit_the_best_effort_calls_are_the_ones_shed() {
    let policy = Policy::builder()
        .limit(Limit::adaptive(Adaptive::new().initial(10).bounds(1, 100)))
        .build()
        .unwrap();
    // Five at once, 10 ms each: 500 calls a second.
    let dependency = Dependency::new(5, ms(10));
    let until = Instant::now() + Duration::from_secs(10);
    // Five critical callers, well within that; thirty-five best-effort ones, far past it.
    // Each call has 50 ms to get its answer.
    let client = |critical: bool| {
        let (policy, dependency) = (&policy, &dependency);
        async move {
            let (mut answered, mut calls) = (0, 0);
            while Instant::now() < until {
                let dependency = dependency.clone();
                let serve = move || {
                    let dependency = dependency.clone();
                    async move { dependency.serve().await }
                };
                let outcome = match critical {
                    true => policy.critical("card", serve).timeout(ms(50)).await,
                    false => policy.best_effort("card", serve).timeout(ms(50)).await,
                };
                calls += 1;
                answered += usize::from(outcome.is_ok());
            }
            (answered, calls)
        }
    };
    let critical = futures::future::join_all((0..5).map(|_| client(true)));
    let best_effort = futures::future::join_all((0..35).map(|_| client(false)));
    let (critical, best_effort) = tokio::join!(critical, best_effort);
    let share = |outcomes: &[(usize, usize)]| {
        let (answered, calls) = outcomes.iter().fold((0, 0), |(a, c), (answered, calls)| {
            (a + answered, c + calls)
        });
        answered as f64 / calls as f64
    };
    let (critical, best_effort) = (share(&critical), share(&best_effort));
    assert!(
        critical > 0.95 && best_effort < 0.5,
        "critical calls answered: {critical:.2}, best-effort: {best_effort:.2}"
    );
}

#[test]
fn adaptive_settings_that_cannot_work_are_refused_with_their_field() {
    let refused = |adaptive: Adaptive| {
        Policy::builder()
            .limit(Limit::adaptive(adaptive))
            .build()
            .unwrap_err()
            .field()
    };
    assert_eq!(refused(Adaptive::new().bounds(0, 10)), "limit.min");
    assert_eq!(refused(Adaptive::new().bounds(20, 10)), "limit.min");
    assert_eq!(
        refused(Adaptive::new().initial(30).bounds(1, 10)),
        "limit.initial"
    );
    assert_eq!(refused(Adaptive::new().backoff(1.0)), "limit.backoff");
    assert_eq!(refused(Adaptive::new().bounds(1, u32::MAX)), "limit.max");
    // Unless told, it starts at 20, or the nearest bound.
    assert_eq!(Adaptive::new().bounds(1, 10).initial_limit(), 10);
    assert_eq!(Adaptive::new().bounds(30, 100).initial_limit(), 30);
    assert_eq!(Adaptive::new().initial_limit(), 20);
}

/// An update that narrows an adaptive limit's bounds binds at once: "a lower limit admits
/// no new call until enough finish".
#[tokio::test(start_paused = true)]
async fn narrowed_adaptive_bounds_bind_before_the_next_call_ends() {
    let policy = Policy::builder()
        .limit(Limit::adaptive(
            Adaptive::new().initial(100).bounds(1, 1_000),
        ))
        .build()
        .unwrap();
    let start = Instant::now();
    // One call ends: the learned limit (100) is now stored.
    call(&policy, true, ms(1), start).await.unwrap();
    let narrowed = policy
        .settings()
        .limit(Limit::adaptive(Adaptive::new().initial(5).bounds(1, 10)));
    policy.update(narrowed).unwrap();
    assert!(
        policy.limit_now().unwrap() <= 10,
        "limit_now {:?}",
        policy.limit_now()
    );
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = (0..20).map(|_| {
        let (policy, most) = (&policy, most.clone());
        async move {
            let work = move || {
                let most = most.clone();
                async move {
                    most.fetch_max(policy.in_flight(), std::sync::atomic::Ordering::Relaxed);
                    sleep(ms(100)).await;
                    Ok::<_, Unavailable>(())
                }
            };
            policy
                .critical("call", work)
                .timeout(Duration::from_secs(10))
                .await
        }
    });
    futures::future::join_all(calls).await;
    let most = most.load(std::sync::atomic::Ordering::Relaxed);
    assert!(most <= 10, "{most} calls in flight under bounds (1, 10)");
}

/// A limit raised while a call is on its way to the gate (here, waiting for its rate-limit
/// turn) lets it in at once, as `update` says a higher limit does: the gate reads the limit
/// after it registers for a wake-up, not only when woken.
#[tokio::test(start_paused = true)]
async fn a_limit_raised_before_a_call_waits_lets_it_in() {
    use runner_core::RateLimit;
    let policy = Policy::builder()
        .limit(Limit::new(1))
        .rate_limit(RateLimit::new(10, Duration::from_secs(1)).burst(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let raise = async {
        sleep(ms(50)).await;
        policy
            .update(policy.settings().limit(Limit::new(2)))
            .unwrap();
    };
    let (holder, second, ()) = tokio::join!(
        call(&policy, true, ms(1_000), start),
        call(&policy, true, ms(10), start),
        raise,
    );
    assert_eq!(holder.unwrap(), ms(0));
    // Its turn is at 100 ms; the limit is 2 from 50 ms.
    assert_eq!(second.unwrap(), ms(100));
}
