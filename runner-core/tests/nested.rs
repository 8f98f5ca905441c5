//! Fan-outs inside tasks, on every engine outside and every kind of run inside (a static
//! fan-out, a dynamic runner, a task awaited on its own): when time runs out on a deadline
//! the inner run inherited, the outer run says that time ran out on its own task.

mod support;

use std::future::{Future, pending};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{FanOut, FanOutError, Outcome, Task, TaskError, TaskRunner};
use support::{Act, Boom, Config, Engine, Probe, ms};

/// The kinds of run a task can start inside itself.
#[derive(Debug, Clone, Copy)]
enum Inner {
    Static,
    Dynamic,
    Standalone,
}

const INNERS: [Inner; 3] = [Inner::Static, Inner::Dynamic, Inner::Standalone];

/// How the inner run failed, and after how long it says it ran.
type Seen = Arc<Mutex<Option<(String, Duration)>>>;

/// A task that runs `inner` with no deadline of its own, around a critical task that hangs,
/// and fails with an error of its own when the inner run fails, as application code does.
fn fans_out_again(inner: Inner, seen: &Seen) -> impl Future<Output = Result<u32, Boom>> + use<> {
    let seen = seen.clone();
    async move {
        let hangs = || Task::critical("inner", pending::<Result<u32, Boom>>());
        let (kind, elapsed) = match inner {
            Inner::Static => match FanOut::new((hangs(),)).await {
                Ok(_) => return Ok(1),
                Err(error) => (error.kind(), elapsed_of(&error)),
            },
            Inner::Dynamic => {
                let mut runner = TaskRunner::new();
                let _hangs = runner.add(hangs());
                match runner.run_all().await {
                    Ok(_) => return Ok(1),
                    Err(error) => (error.kind(), elapsed_of(&error)),
                }
            }
            Inner::Standalone => match hangs().await {
                Ok(_) => return Ok(1),
                Err(error) => (error.kind(), Duration::MAX),
            },
        };
        *seen.lock().unwrap() = Some((kind.to_owned(), elapsed));
        Err(Boom(9))
    }
}

fn elapsed_of(error: &FanOutError) -> Duration {
    match error {
        FanOutError::DeadlineExceeded { elapsed, .. } => *elapsed,
        _ => Duration::ZERO,
    }
}

/// The inner run fails on the outer deadline: the outer run fails on its deadline too,
/// naming its critical tasks still pending, and the inner error says how long it ran.
async fn an_inherited_deadline_is_the_outer_runs_deadline<E: Engine>() {
    for inner in INNERS {
        let probe = Probe::new();
        let seen = Seen::default();
        let (result, records) = E::run3(
            Task::critical("outer", fans_out_again(inner, &seen)),
            Task::best_effort("done", probe.task(10, Act::Ok, 2)),
            Task::critical("sibling", probe.task(0, Act::Hang, 3)),
            Config::deadline(100),
        )
        .await;
        let error = result.unwrap_err();
        assert!(
            matches!(
                &error,
                FanOutError::DeadlineExceeded { pending, elapsed }
                    if pending == &["outer", "sibling"] && *elapsed == ms(100)
            ),
            "{inner:?}: {error:?}"
        );
        assert!(error.is_timeout(), "{inner:?}");
        assert_eq!(records[0].outcome, Outcome::DeadlineExceeded, "{inner:?}");
        let (kind, elapsed) = seen.lock().unwrap().clone().expect("the inner run failed");
        match inner {
            Inner::Standalone => assert_eq!(kind, "deadline", "{inner:?}"),
            _ => assert_eq!((kind.as_str(), elapsed), ("deadline", ms(100)), "{inner:?}"),
        }
        assert_eq!(probe.alive(), 0);
    }
}

/// A best-effort task cut that way is cut by the deadline, in its slot and its record.
async fn a_best_effort_task_cut_inside_says_deadline<E: Engine>() {
    for inner in INNERS {
        let seen = Seen::default();
        let (result, records) = E::run2(
            Task::best_effort("outer", fans_out_again(inner, &seen)),
            Task::critical("balance", async { Ok(1) }),
            Config::deadline(100),
        )
        .await;
        let (outer, balance) = result.unwrap();
        assert_eq!(balance, 1);
        assert!(
            matches!(outer, Err(TaskError::DeadlineExceeded)),
            "{inner:?}: {outer:?}"
        );
        assert_eq!(records[0].outcome, Outcome::DeadlineExceeded, "{inner:?}");
        assert_eq!(records[0].elapsed, ms(100), "{inner:?}");
    }
}

/// When the deadline inherited inside is the outer task's own timeout, the outer task
/// timed out.
async fn an_inherited_timeout_is_the_outer_tasks_timeout<E: Engine>() {
    for inner in INNERS {
        let seen = Seen::default();
        let (result, _) = E::run1(
            Task::critical("outer", fans_out_again(inner, &seen)).timeout(ms(40)),
            Config::deadline(100),
        )
        .await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, FanOutError::TaskTimedOut { task: "outer", timeout, .. } if timeout == ms(40)),
            "{inner:?}: {error:?}"
        );

        let (result, _) = E::run1(
            Task::best_effort("outer", fans_out_again(inner, &seen)).timeout(ms(40)),
            Config::default(),
        )
        .await;
        let (outer,) = result.unwrap();
        assert!(
            matches!(outer, Err(TaskError::TimedOut(timeout)) if timeout == ms(40)),
            "{inner:?}: {outer:?}"
        );
    }
}

/// An inner deadline of its own, tighter than the one inherited, is the task's own
/// business: its failure is the task's error.
async fn a_tighter_inner_deadline_is_a_failure_of_the_task<E: Engine>() {
    let (result, _) = E::run1(
        Task::critical("outer", async {
            let inner = FanOut::new((Task::critical("inner", pending::<Result<u32, Boom>>()),))
                .deadline(ms(30))
                .await;
            inner.map(|(value,)| value).map_err(|_| Boom(7))
        }),
        Config::deadline(100),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, FanOutError::TaskFailed { task: "outer", .. }),
        "{error:?}"
    );
    assert_eq!(error.downcast_ref::<Boom>(), Some(&Boom(7)));
}

on_every_engine!(
    an_inherited_deadline_is_the_outer_runs_deadline,
    a_best_effort_task_cut_inside_says_deadline,
    an_inherited_timeout_is_the_outer_tasks_timeout,
    a_tighter_inner_deadline_is_a_failure_of_the_task,
);

/// A fallback around a run that ran out of the time it inherited is told that time ran
/// out, as the slot would say without it, not the error the run's failure became.
#[tokio::test(start_paused = true)]
async fn a_fallback_around_a_run_that_expired_is_told_time_ran_out() {
    fn told(error: &TaskError<Boom>) -> u32 {
        match error {
            TaskError::TimedOut(timeout) => timeout.as_millis() as u32,
            TaskError::DeadlineExceeded => 1,
            _ => 0,
        }
    }
    #[runner_core::task(best_effort, timeout = "40ms", fallback = told)]
    async fn fans_out_inside() -> Result<u32, Boom> {
        let seen = Seen::default();
        fans_out_again(Inner::Static, &seen).await
    }
    let (slot,) = runner_core::fan_out!(deadline = "100ms"; fans_out_inside())
        .await
        .unwrap();
    assert_eq!(slot.unwrap(), 40, "told TimedOut(40ms)");
    let (slot,) = runner_core::fan_out!(deadline = "30ms"; fans_out_inside())
        .await
        .unwrap();
    assert_eq!(slot.unwrap(), 1, "told DeadlineExceeded");
}
