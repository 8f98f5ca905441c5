//! What is particular to a run that hands out each task as it ends (`TaskRunner::start`,
//! `Running::join_next`): the order and instant each is handed out, tasks added while it
//! runs (under the same deadline and limit), the end of a failed run, cancel safety, and
//! dropping it. The fan-out's rules themselves are checked on it with the other engines, in
//! `rules.rs`, `edge_cases.rs`, `nested.rs` and `tracing_spans.rs`.

mod support;

use std::time::Duration;

use runner_core::{CancellationToken, FanOutError, Outcome, Running, Task, TaskError, TaskRunner};
use support::{Act, Boom, Probe, elapsed_ms, ms};
use tokio::time::Instant;

/// Hands out every task of `run`, each as `(index, virtual ms since start)`.
async fn hand_out_all(run: &mut Running<'_>, start: Instant) -> Vec<(usize, u128)> {
    let mut handed = Vec::new();
    while let Some(finished) = run.join_next().await {
        handed.push((finished.unwrap().index(), elapsed_ms(start)));
    }
    handed
}

#[tokio::test(start_paused = true)]
async fn each_task_is_handed_out_as_it_ends_with_its_slot() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().start();
    let balance = run.add(Task::critical("balance", probe.task(30, Act::Ok, 100)));
    let offers = run.add_all([20, 10, 40].map(|latency| {
        let act = if latency == 10 { Act::Err } else { Act::Ok };
        Task::best_effort("offer", probe.task(latency, act, latency as u32))
    }));
    assert_eq!(run.len(), 4);

    let start = Instant::now();
    let mut handed = Vec::new();
    while let Some(finished) = run.join_next().await {
        let mut finished = finished.unwrap();
        let at = elapsed_ms(start);
        // Another task's handle takes nothing.
        assert!(finished.index() == 0 || finished.take(&balance).is_none());
        if let Some(value) = finished.take(&balance) {
            handed.push((at, "balance".to_string(), value.to_string()));
        } else if let Some((i, offer)) = finished.take_from(&offers) {
            let offer = offer.map_err(|error| error.into_inner().unwrap().0);
            handed.push((at, format!("offer {i}"), format!("{offer:?}")));
        }
        // Taken once.
        assert!(finished.take_from(&offers).is_none() && finished.take(&balance).is_none());
    }
    let handed: Vec<(u128, &str, &str)> = handed
        .iter()
        .map(|(at, name, value)| (*at, name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        handed,
        [
            (10, "offer 1", "Err(10)"),
            (20, "offer 0", "Ok(20)"),
            (30, "balance", "100"),
            (40, "offer 2", "Ok(40)"),
        ]
    );
    assert!(run.is_empty());
    let report = run.report();
    assert_eq!(report.tasks().len(), 4);
    assert_eq!(report.failures().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_handle_of_another_runner_takes_nothing() {
    let mut other = TaskRunner::new();
    let foreign = other.add(Task::critical("a", async { Ok::<u32, Boom>(1) }));
    let mut run = TaskRunner::new().start();
    let own = run.add(Task::critical("a", async { Ok::<u32, Boom>(2) }));
    let mut finished = run.join_next().await.unwrap().unwrap();
    assert_eq!(finished.index(), 0);
    assert_eq!(finished.take(&foreign), None);
    assert_eq!(finished.record().name, "a");
    assert_eq!(finished.record().outcome, Outcome::Ok);
    assert_eq!(finished.take(&own), Some(2));
}

/// A task added while the run runs starts at the next poll, within the same deadline,
/// counted from the run's first poll, not from the add.
#[tokio::test(start_paused = true)]
async fn a_task_added_while_running_is_held_to_the_runs_deadline() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().deadline(ms(100)).start();
    let _ = run.add(Task::best_effort("first", probe.task(30, Act::Ok, 1)));
    let start = Instant::now();
    let first = run.join_next().await.unwrap().unwrap().index();
    assert_eq!((first, elapsed_ms(start)), (0, 30));

    let late = run.add(Task::best_effort("late", probe.task(80, Act::Ok, 2)));
    let quick = run.add(Task::best_effort("quick", probe.task(20, Act::Ok, 3)));
    let mut finished = run.join_next().await.unwrap().unwrap();
    assert_eq!(elapsed_ms(start), 50, "started at the add's next poll");
    assert_eq!(finished.take(&quick).unwrap().unwrap(), 3);
    let mut finished = run.join_next().await.unwrap().unwrap();
    assert_eq!(
        elapsed_ms(start),
        100,
        "cut at the run's deadline, not at 30 + 80 ms"
    );
    assert!(matches!(
        finished.take(&late).unwrap(),
        Err(TaskError::DeadlineExceeded)
    ));
    assert!(run.join_next().await.is_none());
    assert_eq!(probe.alive(), 0);
}

/// A task added once the deadline has passed never starts: it is handed out cut by it. A
/// critical one fails the run, named.
#[tokio::test(start_paused = true)]
async fn a_task_added_after_the_deadline_never_starts() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().deadline(ms(10)).start();
    let _ = run.add(Task::best_effort("slow", probe.task(50, Act::Ok, 1)));
    let start = Instant::now();
    assert_eq!(hand_out_all(&mut run, start).await, [(0, 10)]);

    tokio::time::advance(ms(5)).await;
    let late = run.add(Task::best_effort("late", probe.task(0, Act::Ok, 2)));
    let mut finished = run.join_next().await.unwrap().unwrap();
    assert!(matches!(
        finished.take(&late).unwrap(),
        Err(TaskError::DeadlineExceeded)
    ));
    assert!(run.join_next().await.is_none());

    let _ = run.add(Task::critical("needed", probe.task(0, Act::Ok, 3)));
    let error = run.join_next().await.unwrap().unwrap_err();
    assert!(
        matches!(error, FanOutError::DeadlineExceeded { ref pending, .. } if pending == &["needed"]),
        "{error:?}"
    );
    assert!(run.join_next().await.is_none());
    assert_eq!(probe.started(), 1, "only the first task ever started");
}

