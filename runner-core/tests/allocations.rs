//! The static engine allocates nothing per run, with or without the macros, proven with a
//! counting global allocator.
//!
//! Only allocations made on the test's own thread while a counter is armed are counted,
//! and each scenario runs a few times first, so that tokio's one-off set-up (the timer
//! wheel, the scheduler's queues growing to size) is not charged to the fan-out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use runner_core::{CancellationToken, FanOut, Task, TaskError, TaskRunner, fan_out, task};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
    // The bytes held since armed (less what was freed of what was held before), and the
    // most held at once.
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    if ARMED.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        BYTES.with(|n| n.set(n.get() + bytes));
    }
}

/// `grown` bytes more held (fewer if negative).
fn hold(grown: isize) {
    if ARMED.with(Cell::get) {
        let held = HELD.with(|held| {
            held.set(held.get() + grown);
            held.get()
        });
        PEAK.with(|peak| peak.set(peak.get().max(held)));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting touches
// only `const`-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        hold(layout.size() as isize);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        hold(layout.size() as isize);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        hold(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        hold(-(layout.size() as isize));
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug, Clone, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

const RUNS: usize = 1_000;

/// Allocations and bytes of `RUNS` runs of `make()`, after warming up.
fn measure<F, Fut>(make: F) -> (usize, usize)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        for _ in 0..10 {
            make().await;
        }
        ALLOCATIONS.with(|n| n.set(0));
        BYTES.with(|n| n.set(0));
        ARMED.with(|armed| armed.set(true));
        for _ in 0..RUNS {
            make().await;
        }
        ARMED.with(|armed| armed.set(false));
    });
    (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get))
}

async fn ready(value: u64) -> Result<u64, Unavailable> {
    Ok(value)
}

async fn yielding(value: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Ok(value)
}

async fn failing() -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Err(Unavailable)
}

