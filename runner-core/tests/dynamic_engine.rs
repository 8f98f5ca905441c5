//! What is particular to the dynamic engine, `TaskRunner`: typed handles, bulk adds,
//! the concurrency limit (and what it admits after the deadline or a cancellation), a panic
//! in a task's `Drop` when the run is dropped, and polling only what woke, at 100,000 tasks.

mod support;

use std::future::pending;
use std::sync::LazyLock;
use std::time::Duration;

use runner_core::{
    Breaker, BreakerState, CancellationToken, FanOutError, Limit, Outcome, Policy, Task, TaskError,
    TaskRunner,
};
use support::{Act, Boom, PanicsOnDrop, Probe, elapsed_ms, ms};
use tokio::time::Instant;

/// Takes `ms` of virtual time in one poll, as a task that blocks its thread would.
async fn blocks_for(ms: u64) -> Result<u32, Boom> {
    tokio::time::advance(Duration::from_millis(ms)).await;
    Ok(0)
}

/// A task queued behind one that overran the deadline never starts: its slot says the
/// deadline cut it, and it never ran with no time left.
#[tokio::test(start_paused = true)]
async fn no_queued_task_starts_at_or_after_the_deadline() {
    let probe = Probe::new();
    let mut runner = TaskRunner::new().concurrency_limit(1).deadline(ms(10));
    let _blocks = runner.add(Task::best_effort("blocks", blocks_for(30)));
    let queued = runner.add(Task::best_effort("queued", probe.task(0, Act::Ok, 2)));
    let left = runner.add(Task::best_effort("left", async {
        Ok::<_, Boom>(runner_core::remaining())
    }));
    let mut results = runner.run_all().await.unwrap();
    assert!(matches!(
        results.take(queued),
        Err(TaskError::DeadlineExceeded)
    ));
    assert!(matches!(
        results.take(left),
        Err(TaskError::DeadlineExceeded)
    ));
    assert_eq!(probe.started(), 0);

    // Critical, it fails the run, named.
    let mut runner = TaskRunner::new().concurrency_limit(1).deadline(ms(10));
    let _blocks = runner.add(Task::best_effort("blocks", blocks_for(30)));
    let _queued = runner.add(Task::critical("queued", probe.task(0, Act::Ok, 2)));
    let error = runner.run_all().await.unwrap_err();
    assert!(
        matches!(error, FanOutError::DeadlineExceeded { ref pending, .. } if pending == &["queued"]),
        "{error:?}"
    );
    assert_eq!(probe.started(), 0);
}

/// A task that cancels the run's token and completes: no queued task starts after it.
#[tokio::test(start_paused = true)]
async fn no_queued_task_starts_after_a_cancel() {
    let probe = Probe::new();
    let token = CancellationToken::new();
    let mut runner = TaskRunner::new()
        .concurrency_limit(1)
        .cancel_on(token.clone());
    let _cancels = runner.add(Task::best_effort("cancels", async move {
        token.cancel();
        Ok::<u32, Boom>(1)
    }));
    let _queued =
        runner.add_all((0..3).map(|n| Task::best_effort("queued", probe.task(0, Act::Ok, n))));
    let result = runner.run_all().await;
    assert!(matches!(result, Err(FanOutError::Cancelled)), "{result:?}");
    assert_eq!(probe.started(), 0);
}

