//! The process's observer: each run's end with each task's outcome, from every engine, and
//! the events of every policy without an observer of its own. A test binary of its own,
//! since the observer is set once per process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runner_core::{
    CancellationToken, EventKind, FanOutError, Observer, Outcome, Policy, PolicyEvent, RunFinished,
    Task, TaskRunner, fan_out, set_observer,
};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

/// A run as its (task, outcome) pairs, and whether it failed.
type Run = (Vec<(&'static str, Outcome)>, bool);

/// Each run; each policy event's kind.
#[derive(Default)]
struct Seen {
    runs: Mutex<Vec<Run>>,
    events: Mutex<Vec<EventKind>>,
}

impl Observer for Seen {
    fn on_policy(&self, event: &PolicyEvent<'_>) {
        self.events.lock().unwrap().push(event.kind);
    }

    fn on_run(&self, run: &RunFinished<'_>) {
        let tasks = run
            .tasks
            .iter()
            .map(|task| (task.name, task.outcome))
            .collect();
        self.runs.lock().unwrap().push((tasks, run.error.is_some()));
    }
}

#[tokio::test(start_paused = true)]
async fn the_process_observer_sees_every_run_and_unobserved_policies() {
    let seen = Arc::new(Seen::default());
    assert!(set_observer(seen.clone()).is_ok());
    assert!(set_observer(seen.clone()).is_err(), "set once");
    let take = || std::mem::take(&mut *seen.runs.lock().unwrap());

    let ok = || Task::critical("balance", async { Ok::<_, Unavailable>(1) });
    let down = || Task::best_effort("card", async { Err::<u32, _>(Unavailable) });
    let _ = fan_out!(ok(), down()).await.unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![("balance", Outcome::Ok), ("card", Outcome::Failed)],
            false
        )]
    );

    let failing = || Task::critical("balance", async { Err::<u32, _>(Unavailable) });
    let slow = Task::best_effort("card", async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Unavailable>(1)
    });
    let error = fan_out!(failing(), slow).await.unwrap_err();
    assert!(matches!(error, FanOutError::TaskFailed { .. }));
    assert_eq!(
        take(),
        vec![(
            vec![("balance", Outcome::Failed), ("card", Outcome::Cancelled)],
            true
        )]
    );

    let mut runner = TaskRunner::new();
    let _balance = runner.add(ok());
    let _card = runner.add(down());
    let _ = runner.run_all().await.unwrap();
    assert_eq!(
        take(),
        vec![(
            vec![("balance", Outcome::Ok), ("card", Outcome::Failed)],
            false
        )]
    );

    // A run handing out each task as it ends is seen once: when it fails, or, here, when it
    // is dropped, its task still running cancelled.
    let mut run = TaskRunner::new().start();
    let _ = run.add(ok());
    let _ = run.add(Task::best_effort(
        "card",
        std::future::pending::<Result<u32, Unavailable>>(),
    ));
    assert_eq!(run.join_next().await.unwrap().unwrap().index(), 0);
    assert_eq!(take(), vec![], "not before it ends");
    drop(run);
    assert_eq!(
        take(),
        vec![(
            vec![("balance", Outcome::Ok), ("card", Outcome::Cancelled)],
            false
        )]
    );
    let mut run = TaskRunner::new().start();
    let _ = run.add(failing());
    assert!(run.join_next().await.unwrap().is_err());
    assert!(run.join_next().await.is_none());
    drop(run);
    assert_eq!(take(), vec![(vec![("balance", Outcome::Failed)], true)]);

    // A cancel made after every task ended (the handler is done) fails nothing.
    let token = CancellationToken::new();
    let mut run = TaskRunner::new().cancel_on(token.child_token()).start();
    let _ = run.add(ok());
    assert!(run.join_next().await.unwrap().is_ok());
    assert!(run.join_next().await.is_none());
    token.cancel();
    drop(run);
    assert_eq!(take(), vec![(vec![("balance", Outcome::Ok)], false)]);

    // A policy with no observer of its own reports to the process's.
    let policy = Policy::builder().build().unwrap();
    policy.force_open();
    let refused = policy.best_effort("card", || async { Ok::<u32, Unavailable>(1) });
    assert!(refused.await.is_err());
    assert!(
        seen.events
            .lock()
            .unwrap()
            .iter()
            .any(|kind| matches!(kind, EventKind::Rejected { .. }))
    );
}
