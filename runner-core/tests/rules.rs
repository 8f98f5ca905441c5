//! Rules a–j of the fan-out, each checked on every engine on tokio's paused clock: the
//! static one, the dynamic one, and the dynamic one handing out each task as it ends.
//!
//! Every test body is generic over the engine; `on_every_engine!` makes one test per engine
//! (`static_engine::<rule>`, `dynamic_engine::<rule>`, `streaming::<rule>`). Drop-guard probes prove that work
//! was cancelled, not assumed so.

mod support;

use std::time::Duration;

use runner_core::{FanOutError, Outcome, Task, TaskError, TaskRecord};
use support::{Act, Boom, Config, Engine, Probe, elapsed_ms, ms};
use tokio::time::Instant;

// a. Every task starts on the first poll; slots come back in the order written.
async fn a_tasks_start_together_and_slots_keep_their_order<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run3(
        Task::critical("slow", probe.task(30, Act::Ok, 1)),
        Task::best_effort("fast", probe.task(10, Act::Ok, 2)),
        Task::critical("middle", probe.task(20, Act::Ok, 3)),
        Config::default(),
    )
    .await;
    let (slow, fast, middle) = result.unwrap();
    assert_eq!((slow, fast.unwrap(), middle), (1, 2, 3));
    // Concurrent, not one after another: 30 ms, not 60.
    assert_eq!(elapsed_ms(start), 30);
    assert_eq!(probe.max_running(), 3);
    assert_eq!(probe.alive(), 0);
}

// b. A critical failure ends the run at once and drops every other task first.
async fn b_critical_error_fails_at_once_and_drops_the_rest<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run3(
        Task::best_effort("hangs", probe.task(0, Act::Hang, 1)),
        Task::critical("fails", probe.task(10, Act::Err, 2)),
        Task::critical("slow", probe.task(50, Act::Ok, 3)),
        Config::default(),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(elapsed_ms(start), 10);
    assert_eq!(
        probe.alive(),
        0,
        "every task was dropped before the error was returned"
    );
    assert!(matches!(
        error,
        FanOutError::TaskFailed { task: "fails", .. }
    ));
    assert!(error.is_task_failure() && !error.is_timeout());
    // The task's own error survives the boxing, through `source()` and downcasting.
    assert_eq!(error.downcast_ref::<Boom>(), Some(&Boom(2)));
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(source.downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!(error.to_string(), "critical task `fails` failed: boom 2");
}

async fn b_critical_timeout_fails_at_its_timeout<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run2(
        Task::critical("wallet", probe.task(500, Act::Ok, 1)).timeout(ms(40)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)),
        Config::default(),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(elapsed_ms(start), 40);
    assert_eq!(probe.alive(), 0);
    assert!(
        matches!(error, FanOutError::TaskTimedOut { task: "wallet", timeout, .. } if timeout == ms(40))
    );
    assert!(error.is_timeout());
}

async fn b_critical_panic_fails_with_its_message<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run2(
        Task::critical("wallet", probe.task(15, Act::Panic, 7)),
        Task::critical("other", probe.task(0, Act::Hang, 2)),
        Config::default(),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(elapsed_ms(start), 15);
    assert_eq!(probe.alive(), 0);
    match error {
        FanOutError::TaskPanicked { task, message, .. } => {
            assert_eq!(task, "wallet");
            assert_eq!(message, "task 7 panicked");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
}

// c. A best-effort failure never fails the run; its slot holds the `TaskError`.
async fn c_best_effort_failure_degrades_its_slot<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run3(
        Task::critical("balance", probe.task(20, Act::Ok, 1)),
        Task::best_effort("card", probe.task(5, Act::Err, 2)),
        Task::best_effort("promo", probe.task(10, Act::Ok, 3)),
        Config::default(),
    )
    .await;
    let (balance, card, promo) = result.unwrap();
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::Failed(Boom(2)))));
    assert_eq!(promo.ok(), Some(3));
    assert_eq!(elapsed_ms(start), 20);
    assert_eq!(probe.alive(), 0);
}

// d. A timeout drops the task's future then and there.
async fn d_timeout_drops_the_future_when_it_elapses<E: Engine>() {
    let probe = Probe::new();
    let hanging = Probe::new();
    let checker = hanging.clone();
    let start = Instant::now();
    let (result, _) = E::run2(
        Task::best_effort("card", hanging.task(0, Act::Hang, 1)).timeout(ms(50)),
        Task::critical("balance", async move {
            tokio::time::sleep(ms(80)).await;
            // Well before the run ends, the timed-out future is already gone.
            Ok(checker.alive() as u32)
        }),
        Config::default(),
    )
    .await;
    let (card, alive_at_80ms) = result.unwrap();
    assert!(matches!(card, Err(TaskError::TimedOut(d)) if d == ms(50)));
    assert_eq!(alive_at_80ms, 0);
    assert_eq!(elapsed_ms(start), 80);
    assert_eq!(probe.alive(), 0);
}

