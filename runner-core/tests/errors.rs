//! The error types: messages, classification, sources.

mod support;

use std::error::Error;

use runner_core::{FanOutError, Outcome, TaskError};
use support::{Boom, ms};

#[test]
fn fan_out_errors_say_what_failed_and_classify() {
    let failed = FanOutError::TaskFailed {
        task: "wallet",
        label: None,
        source: Box::new(Boom(1)),
    };
    let timed_out = FanOutError::TaskTimedOut {
        task: "wallet",
        label: None,
        timeout: ms(200),
    };
    let panicked = FanOutError::TaskPanicked {
        task: "wallet",
        label: None,
        message: "oops".into(),
    };
    let deadline = FanOutError::DeadlineExceeded {
        pending: vec!["wallet", "ledger"],
        elapsed: ms(300),
    };
    let cancelled = FanOutError::Cancelled;

    let rows: [(&FanOutError, &str, &str, bool, bool); 5] = [
        (
            &failed,
            "critical task `wallet` failed: boom 1",
            "failed",
            false,
            true,
        ),
        (
            &timed_out,
            "critical task `wallet` timed out after 200ms",
            "timed_out",
            true,
            false,
        ),
        (
            &panicked,
            "critical task `wallet` panicked: oops",
            "panicked",
            false,
            true,
        ),
        (
            &deadline,
            "deadline passed after 300ms with 2 critical tasks pending: wallet, ledger",
            "deadline",
            true,
            false,
        ),
        (&cancelled, "fan-out cancelled", "cancelled", false, false),
    ];
    for (error, message, kind, is_timeout, is_task_failure) in rows {
        assert_eq!(error.to_string(), message);
        assert_eq!(error.kind(), kind);
        assert_eq!(error.is_timeout(), is_timeout, "{message}");
        assert_eq!(error.is_task_failure(), is_task_failure, "{message}");
    }
    assert!(cancelled.is_cancelled());
    assert_eq!(failed.source().unwrap().to_string(), "boom 1");
    assert_eq!(deadline.task(), Some("wallet"));
    assert_eq!(cancelled.task(), None);
    assert_eq!(timed_out.downcast_ref::<Boom>(), None);
}

/// The one-line message carries the failed task's own error; `source()` still gives it, typed.
#[test]
fn a_task_failure_says_why_on_one_line() {
    let failed = FanOutError::TaskFailed {
        task: "balance",
        label: None,
        source: Box::new(Boom(503)),
    };
    assert_eq!(
        failed.to_string(),
        "critical task `balance` failed: boom 503"
    );
    let source = failed.source().expect("the task's error is the source");
    assert_eq!(source.downcast_ref::<Boom>(), Some(&Boom(503)));
    assert_eq!(failed.downcast_ref::<Boom>(), Some(&Boom(503)));
}

/// A deadline that cuts hundreds of critical tasks says how many, and which, in a bounded
/// message; the whole list is still there as data.
#[test]
fn a_deadline_over_many_tasks_has_a_bounded_message() {
    let one_fn = FanOutError::DeadlineExceeded {
        pending: vec!["profile"; 500],
        elapsed: ms(300),
    };
    assert_eq!(
        one_fn.to_string(),
        "deadline passed after 300ms with 500 critical tasks pending: profile ×500"
    );

    let mut pending = vec!["wallet", "ledger", "wallet"];
    let names: Vec<&'static str> = (0..400)
        .map(|n| &*Box::leak(format!("shard_{n}").into_boxed_str()))
        .collect();
    pending.extend(&names);
    let many = FanOutError::DeadlineExceeded {
        pending,
        elapsed: ms(300),
    };
    assert_eq!(
        many.to_string(),
        "deadline passed after 300ms with 403 critical tasks pending: \
         wallet ×2, ledger, shard_0, shard_1, shard_2, and 397 more"
    );
    match &many {
        FanOutError::DeadlineExceeded { pending, .. } => assert_eq!(pending.len(), 403),
        _ => unreachable!(),
    }

    let single = FanOutError::DeadlineExceeded {
        pending: vec!["wallet"],
        elapsed: ms(300),
    };
    assert_eq!(
        single.to_string(),
        "deadline passed after 300ms with 1 critical task pending: wallet"
    );
}

#[test]
fn task_errors_forward_the_task_error_and_classify() {
    let failed: TaskError<Boom> = TaskError::Failed(Boom(2));
    assert_eq!(failed.to_string(), "boom 2");
    assert_eq!(failed.kind(), "failed");
    assert!(!failed.is_timeout());
    assert_eq!(
        TaskError::<Boom>::TimedOut(ms(150)).to_string(),
        "timed out after 150ms"
    );
    assert!(TaskError::<Boom>::DeadlineExceeded.is_timeout());
    assert_eq!(
        TaskError::<Boom>::DeadlineExceeded.to_string(),
        "cut by the fan-out deadline"
    );
    assert_eq!(
        TaskError::<Boom>::Panicked("x".into()).to_string(),
        "panicked: x"
    );
    assert_eq!(failed.into_inner(), Some(Boom(2)));
    assert_eq!(Outcome::DeadlineExceeded.to_string(), "deadline");
}