/// A critical failure is handed out once, as the run's error; the other tasks are dropped at
/// once, and the run hands out nothing more, not even a task added after.
#[tokio::test(start_paused = true)]
async fn a_critical_failure_ends_the_run_and_drops_the_others() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().start();
    let _ = run.add(Task::best_effort("done", probe.task(5, Act::Ok, 1)));
    let _ = run.add(Task::critical("fails", probe.task(10, Act::Err, 2)));
    let _ = run.add(Task::best_effort("slow", probe.task(50, Act::Ok, 3)));
    let start = Instant::now();
    assert_eq!(run.join_next().await.unwrap().unwrap().index(), 0);
    let error = run.join_next().await.unwrap().unwrap_err();
    assert_eq!(elapsed_ms(start), 10);
    assert!(
        matches!(error, FanOutError::TaskFailed { task, .. } if task == "fails"),
        "{error:?}"
    );
    assert_eq!(
        probe.alive(),
        0,
        "the slow task was dropped with the run's failure"
    );
    assert!(run.is_empty());

    let _ = run.add(Task::best_effort("after", probe.task(0, Act::Ok, 4)));
    assert!(run.join_next().await.is_none());
    assert_eq!(
        probe.started(),
        3,
        "the task added after the failure never started"
    );
    let outcomes: Vec<Outcome> = run.report().tasks().iter().map(|t| t.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::Cancelled
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_ends_the_run_even_with_tasks_ready_to_hand_out() {
    let probe = Probe::new();
    let token = CancellationToken::new();
    let mut run = TaskRunner::new().cancel_on(token.clone()).start();
    let _ = run.add_all((0..3).map(|n| Task::best_effort("t", probe.task(10, Act::Ok, n))));
    let _ = run.add(Task::best_effort("slow", probe.task(50, Act::Ok, 9)));
    // The three end in one poll; one is handed out, two wait.
    assert_eq!(run.join_next().await.unwrap().unwrap().index(), 0);
    token.cancel();
    let result = run.join_next().await.unwrap();
    assert!(matches!(result, Err(FanOutError::Cancelled)), "{result:?}");
    assert!(run.join_next().await.is_none());
    assert_eq!(probe.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_limit_holds_for_tasks_added_while_running() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().concurrency_limit(2).start();
    let _ = run.add_all((0..3).map(|n| Task::best_effort("t", probe.task(10, Act::Ok, n))));
    let start = Instant::now();
    run.join_next().await.unwrap().unwrap();
    let _ = run.add_all((3..6).map(|n| Task::best_effort("t", probe.task(10, Act::Ok, n))));
    let handed = hand_out_all(&mut run, start).await;
    assert_eq!(probe.max_running(), 2);
    // Two at a time, in the order added: 0 and 1 at 10 ms, 2 and 3 at 20, 4 and 5 at 30.
    assert_eq!(
        handed,
        [(1, 10), (2, 20), (3, 20), (4, 30), (5, 30)],
        "{handed:?}"
    );
}

/// A `join_next` dropped before it hands anything out loses nothing: every task is handed
/// out once, by later calls.
#[tokio::test(start_paused = true)]
async fn join_next_is_cancel_safe() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().start();
    let tasks = 50;
    let _ = run.add_all(
        (0..tasks).map(|n| Task::best_effort("t", probe.task(u64::from(n % 7), Act::Ok, n))),
    );
    let mut seen = vec![0; tasks as usize];
    let mut timeouts = 0;
    loop {
        // Biased, the timer first: when both are ready at the same tick, the call is dropped
        // (the case this checks) on every run, not on a random choice of `select!`'s.
        tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_micros(500)) => timeouts += 1,
            next = run.join_next() => match next {
                Some(finished) => seen[finished.unwrap().index()] += 1,
                None => break,
            },
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    assert!(timeouts > 0, "some calls were dropped unfinished");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_drops_its_tasks() {
    let probe = Probe::new();
    let mut run = TaskRunner::new().start();
    let _ = run
        .add_all((0..4).map(|n| Task::best_effort("t", probe.task(10 * u64::from(n), Act::Ok, n))));
    run.join_next().await.unwrap().unwrap();
    assert_eq!(
        probe.alive(),
        3,
        "an ended task's future is dropped as it ends"
    );
    drop(run);
    assert_eq!(probe.alive(), 0);
}

/// `join_next` gives `None` when every task added so far is handed out; adding more goes on
/// with the same run.
#[tokio::test(start_paused = true)]
async fn an_empty_run_gives_none_and_goes_on_when_tasks_are_added() {
    let mut run = TaskRunner::new().start();
    assert!(run.join_next().await.is_none());
    let a = run.add(Task::critical("a", async { Ok::<u32, Boom>(1) }));
    assert_eq!(run.join_next().await.unwrap().unwrap().take(&a), Some(1));
    assert!(run.join_next().await.is_none());
}

/// A `Send` run can be moved into a spawned task, and its `join_next` awaited there.
#[tokio::test(start_paused = true)]
async fn a_run_of_send_tasks_is_send() {
    let mut run = TaskRunner::new().start();
    let a = run.add(Task::critical("a", async { Ok::<u32, Boom>(7) }));
    let value = tokio::spawn(async move {
        let mut finished = run.join_next().await.unwrap().unwrap();
        finished.take(&a)
    })
    .await
    .unwrap();
    assert_eq!(value, Some(7));
}

/// A local run takes tasks that are not `Send`, and hands them out the same way.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_local_run_hands_out_tasks_that_are_not_send() {
    let prices = std::rc::Rc::new([120_u32, 80]);
    let mut run = TaskRunner::local().start();
    let totals = run.add_all((0..2).map(|i| {
        let prices = std::rc::Rc::clone(&prices);
        Task::critical("price", async move {
            tokio::time::sleep(ms(10 * (2 - i as u64))).await;
            Ok::<u32, Boom>(prices[i])
        })
    }));
    let mut handed = Vec::new();
    while let Some(finished) = run.join_next().await {
        handed.push(finished.unwrap().take_from(&totals).unwrap());
    }
    assert_eq!(handed, [(1, 80), (0, 120)]);
}

/// A place freed by a task that ended is taken at once, not once the caller has taken
/// every ended task: the task waiting for it finishes before the deadline.
#[tokio::test(start_paused = true)]
async fn a_place_freed_is_taken_before_the_ended_tasks_are_handed_out() {
    let probe = Probe::new();
    let mut run = TaskRunner::new()
        .concurrency_limit(2)
        .deadline(ms(35))
        .start();
    let tasks = run.add_all((0..3).map(|n| Task::best_effort("t", probe.task(10, Act::Ok, n))));
    let start = Instant::now();
    let mut handed = Vec::new();
    while let Some(finished) = run.join_next().await {
        let (i, slot) = finished.unwrap().take_from(&tasks).unwrap();
        handed.push((i, elapsed_ms(start), slot.unwrap()));
        // The caller's work on each result.
        tokio::time::sleep(ms(10)).await;
    }
    // 0 and 1 end at 10 ms, and 2 starts then.
    assert_eq!(handed, [(0, 10, 0), (1, 20, 1), (2, 30, 2)]);
}

/// A cancel made once every task has been handed out fails nothing.
#[tokio::test(start_paused = true)]
async fn a_cancel_after_every_task_was_handed_out_fails_nothing() {
    let token = CancellationToken::new();
    let mut run = TaskRunner::new().cancel_on(token.clone()).start();
    let a = run.add(Task::critical("a", async { Ok::<u32, Boom>(1) }));
    assert_eq!(run.join_next().await.unwrap().unwrap().take(&a), Some(1));
    assert!(run.join_next().await.is_none());
    token.cancel();
    assert!(run.join_next().await.is_none());
}
