//! A task awaited on its own, and the task builder.

mod support;

use std::time::Duration;

use runner_core::{BestEffort, Critical, FanOut, Task, TaskError};
use support::{Act, Boom, Probe, elapsed_ms, ms};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn awaiting_a_task_runs_it_under_its_timeout() {
    let probe = Probe::new();
    let start = Instant::now();
    let result = Task::critical("wallet", probe.task(0, Act::Hang, 1))
        .timeout(ms(40))
        .await;
    assert!(matches!(result, Err(TaskError::TimedOut(d)) if d == ms(40)));
    assert_eq!(elapsed_ms(start), 40);
    assert_eq!(probe.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn awaiting_a_task_keeps_its_error_type_and_catches_panics() {
    let probe = Probe::new();
    let failed: Result<u32, TaskError<Boom>> =
        Task::best_effort("card", probe.task(1, Act::Err, 3)).await;
    assert_eq!(failed.unwrap_err().into_inner(), Some(Boom(3)));
    let panicked = Task::critical("card", probe.task(1, Act::Panic, 4)).await;
    assert!(matches!(panicked, Err(TaskError::Panicked(m)) if m == "task 4 panicked"));
}

#[tokio::test(start_paused = true)]
async fn a_task_awaited_inside_a_task_inherits_its_deadline() {
    let probe = Probe::new();
    let inner = probe.clone();
    let start = Instant::now();
    let (outer,) = FanOut::new((Task::critical("outer", async move {
        let nested = Task::best_effort("nested", inner.task(0, Act::Hang, 1))
            .timeout(Duration::from_secs(5))
            .await;
        assert!(matches!(nested, Err(TaskError::DeadlineExceeded)));
        Ok::<_, Boom>(7)
    }),))
    .deadline(ms(60))
    .await
    .unwrap();
    assert_eq!(outer, 7);
    assert_eq!(elapsed_ms(start), 60);
    assert_eq!(probe.alive(), 0);
}

#[test]
fn builder_sets_name_timeout_and_criticality() {
    let task = Task::best_effort("card", async { Ok::<u32, Boom>(1) }).timeout(ms(150));
    assert_eq!(
        (task.name(), task.own_timeout(), task.is_critical()),
        ("card", Some(ms(150)), false)
    );
    let task: Task<_, Critical> = task.into_critical().timeout(ms(80));
    assert_eq!(
        (task.own_timeout(), task.is_critical()),
        (Some(ms(80)), true)
    );
    let task: Task<_, BestEffort> = task.into_best_effort().no_timeout();
    assert_eq!(task.own_timeout(), None);
    assert_eq!(
        format!("{task:?}"),
        r#"Task { name: "card", label: None, critical: false, timeout: None, .. }"#
    );
}

#[tokio::test(start_paused = true)]
async fn changing_criticality_changes_the_slot_type() {
    let (now_best_effort, now_critical): (Result<u32, TaskError<Boom>>, u32) = FanOut::new((
        Task::critical("a", async { Err::<u32, _>(Boom(1)) }).into_best_effort(),
        Task::best_effort("b", async { Ok::<u32, Boom>(2) }).into_critical(),
    ))
    .await
    .unwrap();
    assert!(now_best_effort.is_err());
    assert_eq!(now_critical, 2);
}