// e. The overall deadline.
async fn e_deadline_cuts_best_effort_and_returns_ok<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, records) = E::run3(
        Task::critical("balance", probe.task(30, Act::Ok, 1)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)),
        Task::best_effort("promo", probe.task(500, Act::Ok, 3)).timeout(ms(400)),
        Config::deadline(100),
    )
    .await;
    let (balance, card, promo) = result.unwrap();
    assert_eq!(elapsed_ms(start), 100);
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
    // Its own timeout (400 ms) is later than the deadline: the deadline is what cut it.
    assert!(matches!(promo, Err(TaskError::DeadlineExceeded)));
    assert_eq!(probe.alive(), 0);
    assert_eq!(records[1].outcome, Outcome::DeadlineExceeded);
}

async fn e_deadline_with_critical_pending_fails_naming_them<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run3(
        Task::critical("wallet", probe.task(0, Act::Hang, 1)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)),
        Task::critical("ledger", probe.task(500, Act::Ok, 3)).timeout(ms(300)),
        Config::deadline(100),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(elapsed_ms(start), 100);
    assert_eq!(probe.alive(), 0);
    match &error {
        FanOutError::DeadlineExceeded { pending, elapsed } => {
            assert_eq!(pending, &["wallet", "ledger"]);
            assert_eq!(*elapsed, ms(100));
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    assert!(error.is_timeout());
    assert_eq!(error.task(), Some("wallet"));
}

async fn e_own_timeout_before_the_deadline_is_a_timeout<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run2(
        Task::critical("balance", probe.task(90, Act::Ok, 1)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)).timeout(ms(60)),
        Config::deadline(100),
    )
    .await;
    let (balance, card) = result.unwrap();
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::TimedOut(d)) if d == ms(60)));
    assert_eq!(elapsed_ms(start), 90);
}

async fn e_work_finishing_at_the_deadline_counts_as_done<E: Engine>() {
    let probe = Probe::new();
    let start = Instant::now();
    let (result, _) = E::run2(
        Task::critical("balance", probe.task(100, Act::Ok, 1)),
        Task::best_effort("card", probe.task(100, Act::Ok, 2)).timeout(ms(100)),
        Config::deadline(100),
    )
    .await;
    let (balance, card) = result.unwrap();
    assert_eq!((balance, card.unwrap()), (1, 2));
    assert_eq!(elapsed_ms(start), 100);
}

// f. Inside a task, the deadline can be read and passed on; a nested run inherits it.
async fn f_task_sees_the_tighter_of_its_timeout_and_the_deadline<E: Engine>() {
    let start = Instant::now();
    let probe_remaining = || async {
        Ok::<u32, Boom>(runner_core::remaining().map_or(u32::MAX, |left| left.as_millis() as u32))
    };
    let (result, _) = E::run3(
        Task::critical("own_timeout_wins", probe_remaining()).timeout(ms(50)),
        Task::critical("deadline_wins", probe_remaining()).timeout(ms(500)),
        Task::best_effort("no_timeout", async {
            tokio::time::sleep(ms(30)).await;
            let deadline = runner_core::deadline().unwrap();
            Ok((deadline - Instant::now()).as_millis() as u32)
        }),
        Config::deadline(200),
    )
    .await;
    let (own, deadline, late) = result.unwrap();
    assert_eq!((own, deadline, late.unwrap()), (50, 200, 170));
    assert_eq!(elapsed_ms(start), 30);
    // Outside any task there is no deadline.
    assert_eq!(runner_core::deadline(), None);
}

async fn f_nested_fan_out_inherits_the_tighter_deadline<E: Engine>() {
    let probe = Probe::new();
    let inner_probe = probe.clone();
    let start = Instant::now();
    let (result, _) = E::run1(
        Task::critical("outer", async move {
            // The inner run asks for 1 s but runs under the outer 100 ms.
            let (value, card) = runner_core::FanOut::new((
                Task::critical("inner_value", inner_probe.task(20, Act::Ok, 5)),
                Task::best_effort("inner_card", inner_probe.task(0, Act::Hang, 6)),
            ))
            .deadline(Duration::from_secs(1))
            .await
            .map_err(|_| Boom(0))?;
            assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
            Ok(value)
        }),
        Config::deadline(100),
    )
    .await;
    assert_eq!(result.unwrap().0, 5);
    assert_eq!(elapsed_ms(start), 100);
    assert_eq!(probe.alive(), 0);
}