#[test]
fn a_fan_out_of_ready_tasks_allocates_nothing() {
    let counted = measure(|| async {
        let (a, b, c) = FanOut::new((
            Task::critical("a", ready(1)),
            Task::best_effort("b", ready(2)),
            Task::critical("c", ready(3)),
        ))
        .await
        .unwrap();
        assert_eq!((a, b.unwrap(), c), (1, 2, 3));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

#[test]
fn a_fan_out_with_timeouts_a_deadline_and_a_degraded_task_allocates_nothing() {
    let counted = measure(|| async {
        let (a, b, c, d) = FanOut::new((
            Task::critical("a", yielding(1)).timeout(Duration::from_millis(200)),
            Task::best_effort("b", failing()).timeout(Duration::from_millis(150)),
            Task::best_effort("c", yielding(3)).timeout(Duration::from_millis(150)),
            Task::critical("d", yielding(4)),
        ))
        .deadline(Duration::from_millis(300))
        .await
        .unwrap();
        assert_eq!((a, c.unwrap(), d), (1, 3, 4));
        assert!(matches!(b, Err(TaskError::Failed(Unavailable))));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

#[test]
fn a_fan_out_with_a_cancellation_token_and_a_report_allocates_nothing() {
    let token = CancellationToken::new();
    let counted = measure(|| async {
        let (result, report) = FanOut::new((
            Task::critical("a", yielding(1)).timeout(Duration::from_millis(200)),
            Task::best_effort("b", yielding(2)),
        ))
        .deadline(Duration::from_millis(300))
        .cancel_on(token.clone())
        .with_report()
        .await;
        assert_eq!(result.unwrap().0, 1);
        assert_eq!(report.tasks().len(), 2);
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

#[task(critical, timeout = "200ms")]
async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Ok(user_id * 100)
}

#[task(best_effort, timeout = "150ms")]
async fn get_scratch_card(_user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Err(Unavailable)
}

#[test]
fn fan_out_macro_with_timeouts_and_a_deadline_allocates_nothing() {
    let counted = measure(|| async {
        let (balance, card) = fan_out!(deadline = "300ms"; get_balance(7), get_scratch_card(7))
            .await
            .unwrap();
        assert_eq!(balance, 700);
        assert!(matches!(card, Err(TaskError::Failed(Unavailable))));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// The counter works: a run that does allocate is seen to.
#[test]
fn the_counter_sees_allocations() {
    let counted = measure(|| async {
        let (boxed,) = FanOut::new((Task::critical("boxed", async {
            Ok::<_, Unavailable>(Box::new(1_u64))
        }),))
        .await
        .unwrap();
        assert_eq!(*boxed, 1);
    });
    assert_eq!(counted, (RUNS, RUNS * 8));
}

/// Allocations made by `run`, on a fresh current-thread runtime.
fn allocations_of(run: impl Future<Output = ()>) -> usize {
    heap_of(run).0
}

/// The allocations of one run, and the most bytes it held at once.
fn heap_of(run: impl Future<Output = ()>) -> (usize, isize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        ALLOCATIONS.with(|n| n.set(0));
        HELD.with(|n| n.set(0));
        PEAK.with(|n| n.set(0));
        ARMED.with(|armed| armed.set(true));
        run.await;
        ARMED.with(|armed| armed.set(false));
        (ALLOCATIONS.with(Cell::get), PEAK.with(Cell::get))
    })
}

/// Allocations of one `TaskRunner` run of `tasks` ready tasks, taken by one handle: added
/// together (`add_all`), or one at a time (`add`).
fn dynamic_run_allocations(tasks: u64, together: bool) -> usize {
    allocations_of(async move {
        let mut runner = TaskRunner::new();
        let handles = match together {
            true => runner.add_all((0..tasks).map(|i| Task::best_effort("t", ready(i)))),
            false => {
                let handles: Vec<_> = (0..tasks)
                    .map(|i| runner.add(Task::best_effort("t", ready(i))))
                    .collect();
                let mut results = runner.run_all().await.unwrap();
                let taken = handles.into_iter().map(|handle| results.take(handle));
                assert_eq!(taken.count() as u64, tasks);
                return;
            }
        };
        let mut results = runner.run_all().await.unwrap();
        assert_eq!(results.take(handles).len() as u64, tasks);
    })
}

/// Allocations of one `TaskRunner::start` run of `tasks` tasks that yield once, each taken
/// as it is handed out.
fn streaming_run_allocations(tasks: u64) -> usize {
    allocations_of(async move {
        let mut run = TaskRunner::new().start();
        let handles = run.add_all((0..tasks).map(|i| Task::best_effort("t", yielding(i))));
        let mut sum = 0;
        while let Some(finished) = run.join_next().await {
            let (_, value) = finished.unwrap().take_from(&handles).unwrap();
            sum += value.unwrap();
        }
        assert_eq!(sum, tasks * (tasks - 1) / 2);
    })
}

/// Allocations per task, as the difference between runs of 2,000 and 1,000 tasks.
fn per_task(run: impl Fn(u64) -> usize) -> f64 {
    (run(2_000) - run(1_000)) as f64 / 1_000.0
}

/// Handing out each task as it ends costs nothing more per task than `run_all`: no
/// allocation of its own (the queue of ended tasks is sized as tasks are added).
#[test]
fn a_task_handed_out_as_it_ends_costs_no_allocation_of_its_own() {
    let per_task = per_task(streaming_run_allocations);
    assert!(per_task < 0.01, "{per_task} allocations per task");
}

/// The dynamic engine allocates no memory of its own per task: a task's slot goes in the
/// run's arena, in room made for the tasks added together, and its waker's entry in a table
/// sized to the run: a few allocations per run, not per task.
#[test]
fn a_dynamic_task_costs_no_allocation_of_its_own() {
    let per_task = per_task(|tasks| dynamic_run_allocations(tasks, true));
    assert!(per_task < 0.01, "{per_task} allocations per task");
}

/// A dynamic task's heap against `FuturesUnordered`'s for the same future, one that yields
/// once (issue 16: at most 1.5x): its slot in the run's arena, its waker's entry and its
/// places on the ready lists, against the node that `FuturesUnordered` puts each future in.
/// Both hand the values back in a `Vec`, and tokio keeps the waker of each yielding task.
/// The most bytes the run held at once, per task, as the difference between runs of 2,000
/// and 1,000 tasks.
#[test]
fn a_dynamic_task_takes_at_most_one_and_a_half_times_the_heap_of_futures_unordered() {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let runner = |tasks: u64| {
        heap_of(async move {
            let mut runner = TaskRunner::new();
            let handles = runner.add_all((0..tasks).map(|i| Task::best_effort("t", yielding(i))));
            let mut results = runner.run_all().await.unwrap();
            assert_eq!(results.take(handles).len() as u64, tasks);
        })
        .1
    };
    let unordered = |tasks: u64| {
        heap_of(async move {
            let mut set: FuturesUnordered<_> = (0..tasks).map(yielding).collect();
            let mut out = Vec::with_capacity(tasks as usize);
            while let Some(result) = set.next().await {
                out.push(result);
            }
            assert_eq!(out.len() as u64, tasks);
        })
        .1
    };
    let per_task = |run: &dyn Fn(u64) -> isize| (run(2_000) - run(1_000)) as f64 / 1_000.0;
    let (runner, unordered) = (per_task(&runner), per_task(&unordered));
    assert!(
        runner <= 1.5 * unordered,
        "{runner} bytes per task against FuturesUnordered's {unordered}"
    );
}

/// Tasks added one at a time: the arena's chunks double, a few more allocations per run.
#[test]
fn tasks_added_one_at_a_time_cost_no_allocation_of_their_own() {
    let per_task = per_task(|tasks| dynamic_run_allocations(tasks, false));
    assert!(per_task < 0.02, "{per_task} allocations per task");
}

#[task(
    critical,
    timeout = "200ms",
    retry(attempts = 3, backoff = "1ms"),
    hedge = "50ms",
    breaker(failures = 5, window = "10s", cooldown = "5s"),
    limit = 32
)]
async fn guarded_balance(user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Ok(user_id * 100)
}

fn no_card(_: &TaskError<Unavailable>) -> u64 {
    0
}

#[task(best_effort, timeout = "150ms", breaker(failures = 5, window = "10s", cooldown = "5s"), fallback = no_card)]
async fn guarded_card(_user_id: u64) -> Result<u64, Unavailable> {
    Err(Unavailable)
}

/// Every policy at once, a fallback taken on every run: once the task fn's retry budget has
/// been built (on its first call, in the warm-up), a call allocates nothing.
#[test]
fn a_fan_out_of_tasks_with_every_policy_allocates_nothing() {
    let counted = measure(|| async {
        let (balance, card) = fan_out!(deadline = "300ms"; guarded_balance(7), guarded_card(7))
            .await
            .unwrap();
        assert_eq!((balance, card.unwrap()), (700, 0));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// A retried attempt and its backoff allocate nothing either.
#[test]
fn a_retry_allocates_nothing() {
    static FLAKY: LazyLock<runner_core::Policy> = LazyLock::new(|| {
        runner_core::Policy::builder()
            .retry(
                runner_core::Retry::new(2)
                    .backoff(Duration::from_millis(1))
                    // One retry per call, every call: a budget that never runs dry.
                    .budget(runner_core::Budget::new(1.0, Duration::from_secs(10), 0)),
            )
            .build()
            .unwrap()
    });
    let counted = measure(|| async {
        let attempt = Cell::new(0);
        let task = FLAKY.critical("flaky", || {
            attempt.set(attempt.get() + 1);
            let fails = attempt.get() == 1;
            async move {
                match fails {
                    true => Err(Unavailable),
                    false => Ok(1_u64),
                }
            }
        });
        assert_eq!(task.await.unwrap(), 1);
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// A count-based window keeps its outcomes in one allocation, made on the first call (in the
/// warm-up): the calls after it, judged for failures and slowness, allocate nothing; nor do
/// a time-based window's.
#[test]
fn a_sliding_window_breaker_allocates_nothing_per_call() {
    static BREAKERS: LazyLock<[runner_core::Policy; 2]> = LazyLock::new(|| {
        let slow = |breaker: runner_core::Breaker| {
            let breaker = breaker.slow_calls(Duration::from_millis(100), 0.5);
            runner_core::Policy::builder()
                .breaker(breaker)
                .build()
                .unwrap()
        };
        [
            slow(runner_core::Breaker::count_based(
                100,
                Duration::from_secs(5),
            )),
            slow(runner_core::Breaker::time_based(
                Duration::from_secs(10),
                Duration::from_secs(5),
            )),
        ]
    });
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let counted = measure(|| async {
        for policy in BREAKERS.iter() {
            let task = policy.best_effort("card", || {
                // One call in three fails: the breakers stay closed, and judge every call.
                let fails = CALLS
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .is_multiple_of(3);
                async move {
                    match fails {
                        true => Err(Unavailable),
                        false => Ok(1_u64),
                    }
                }
            });
            let _ = task.await;
            assert_eq!(
                policy.breaker_state(),
                Some(runner_core::BreakerState::Closed)
            );
        }
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// A rate-limited call allocates nothing, whether its turn is free or it waits for one:
/// of each two calls at once, the second waits a millisecond for its turn.
#[test]
fn a_rate_limit_allocates_nothing_whether_a_call_waits_or_not() {
    static LIMITED: LazyLock<runner_core::Policy> = LazyLock::new(|| {
        runner_core::Policy::builder()
            .rate_limit(runner_core::RateLimit::new(1, Duration::from_millis(1)))
            .build()
            .unwrap()
    });
    let counted = measure(|| async {
        let call = || {
            LIMITED
                .critical("card", || ready(1))
                .timeout(Duration::from_secs(1))
        };
        let (first, second) = tokio::join!(call(), call());
        assert_eq!((first.unwrap(), second.unwrap()), (1, 1));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// Through an adaptive limit, a call allocates nothing either: its sample goes into the
/// window's histogram, an array in the policy; nor does one that waits behind a critical
/// call for the one place.
#[test]
fn an_adaptive_limit_allocates_nothing_whether_a_call_waits_or_not() {
    static LEARNING: LazyLock<runner_core::Policy> = LazyLock::new(|| {
        let adaptive = runner_core::Adaptive::new().initial(1).bounds(1, 1);
        runner_core::Policy::builder()
            .limit(runner_core::Limit::adaptive(adaptive))
            .build()
            .unwrap()
    });
    let counted = measure(|| async {
        let critical = LEARNING.critical("card", || yielding(1));
        let best_effort = LEARNING.best_effort("card", || yielding(2));
        let (first, second) = tokio::join!(critical, best_effort);
        assert_eq!((first.unwrap(), second.unwrap()), (1, 2));
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

#[task(best_effort, timeout = "1s", coalesce(key = user_id))]
async fn coalesced_card(user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Ok(user_id)
}

/// Coalesced calls allocate nothing once the group has seen its busiest moment: the fn's
/// own group is made at its first call, and its table keeps its capacity as keys leave.
/// Each run has a flight of three calls (one leads, two wait and take a clone) beside a
/// call with another key.
#[test]
fn coalesced_calls_allocate_nothing_once_the_group_has_grown() {
    let counted = measure(|| async {
        let (a, b, c, d) = fan_out!(
            coalesced_card(1),
            coalesced_card(1),
            coalesced_card(1),
            coalesced_card(2),
        )
        .await
        .unwrap();
        assert_eq!(
            (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()),
            (1, 1, 1, 2)
        );
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}

/// Nor does a flight handed over: its leader is dropped while the others wait, and a
/// waiting call takes the flight over and runs its own work.
#[test]
fn a_flight_handed_over_allocates_nothing() {
    static CARDS: LazyLock<runner_core::policy::Coalesce<u64, u64, Unavailable>> =
        LazyLock::new(runner_core::policy::Coalesce::new);
    let counted = measure(|| async {
        let call = || {
            Task::best_effort("card", yielding(3))
                .timeout(Duration::from_secs(1))
                .coalesce(&CARDS, 3)
                .into_future()
        };
        let mut leader = std::pin::pin!(Some(call()));
        let mut waiting = std::pin::pin!(call());
        std::future::poll_fn(|cx| {
            let leading = leader.as_mut().as_pin_mut().unwrap().poll(cx);
            assert!(leading.is_pending() && waiting.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        leader.set(None);
        assert_eq!(waiting.await.unwrap(), 3);
        assert_eq!(CARDS.in_flight(), 0);
    });
    assert_eq!(counted, (0, 0), "(allocations, bytes) over {RUNS} runs");
}
