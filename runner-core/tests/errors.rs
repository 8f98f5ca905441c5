//! The error types: messages, classification, sources.

mod support;

use std::error::Error;

use runner_core::{FanOutError, Outcome, TaskError};
use support::{Boom, ms};

#[test]
fn fan_out_errors_say_what_failed_and_classify() {
    let failed = FanOutError::TaskFailed {
        task: "wallet",
        source: Box::new(Boom(1)),
    };
    let timed_out = FanOutError::TaskTimedOut {
        task: "wallet",
        timeout: ms(200),
    };
    let panicked = FanOutError::TaskPanicked {
        task: "wallet",
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
            "critical task `wallet` failed",
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
            "deadline passed after 300ms with critical tasks pending: wallet, ledger",
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
