//! Request coalescing's rules on tokio's paused clock: calls with the same key share one
//! run while it is in flight, each within its own timeout; the leader leaving first (its
//! timeout, its drop, a refusal) hands the flight to a waiting call, which runs its own
//! work; errors and fallbacks are shared; nothing is cached; a full group runs calls alone.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use runner_core::policy::{Coalesce, CoalesceConfig};
use runner_core::{
    EventKind, Observer, Outcome, Policy, PolicyEvent, Rejection, Task, TaskError, fan_out,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("card service unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The coalescing events a group gave, in order.
#[derive(Default)]
struct Events(Mutex<Vec<EventKind>>);

impl Observer for Events {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        assert_eq!(event.policy, "cards");
        self.0.lock().unwrap().push(event.kind);
    }
}

impl Events {
    fn take(&self) -> Vec<EventKind> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

type Cards = Coalesce<u64, String, Unavailable>;

fn observed() -> (Cards, Arc<Events>) {
    let events = Arc::new(Events::default());
    let group = Coalesce::new().name("cards").observer(events.clone());
    (group, events)
}

/// The card service: `work` long, counting its runs, failing for user 0.
struct Service {
    runs: AtomicU32,
    work: Duration,
}

impl Service {
    fn new(work: Duration) -> Self {
        Self {
            runs: AtomicU32::new(0),
            work,
        }
    }

    async fn card(&self, user_id: u64) -> Result<String, Unavailable> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        sleep(self.work).await;
        match user_id {
            0 => Err(Unavailable),
            _ => Ok(format!("card of {user_id}")),
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::Relaxed)
    }
}

/// The flight ran twice: its leader left first, the one call waiting on it took it over,
/// and the group holds nothing once both are done.
fn assert_taken_over(service: &Service, events: &Events, group: &Cards) {
    assert_eq!(service.runs(), 2);
    assert_eq!(
        events.take(),
        [
            EventKind::Coalesced { waiting: 1 },
            EventKind::CoalesceTakenOver
        ]
    );
    assert_eq!(group.in_flight(), 0);
}

/// A best-effort card task through `group`, timed out after `timeout`, with when it ended.
async fn card(
    group: &Cards,
    service: &Service,
    user_id: u64,
    timeout: Duration,
) -> (Result<String, TaskError<Unavailable>>, Duration) {
    let start = Instant::now();
    let result = Task::best_effort("card", service.card(user_id))
        .timeout(timeout)
        .coalesce(group, user_id)
        .await;
    (result, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn calls_with_one_key_share_one_run_and_other_keys_run_their_own() {
    let (group, events) = observed();
    let service = Service::new(ms(100));
    let (a, b, c) = tokio::join!(
        card(&group, &service, 7, ms(200)),
        card(&group, &service, 7, ms(200)),
        card(&group, &service, 8, ms(200)),
    );
    assert_eq!(a, (Ok("card of 7".to_owned()), ms(100)));
    assert_eq!(b, (Ok("card of 7".to_owned()), ms(100)));
    assert_eq!(c, (Ok("card of 8".to_owned()), ms(100)));
    assert_eq!(service.runs(), 2);
    assert_eq!(events.take(), [EventKind::Coalesced { waiting: 1 }]);
    assert_eq!(group.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn many_waiting_calls_take_one_result_and_the_table_is_reused() {
    let group = Cards::new();
    let service = Service::new(ms(100));
    for round in 1..=3 {
        let calls = (0..100).map(|_| card(&group, &service, 7, ms(200)));
        let results = futures::future::join_all(calls).await;
        assert!(
            results
                .iter()
                .all(|(result, at)| result.as_deref() == Ok("card of 7") && *at == ms(100))
        );
        // Nothing is cached: each round runs once more.
        assert_eq!(service.runs(), round);
        assert_eq!(group.in_flight(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_is_shared_as_the_leader_got_it() {
    let group = Cards::new();
    let service = Service::new(ms(100));
    let (a, b) = tokio::join!(
        card(&group, &service, 0, ms(200)),
        card(&group, &service, 0, ms(200)),
    );
    assert_eq!(a, (Err(TaskError::Failed(Unavailable)), ms(100)));
    assert_eq!(b, (Err(TaskError::Failed(Unavailable)), ms(100)));
    assert_eq!(service.runs(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_leaders_timeout_fails_it_alone_and_a_waiting_call_takes_over() {
    let (group, events) = observed();
    let service = Service::new(ms(100));
    let (leader, waiting, late) = tokio::join!(
        card(&group, &service, 7, ms(50)),
        card(&group, &service, 7, ms(200)),
        async {
            // Joins the flight after the take-over: it waits on the new leader.
            sleep(ms(60)).await;
            let (result, at) = card(&group, &service, 7, ms(200)).await;
            (result, at + ms(60))
        },
    );
    assert_eq!(leader, (Err(TaskError::TimedOut(ms(50))), ms(50)));
    // The work starts again at 50 ms, in the call that took the flight over.
    assert_eq!(waiting, (Ok("card of 7".to_owned()), ms(150)));
    assert_eq!(late, (Ok("card of 7".to_owned()), ms(150)));
    assert_eq!(service.runs(), 2);
    assert_eq!(
        events.take(),
        [
            EventKind::Coalesced { waiting: 1 },
            EventKind::CoalesceTakenOver,
            EventKind::Coalesced { waiting: 1 },
        ]
    );
    assert_eq!(group.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_calls_timeout_leaves_the_flight_to_the_others() {
    let group = Cards::new();
    let service = Service::new(ms(100));
    let (leader, impatient, patient) = tokio::join!(
        card(&group, &service, 7, ms(200)),
        card(&group, &service, 7, ms(30)),
        card(&group, &service, 7, ms(200)),
    );
    assert_eq!(leader, (Ok("card of 7".to_owned()), ms(100)));
    assert_eq!(impatient, (Err(TaskError::TimedOut(ms(30))), ms(30)));
    assert_eq!(patient, (Ok("card of 7".to_owned()), ms(100)));
    assert_eq!(service.runs(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_by_its_caller_hands_the_flight_on() {
    let (group, events) = observed();
    let service = Service::new(ms(100));
    let leader = card(&group, &service, 7, ms(200));
    let waiting = card(&group, &service, 7, ms(200));
    let (dropped, waiting) = tokio::join!(
        // The leader's caller gives up on it at 40 ms, as a `select!` would.
        tokio::time::timeout(ms(40), leader),
        waiting,
    );
    assert!(dropped.is_err());
    assert_eq!(waiting, (Ok("card of 7".to_owned()), ms(140)));
    assert_taken_over(&service, &events, &group);
}

#[tokio::test(start_paused = true)]
async fn the_last_call_to_leave_an_unfinished_flight_ends_it() {
    let group = Cards::new();
    let service = Service::new(ms(100));
    let (a, b) = tokio::join!(
        card(&group, &service, 7, ms(20)),
        card(&group, &service, 7, ms(20)),
    );
    assert_eq!(a.0, Err(TaskError::TimedOut(ms(20))));
    assert_eq!(b.0, Err(TaskError::TimedOut(ms(20))));
    assert_eq!(group.in_flight(), 0);
    // The next call leads a flight of its own.
    assert_eq!(
        card(&group, &service, 7, ms(200)).await,
        (Ok("card of 7".to_owned()), ms(100))
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_group_runs_a_new_key_alone() {
    let events = Arc::new(Events::default());
    let group: Cards = Coalesce::with_capacity(1)
        .unwrap()
        .name("cards")
        .observer(events.clone());
    let service = Service::new(ms(100));
    let (a, b, c, d) = tokio::join!(
        card(&group, &service, 7, ms(200)),
        card(&group, &service, 7, ms(200)),
        card(&group, &service, 8, ms(200)),
        card(&group, &service, 8, ms(200)),
    );
    for (result, at) in [a, b, c, d] {
        assert!(result.is_ok());
        assert_eq!(at, ms(100));
    }
    // Key 7 took the one place; both calls of key 8 ran alone.
    assert_eq!(service.runs(), 3);
    assert_eq!(
        events.take(),
        [
            EventKind::Coalesced { waiting: 1 },
            EventKind::CoalesceFull,
            EventKind::CoalesceFull
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_leader_hands_the_flight_on_and_the_refusal_is_each_calls_own() {
    let policy = Policy::builder().build().unwrap();
    policy.force_open();
    let group = Cards::new();
    let service = Service::new(ms(100));
    let through = || {
        policy
            .best_effort("card", || service.card(7))
            .timeout(ms(200))
            .coalesce(&group, 7)
    };
    let (a, b) = tokio::join!(through(), through());
    assert_eq!(a, Err(TaskError::Rejected(Rejection::BreakerOpen)));
    assert_eq!(b, Err(TaskError::Rejected(Rejection::BreakerOpen)));
    assert_eq!(service.runs(), 0);
    assert_eq!(group.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_is_shared_and_reported_as_one() {
    let policy = Policy::builder().build().unwrap();
    let group = Cards::new();
    let service = Service::new(ms(100));
    let through = || {
        policy
            .task::<runner_core::BestEffort, _, _, _, _, _>(
                "card",
                || service.card(0),
                runner_core::Options::new()
                    .fallback(|_: &TaskError<Unavailable>| "no card".to_owned()),
            )
            .timeout(ms(200))
            .coalesce(&group, 0)
    };
    let (result, report) = fan_out!(through(), through()).with_report().await;
    let (a, b) = result.unwrap();
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        ("no card".to_owned(), "no card".to_owned())
    );
    let outcomes: Vec<Outcome> = report.tasks().iter().map(|task| task.outcome).collect();
    assert_eq!(outcomes, [Outcome::Fallback, Outcome::Fallback]);
    assert_eq!(service.runs(), 1);
}

/// A card call through `policy` with a fallback, timed out after `timeout`, with when it
/// ended.
async fn with_fallback(
    policy: &Policy,
    group: &Cards,
    service: &Service,
    timeout: Duration,
) -> (Result<String, TaskError<Unavailable>>, Duration) {
    let start = Instant::now();
    let result = policy
        .task::<runner_core::BestEffort, _, _, _, _, _>(
            "card",
            || service.card(7),
            runner_core::Options::new().fallback(|_: &TaskError<Unavailable>| "no card".to_owned()),
        )
        .timeout(timeout)
        .coalesce(group, 7)
        .await;
    (result, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_fallback_the_leaders_timeout_gave_is_its_own_and_a_waiting_call_takes_over() {
    let policy = Policy::builder().build().unwrap();
    let (group, events) = observed();
    let service = Service::new(ms(100));
    let (leader, waiting) = tokio::join!(
        with_fallback(&policy, &group, &service, ms(50)),
        with_fallback(&policy, &group, &service, ms(500)),
    );
    // The leader's time ran out at 50 ms: its fallback is its own. The waiting call, with
    // time to spare, runs the work itself from 50 ms and gets the card at 150 ms.
    assert_eq!(leader, (Ok("no card".to_owned()), ms(50)));
    assert_eq!(waiting, (Ok("card of 7".to_owned()), ms(150)));
    assert_taken_over(&service, &events, &group);
}

/// The card service of `a_retry_refused_for_the_leaders_deadline_...`: 100 ms a run, the
/// first run failing.
struct FailsFirst(AtomicU32);

impl FailsFirst {
    async fn card(&self) -> Result<String, Unavailable> {
        let run = self.0.fetch_add(1, Ordering::Relaxed);
        sleep(ms(100)).await;
        match run {
            0 => Err(Unavailable),
            _ => Ok("card of 7".to_owned()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_refused_for_the_leaders_deadline_leaves_the_waiting_call_its_own_retry() {
    let policy = Policy::builder()
        .retry(runner_core::Retry::new(3).backoff(ms(1)))
        .build()
        .unwrap();
    let group = Cards::new();
    let service = FailsFirst(AtomicU32::new(0));
    let through = |timeout| {
        let start = Instant::now();
        let call = policy
            .best_effort("card", || service.card())
            .timeout(timeout)
            .coalesce(&group, 7);
        async move { (call.await, start.elapsed()) }
    };
    let (leader, waiting) = tokio::join!(through(ms(150)), through(ms(1000)));
    // The leader's first run failed at 100 ms; a retry would end past its 150 ms, so it
    // was refused and the error is the leader's alone. The waiting call takes over at
    // 100 ms and its run succeeds at 200 ms.
    assert_eq!(leader, (Err(TaskError::Failed(Unavailable)), ms(100)));
    assert_eq!(waiting, (Ok("card of 7".to_owned()), ms(200)));
    assert_eq!(service.0.load(Ordering::Relaxed), 2);
    assert_eq!(group.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_nested_calls_own_time_running_out_is_not_the_leaders() {
    let policy = Policy::builder().build().unwrap();
    let group = Cards::new();
    let runs = AtomicU32::new(0);
    let call = || {
        Task::best_effort("card", async {
            runs.fetch_add(1, Ordering::Relaxed);
            // A call inside the work, whose own 10 ms run out: its fallback answers it, and
            // that is the inner call's time, not the flight's leader's.
            let inner = policy
                .task::<runner_core::BestEffort, _, _, _, _, _>(
                    "inner",
                    || async {
                        sleep(ms(1_000)).await;
                        Ok::<_, Unavailable>("slow".to_owned())
                    },
                    runner_core::Options::new()
                        .fallback(|_: &TaskError<Unavailable>| "fallback".to_owned()),
                )
                .timeout(ms(10))
                .await
                .unwrap();
            Ok::<_, Unavailable>(format!("card with {inner}"))
        })
        .timeout(ms(500))
        .coalesce(&group, 7)
    };
    let (a, b) = tokio::join!(call(), call());
    assert_eq!(a.unwrap(), "card with fallback");
    assert_eq!(b.unwrap(), "card with fallback");
    // One run, shared: the waiting call did not take the flight over.
    assert_eq!(runs.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn coalesced_calls_in_one_fan_out_keep_their_slots() {
    let group = Cards::new();
    let service = Service::new(ms(100));
    let task = |timeout| {
        Task::critical("card", service.card(7))
            .timeout(timeout)
            .coalesce(&group, 7)
    };
    let (a, b) = fan_out!(task(ms(200)), task(ms(200)).into_best_effort())
        .await
        .unwrap();
    assert_eq!(a, "card of 7");
    assert_eq!(b.unwrap(), "card of 7");
    assert_eq!(service.runs(), 1);
}

#[test]
fn a_group_of_no_keys_is_refused() {
    let error = Cards::with_capacity(0).unwrap_err();
    assert_eq!(error.field(), "coalesce.capacity");
    assert_eq!(
        CoalesceConfig { capacity: 0 }
            .group::<u64, String, Unavailable>()
            .unwrap_err(),
        error
    );
    assert_eq!(
        CoalesceConfig::default()
            .group::<u64, String, Unavailable>()
            .unwrap()
            .capacity(),
        Cards::DEFAULT_CAPACITY
    );
}

/// Work that yields `turns` times, then gives its key's card.
async fn yielding_card(user_id: u64, turns: u64) -> Result<String, Unavailable> {
    for _ in 0..turns {
        tokio::task::yield_now().await;
    }
    Ok(format!("card of {user_id}"))
}

/// Many callers on four threads, a few keys, each call dropped by its caller at a turn of
/// its own or let run: whatever the interleaving, a call that ends has its own key's card
/// (checked in each caller), no call is left waiting for ever (the guard), and once all are
/// done the group holds no flight. Nothing here is timed; the loops are bounded.
#[test]
fn callers_on_many_threads_dropping_their_calls_leave_the_group_clean() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let group: &'static Cards = Box::leak(Box::new(Cards::with_capacity(3).unwrap()));
    runtime.block_on(async {
        let callers = (0..400u64).map(|caller| {
            tokio::spawn(async move {
                // Spread the callers over five keys (one more than the group holds) with
                // work of 0 to 6 turns; a third of them give up after 0 to 4 turns.
                let (key, turns, patience) = (caller % 5, caller % 7, caller % 3);
                let call = Task::best_effort("card", yielding_card(key, turns))
                    .coalesce(group, key)
                    .into_future();
                let gives_up = async {
                    for _ in 0..(caller % 5) {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! {
                    biased;
                    result = call => {
                        assert_eq!(result.unwrap(), format!("card of {key}"));
                    }
                    () = gives_up, if patience == 0 => {}
                }
            })
        });
        // Only a call left waiting for ever would take long: the guard makes it a failure.
        let all = futures::future::join_all(callers);
        let callers = tokio::time::timeout(Duration::from_secs(60), all).await;
        for caller in callers.expect("a call never ended") {
            caller.unwrap();
        }
    });
    assert_eq!(group.in_flight(), 0);
}

/// Time that ran out on the leader alone (a run inside it failed on the deadline it
/// inherited) is not the others' error: a waiting call with more time takes the flight over
/// and runs its own work. A leader that still ends `Ok` shares its value as any other.
#[tokio::test(start_paused = true)]
async fn the_leaders_own_expired_deadline_is_not_shared_but_its_value_is() {
    let runs = AtomicU32::new(0);
    let group = Cards::new();
    // The work waits for a sub-call of 100 ms under the call's own deadline; `tolerant`
    // work goes on without it.
    let call = |timeout: u64, tolerant: bool| {
        let runs = &runs;
        Task::best_effort("card", async move {
            runs.fetch_add(1, Ordering::Relaxed);
            let sub = Task::best_effort("sub", async {
                sleep(ms(100)).await;
                Ok::<_, Unavailable>(())
            })
            .await;
            match (sub, tolerant) {
                (Ok(()), _) | (Err(_), true) => Ok("card of 7".to_owned()),
                (Err(_), false) => Err(Unavailable),
            }
        })
        .timeout(ms(timeout))
        .coalesce(&group, 7)
    };
    let (leader, waiting) = tokio::join!(call(50, false), call(200, false));
    // The leader's error is time running out on it, whatever its own error says.
    assert!(matches!(leader, Err(TaskError::TimedOut(_))));
    assert_eq!(waiting.unwrap(), "card of 7");
    assert_eq!(runs.load(Ordering::Relaxed), 2);

    let (leader, waiting) = tokio::join!(call(50, true), call(200, true));
    assert_eq!(leader.unwrap(), "card of 7");
    assert_eq!(waiting.unwrap(), "card of 7");
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    assert_eq!(group.in_flight(), 0);
}

/// An observer that panics as a waiting call takes a flight over leaves no flight behind
/// that nobody runs: the call ends as panicked, and the key is free for the next call.
#[tokio::test(start_paused = true)]
async fn an_observer_that_panics_leaves_no_flight_without_a_leader() {
    struct PanicsOnce(AtomicU32);
    impl Observer for PanicsOnce {
        fn on_policy(&self, event: &PolicyEvent<'_>) {
            if event.kind == EventKind::CoalesceTakenOver
                && self.0.fetch_add(1, Ordering::Relaxed) == 0
            {
                panic!("the observer panicked");
            }
        }
    }
    let group = Cards::new().observer(Arc::new(PanicsOnce(AtomicU32::new(0))));
    let service = Service::new(ms(10));
    // The leader times out at 5 ms; the waiting call's take-over panics in the observer.
    let (leader, waiting) = tokio::join!(
        card(&group, &service, 7, ms(5)),
        card(&group, &service, 7, ms(100)),
    );
    assert!(matches!(leader.0, Err(TaskError::TimedOut(_))));
    assert!(matches!(waiting.0, Err(TaskError::Panicked(_))));
    assert_eq!(group.in_flight(), 0);
    // A fresh call leads at once.
    assert_eq!(
        card(&group, &service, 7, ms(100)).await,
        (Ok("card of 7".to_owned()), ms(10))
    );
}

/// A card whose `Clone` panics when told to, for the tests of a panicking clone.
#[derive(Debug, PartialEq)]
struct Fragile(u64);

thread_local! {
    static CLONE_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if CLONE_PANICS.with(|panics| panics.replace(false)) {
            panic!("the clone panicked");
        }
        Fragile(self.0)
    }
}

/// Work that is pending until `go` is set, then gives key `n`'s card.
fn gated(go: &Arc<AtomicBool>, n: u64) -> impl Future<Output = Result<Fragile, Unavailable>> {
    let go = go.clone();
    std::future::poll_fn(move |_| match go.load(Ordering::SeqCst) {
        true => Poll::Ready(Ok(Fragile(n))),
        false => Poll::Pending,
    })
}

/// A result whose `Clone` panics for one waiting call fails that call alone: the flight
/// stays the others', who take their own key's result, and its place is not reused under
/// them.
#[test]
fn a_clone_that_panics_for_one_waiting_call_leaves_the_others_their_keys_result() {
    let group: Coalesce<u64, Fragile, Unavailable> = Coalesce::new();
    let (go7, go8) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let cx = &mut Context::from_waker(Waker::noop());
    let mut leader7 = pin!(group.call("t", 7, gated(&go7, 7)));
    let mut waiting7 = pin!(group.call("t", 7, gated(&go7, 7)));
    let mut fragile7 = Box::pin(group.call("t", 7, gated(&go7, 7)));
    assert!(leader7.as_mut().poll(cx).is_pending());
    assert!(waiting7.as_mut().poll(cx).is_pending());
    assert!(fragile7.as_mut().poll(cx).is_pending());
    go7.store(true, Ordering::SeqCst);
    assert_eq!(leader7.as_mut().poll(cx), Poll::Ready(Ok(Fragile(7))));
    CLONE_PANICS.with(|panics| panics.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| fragile7.as_mut().poll(cx))).is_err());
    drop(fragile7);
    // A flight of key 8 meanwhile: it must not take the place key 7's waiting call is on.
    let mut leader8 = pin!(group.call("t", 8, gated(&go8, 8)));
    let mut waiting8 = pin!(group.call("t", 8, gated(&go8, 8)));
    assert!(leader8.as_mut().poll(cx).is_pending());
    assert!(waiting8.as_mut().poll(cx).is_pending());
    assert_eq!(waiting7.as_mut().poll(cx), Poll::Ready(Ok(Fragile(7))));
    go8.store(true, Ordering::SeqCst);
    assert_eq!(leader8.as_mut().poll(cx), Poll::Ready(Ok(Fragile(8))));
    assert_eq!(waiting8.as_mut().poll(cx), Poll::Ready(Ok(Fragile(8))));
    assert_eq!(group.in_flight(), 0);
}

/// A result whose `Clone` panics as the leader lands it fails the leader alone: the calls
/// waiting are woken, and one of them runs its own work.
#[test]
fn a_clone_that_panics_as_the_leader_lands_wakes_the_waiting_calls() {
    #[derive(Default)]
    struct Woken(AtomicBool);
    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let group: Coalesce<u64, Fragile, Unavailable> = Coalesce::new();
    let go = Arc::new(AtomicBool::new(false));
    let woken = Arc::new(Woken::default());
    let waker = Waker::from(woken.clone());
    let mut leader = Box::pin(group.call("t", 7, gated(&go, 7)));
    let mut waiting = pin!(group.call("t", 7, gated(&go, 7)));
    assert!(
        leader
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    go.store(true, Ordering::SeqCst);
    CLONE_PANICS.with(|panics| panics.set(true));
    let landed = catch_unwind(AssertUnwindSafe(|| {
        leader
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }));
    assert!(landed.is_err());
    drop(leader);
    assert!(
        woken.0.load(Ordering::SeqCst),
        "the waiting call was not woken"
    );
    assert_eq!(
        waiting.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Ok(Fragile(7)))
    );
    assert_eq!(group.in_flight(), 0);
}