/// A run dropped while one of its tasks panics in `Drop` still drops the others, so what
/// they hold is given back: a place under a limit, a breaker's half-open probe.
#[tokio::test(start_paused = true)]
async fn a_panic_in_one_tasks_drop_leaks_none_of_the_others() {
    static LIMITED: LazyLock<Policy> =
        LazyLock::new(|| Policy::builder().limit(Limit::new(1)).build().unwrap());
    let probed = Policy::builder()
        .breaker(Breaker::new(
            1,
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
        .build()
        .unwrap();
    // Open the breaker, and let its cooldown pass: the next call is the half-open probe.
    let failed = probed
        .best_effort("probed", || async { Err::<u32, Boom>(Boom(0)) })
        .await;
    assert!(failed.is_err());
    tokio::time::advance(Duration::from_secs(5)).await;

    let mut runner = TaskRunner::new();
    let _limited = runner.add(LIMITED.best_effort("limited", pending::<Result<u32, Boom>>));
    let _panics = runner.add(Task::best_effort("panics", PanicsOnDrop));
    let _probe = runner.add(probed.best_effort("probed", pending::<Result<u32, Boom>>));
    assert!(
        tokio::time::timeout(ms(10), runner.run_all())
            .await
            .is_err()
    );
    assert_eq!(LIMITED.in_flight(), 0, "the limit's place was given back");
    assert_eq!(probed.breaker_state(), Some(BreakerState::HalfOpen));
    let probe = probed
        .best_effort("probed", || async { Ok::<u32, Boom>(1) })
        .await;
    assert_eq!(
        probe.unwrap(),
        1,
        "the next call is let through as the probe"
    );
    assert_eq!(probed.breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn slots_come_back_by_handle_and_in_input_order() {
    let probe = Probe::new();
    let mut runner = TaskRunner::new();
    let balance = runner.add(Task::critical("balance", probe.task(30, Act::Ok, 100)));
    // Later tasks finish first; the slots still come back in input order.
    let offers = runner.add_all((1..=5).map(|n| {
        let act = if n == 3 { Act::Err } else { Act::Ok };
        Task::best_effort("offer", probe.task(u64::from(10 - n), act, n))
    }));
    let card = runner.add(Task::best_effort("card", probe.task(5, Act::Ok, 7)));
    assert_eq!((runner.len(), offers.len()), (7, 5));

    let mut results = runner.run_all().await.unwrap();
    let offers: Vec<Result<u32, TaskError<Boom>>> = results.take(offers);
    let offers: Vec<Result<u32, u32>> = offers
        .into_iter()
        .map(|slot| slot.map_err(|error| error.into_inner().unwrap().0))
        .collect();
    assert_eq!(offers, [Ok(1), Ok(2), Err(3), Ok(4), Ok(5)]);
    assert_eq!(results.take(balance), 100);
    assert_eq!(results.take(card).unwrap(), 7);
    let report = results.report();
    assert_eq!(report.tasks().len(), 7);
    assert_eq!(report.elapsed(), ms(30));
    assert_eq!(report.failures().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_caps_tasks_in_flight_and_timeouts_start_with_the_task() {
    let probe = Probe::new();
    let start = Instant::now();
    let mut runner = TaskRunner::new().concurrency_limit(2);
    // Each takes 40 ms under a 50 ms timeout of its own; the last ones start at 80 ms, so
    // a timeout counted from the run's start would cut them.
    let tasks = runner
        .add_all((0..6).map(|n| Task::critical("t", probe.task(40, Act::Ok, n)).timeout(ms(50))));
    let mut results = runner.run_all().await.unwrap();
    assert_eq!(results.take(tasks), [0, 1, 2, 3, 4, 5]);
    assert_eq!(elapsed_ms(start), 120);
    assert_eq!(probe.max_running(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_limit_of_zero_runs_one_at_a_time() {
    let probe = Probe::new();
    let start = Instant::now();
    let mut runner = TaskRunner::new().concurrency_limit(0);
    let tasks = runner.add_all((0..3).map(|n| Task::best_effort("t", probe.task(10, Act::Ok, n))));
    let mut results = runner.run_all().await.unwrap();
    assert_eq!(results.take(tasks).len(), 3);
    assert_eq!((elapsed_ms(start), probe.max_running()), (30, 1));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_tasks_that_never_started() {
    let probe = Probe::new();
    let mut runner = TaskRunner::new().concurrency_limit(1).deadline(ms(50));
    let first = runner.add(Task::best_effort("first", probe.task(30, Act::Ok, 1)));
    let second = runner.add(Task::best_effort("second", probe.task(30, Act::Ok, 2)));
    let third = runner.add(Task::best_effort("third", probe.task(30, Act::Ok, 3)));
    let (result, report) = runner.run_all().with_report().await;
    let mut results = result.unwrap();
    assert_eq!(results.take(first).unwrap(), 1);
    assert!(matches!(
        results.take(second),
        Err(TaskError::DeadlineExceeded)
    ));
    assert!(matches!(
        results.take(third),
        Err(TaskError::DeadlineExceeded)
    ));
    // The third never started: it was never polled, and its record says it took no time.
    assert_eq!(probe.started(), 2);
    let records: Vec<_> = report
        .tasks()
        .iter()
        .map(|r| (r.outcome, r.elapsed))
        .collect();
    assert_eq!(
        records,
        [
            (Outcome::Ok, ms(30)),
            (Outcome::DeadlineExceeded, ms(20)),
            (Outcome::DeadlineExceeded, ms(0))
        ]
    );
    assert_eq!(probe.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_critical_task_that_never_started_is_named_at_the_deadline() {
    let probe = Probe::new();
    let mut runner = TaskRunner::new().concurrency_limit(1).deadline(ms(50));
    let _first = runner.add(Task::best_effort("first", probe.task(0, Act::Hang, 1)));
    let _second = runner.add(Task::critical("second", probe.task(10, Act::Ok, 2)));
    let error = runner.run_all().await.unwrap_err();
    assert!(
        matches!(error, FanOutError::DeadlineExceeded { ref pending, .. } if pending == &["second"])
    );
    assert_eq!((probe.started(), probe.alive()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_runner_without_tasks_succeeds_at_once() {
    let runner = TaskRunner::new().deadline(ms(10));
    assert!(runner.is_empty());
    let start = Instant::now();
    let results = runner.run_all().await.unwrap();
    assert!(results.is_empty());
    assert_eq!(elapsed_ms(start), 0);
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "handle used with the results of another `TaskRunner`")]
async fn a_handle_from_another_runner_is_refused() {
    let mut first = TaskRunner::new();
    let stray = first.add(Task::critical("a", async { Ok::<u32, Boom>(1) }));
    let mut second = TaskRunner::new();
    let _own = second.add(Task::critical("a", async { Ok::<u32, Boom>(2) }));
    let mut results = second.run_all().await.unwrap();
    let _ = results.take(stray);
}

/// 100,000 tasks, each woken once by its timer: each is polled exactly twice, so the run
/// polls only what woke and its work grows linearly with the number of tasks.
#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_tasks_are_each_polled_only_when_woken() {
    const TASKS: usize = 100_000;
    let probe = Probe::new();
    let start = Instant::now();
    let mut runner = TaskRunner::new();
    let handles = runner.add_all((0..TASKS).map(|n| {
        let latency = 1 + (n % 100) as u64;
        Task::best_effort("t", probe.task(latency, Act::Ok, n as u32))
    }));
    // Outside tokio's cooperative budget, so no poll is a forced re-poll.
    let mut results = tokio::task::coop::unconstrained(runner.run_all())
        .await
        .unwrap();
    let slots = results.take(handles);
    assert_eq!(slots.len(), TASKS);
    assert!(
        slots
            .iter()
            .enumerate()
            .all(|(n, slot)| slot.as_ref().ok() == Some(&(n as u32)))
    );
    assert_eq!(probe.polls(), 2 * TASKS);
    assert_eq!(elapsed_ms(start), 100);
}

/// A thousand tasks with their own timeouts share one timer of the run: each is cut at its
/// own instant, counted from its own start (those behind the limit start later), with the
/// tasks that finish first and the tasks that finish at the very instant left alone.
#[tokio::test(start_paused = true)]
async fn a_thousand_own_timeouts_each_cut_at_its_own_instant() {
    let mut runner = TaskRunner::new().concurrency_limit(500);
    // Task i sleeps i % 7 ms under a timeout of i % 5 + 1 ms: it times out when its sleep is
    // the longer, and finishes (at the instant, when they are equal) otherwise.
    let handles = runner.add_all((0..1_000u64).map(|i| {
        let (work, timeout) = (i % 7, i % 5 + 1);
        Task::best_effort("t", async move {
            tokio::time::sleep(ms(work)).await;
            Ok::<_, Boom>(i)
        })
        .timeout(ms(timeout))
    }));
    let started = Instant::now();
    let (result, report) = runner.run_all().with_report().await;
    let slots = result.unwrap().take(handles);
    let mut late = 0;
    for (i, (slot, record)) in slots.into_iter().zip(report.tasks()).enumerate() {
        let (work, timeout) = (i as u64 % 7, i as u64 % 5 + 1);
        if work <= timeout {
            assert_eq!(slot.unwrap(), i as u64, "task {i}");
            assert_eq!(record.elapsed, ms(work), "task {i}");
        } else {
            assert!(
                matches!(slot, Err(TaskError::TimedOut(t)) if t == ms(timeout)),
                "task {i}"
            );
            assert_eq!(record.outcome, Outcome::TimedOut);
            assert_eq!(record.elapsed, ms(timeout), "task {i}");
            late += 1;
        }
    }
    assert!(late > 0);
    // The second 500 started as places freed, within the first 6 ms.
    assert!(started.elapsed() <= ms(12), "{:?}", started.elapsed());
}

/// A task that wakes itself at every poll (a spin-wait, a `yield_now` outside tokio) keeps
/// the ready list full: the run still times it out at its own instant, and the other tasks'
/// timeouts too. Real time (a task that never idles stops tokio's paused clock); the outer
/// timeout only turns a hang into a failure.
#[tokio::test(flavor = "current_thread")]
async fn a_task_that_wakes_itself_at_every_poll_still_times_out() {
    let mut runner = TaskRunner::new();
    let spin = runner.add(
        Task::best_effort("spin", async {
            std::future::poll_fn(|cx| {
                cx.waker().wake_by_ref();
                std::task::Poll::<()>::Pending
            })
            .await;
            Ok::<u32, Boom>(0)
        })
        .timeout(ms(20)),
    );
    // Ends by itself after 2 s, keeping the list full until then.
    let _spinner = runner.add(Task::best_effort("spinner", async {
        let until = Instant::now() + Duration::from_secs(2);
        std::future::poll_fn(|cx| {
            if Instant::now() >= until {
                return std::task::Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await;
        Ok::<u32, Boom>(0)
    }));
    let slow = runner.add(
        Task::best_effort("slow", async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<u32, Boom>(0)
        })
        .timeout(ms(20)),
    );
    let run = tokio::time::timeout(Duration::from_secs(30), runner.run_all().with_report());
    let (result, report) = run.await.expect("the run ended");
    let mut results = result.unwrap();
    assert!(matches!(results.take(spin), Err(TaskError::TimedOut(_))));
    assert!(matches!(results.take(slow), Err(TaskError::TimedOut(_))));
    // Cut at its own 20 ms, not held back until the spinner's 2 s were up.
    let slow = report.tasks()[2];
    assert!(slow.elapsed < Duration::from_secs(1), "{:?}", slow.elapsed);
}

/// Tasks that ended long before their own timeouts do not wake the run at those instants.
#[tokio::test(start_paused = true)]
async fn timeouts_of_tasks_that_ended_wake_nothing() {
    let mut runner = TaskRunner::new().concurrency_limit(2);
    let _long = runner.add(Task::best_effort("long", async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok::<u32, Boom>(0)
    }));
    let _short = runner.add_all((0..1000).map(|_| {
        Task::best_effort("short", async {
            tokio::time::sleep(ms(1)).await;
            Ok::<u32, Boom>(0)
        })
        .timeout(Duration::from_secs(1))
    }));
    let start = Instant::now();
    let mut polls_late = 0;
    let mut run = std::pin::pin!(runner.run_all());
    std::future::poll_fn(|cx| {
        // Every short task ended by about 1 s; only `long` runs from then until 3 s.
        if start.elapsed() > ms(1_100) {
            polls_late += 1;
        }
        run.as_mut().poll(cx)
    })
    .await
    .unwrap();
    assert!(
        polls_late <= 2,
        "{polls_late} polls after every short task ended"
    );
}

/// A waker a task kept past the end of its run wakes nothing: not the run's caller.
#[tokio::test]
async fn a_waker_kept_past_the_run_wakes_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};

    let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
    let mut runner = TaskRunner::new();
    let keeps = kept.clone();
    let _t = runner.add(Task::best_effort("t", async move {
        std::future::poll_fn(|cx| {
            *keeps.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        Ok::<u32, Boom>(0)
    }));
    struct Counts(AtomicUsize);
    impl futures::task::ArcWake for Counts {
        fn wake_by_ref(counts: &Arc<Self>) {
            counts.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let counts = Arc::new(Counts(AtomicUsize::new(0)));
    let waker = futures::task::waker(counts.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut run = Box::pin(runner.run_all());
    let done = (0..10).any(|_| run.as_mut().poll(&mut cx).is_ready());
    assert!(done);
    drop(run);
    let before = counts.0.load(Ordering::SeqCst);
    kept.lock().unwrap().take().unwrap().wake();
    assert_eq!(
        counts.0.load(Ordering::SeqCst),
        before,
        "the run's caller was woken"
    );
}