// g. A panic is caught at the task boundary.
async fn g_best_effort_panic_becomes_its_slot<E: Engine>() {
    let probe = Probe::new();
    let (result, records) = E::run2(
        Task::critical("balance", probe.task(10, Act::Ok, 1)),
        Task::best_effort("card", probe.task(5, Act::Panic, 2)),
        Config::default(),
    )
    .await;
    let (balance, card) = result.unwrap();
    assert_eq!(balance, 1);
    assert!(matches!(card, Err(TaskError::Panicked(ref message)) if message == "task 2 panicked"));
    assert_eq!(records[1].outcome, Outcome::Panicked);
    assert_eq!(probe.alive(), 0);
}

// h. Cancellation from outside.
async fn h_cancellation_token_ends_the_run<E: Engine>() {
    let probe = Probe::new();
    let token = runner_core::CancellationToken::new();
    let start = Instant::now();
    let run = E::run2(
        Task::critical("balance", probe.task(0, Act::Hang, 1)),
        Task::best_effort("card", probe.task(10, Act::Ok, 2)),
        Config::cancel(&token),
    );
    let cancel = async {
        tokio::time::sleep(ms(25)).await;
        token.cancel();
    };
    let ((result, records), ()) = tokio::join!(run, cancel);
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(elapsed_ms(start), 25);
    assert_eq!(probe.alive(), 0);
    assert_eq!(records[0].outcome, Outcome::Cancelled);
    assert_eq!(records[0].elapsed, ms(25));
    assert_eq!(records[1].outcome, Outcome::Ok);
}

async fn h_dropping_the_run_drops_every_task<E: Engine>() {
    let probe = Probe::new();
    let run = E::run2(
        Task::critical("balance", probe.task(0, Act::Hang, 1)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)),
        Config::deadline(1_000),
    );
    let outcome = tokio::time::timeout(ms(30), run).await;
    assert!(outcome.is_err(), "the run cannot finish before its tasks");
    assert_eq!(probe.started(), 2);
    assert_eq!(probe.alive(), 0);
}

// i. The report: per task, name, criticality, outcome and elapsed time.
async fn i_report_records_every_task<E: Engine>() {
    let probe = Probe::new();
    let (result, records) = E::run3(
        Task::critical("balance", probe.task(40, Act::Ok, 1)),
        Task::best_effort("card", probe.task(10, Act::Err, 2)),
        Task::best_effort("promo", probe.task(0, Act::Hang, 3)).timeout(ms(25)),
        Config::deadline(100),
    )
    .await;
    assert!(result.is_ok());
    let expected = [
        TaskRecord {
            label: None,
            name: "balance",
            critical: true,
            outcome: Outcome::Ok,
            elapsed: ms(40),
        },
        TaskRecord {
            label: None,
            name: "card",
            critical: false,
            outcome: Outcome::Failed,
            elapsed: ms(10),
        },
        TaskRecord {
            label: None,
            name: "promo",
            critical: false,
            outcome: Outcome::TimedOut,
            elapsed: ms(25),
        },
    ];
    assert_eq!(records, expected);
}

async fn i_report_survives_a_failed_run<E: Engine>() {
    let probe = Probe::new();
    let (result, records) = E::run2(
        Task::critical("wallet", probe.task(10, Act::Err, 1)),
        Task::best_effort("card", probe.task(0, Act::Hang, 2)),
        Config::default(),
    )
    .await;
    assert!(result.is_err());
    let outcomes: Vec<_> = records
        .iter()
        .map(|r| (r.name, r.outcome, r.elapsed))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("wallet", Outcome::Failed, ms(10)),
            ("card", Outcome::Cancelled, ms(10))
        ]
    );
}

on_every_engine!(
    a_tasks_start_together_and_slots_keep_their_order,
    b_critical_error_fails_at_once_and_drops_the_rest,
    b_critical_timeout_fails_at_its_timeout,
    b_critical_panic_fails_with_its_message,
    c_best_effort_failure_degrades_its_slot,
    d_timeout_drops_the_future_when_it_elapses,
    e_deadline_cuts_best_effort_and_returns_ok,
    e_deadline_with_critical_pending_fails_naming_them,
    e_own_timeout_before_the_deadline_is_a_timeout,
    e_work_finishing_at_the_deadline_counts_as_done,
    f_task_sees_the_tighter_of_its_timeout_and_the_deadline,
    f_nested_fan_out_inherits_the_tighter_deadline,
    g_best_effort_panic_becomes_its_slot,
    h_cancellation_token_ends_the_run,
    h_dropping_the_run_drops_every_task,
    i_report_records_every_task,
    i_report_survives_a_failed_run,
);
