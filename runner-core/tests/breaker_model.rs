//! A property test of the circuit breaker against a small reference model, on tokio's paused
//! clock: random sequences of calls (succeeding, failing with an error the breaker counts or
//! one it ignores, taking a random time) and pauses, through a fresh breaker per case. After
//! every step the call's outcome and the breaker's state must be the model's.
//!
//! `PROPTEST_CASES` sets the number of cases (default 2,000).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use runner_core::{Breaker, BreakerState, Options, Policy, Rejection, TaskError};
use tokio::time::{Instant, sleep};

const FAILURES: u32 = 3;
const WINDOW: Duration = Duration::from_millis(1_000);
const COOLDOWN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum Error {
    #[error("counted")]
    Counted,
    #[error("ignored")]
    Ignored,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Pause(u64),
    Call {
        result: Result<(), Error>,
        latency: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..1_500_u64).prop_map(Step::Pause),
        (
            prop_oneof![
                Just(Ok(())),
                Just(Err(Error::Counted)),
                Just(Err(Error::Ignored))
            ],
            0..300_u64
        )
            .prop_map(|(result, latency)| Step::Call { result, latency }),
    ]
}

/// What the model expects of a call.
#[derive(Debug, PartialEq)]
enum Expected {
    Ran(Result<(), Error>),
    Refused,
}

#[derive(Debug)]
enum Model {
    Closed {
        failures: u32,
        since: Option<Instant>,
    },
    Open {
        until: Instant,
    },
}

impl Model {
    /// Runs a call that starts at `start` and ends `latency` later.
    fn call(&mut self, start: Instant, result: Result<(), Error>, latency: Duration) -> Expected {
        let probe = match *self {
            Model::Open { until } if start < until => return Expected::Refused,
            Model::Open { .. } => true,
            Model::Closed { .. } => false,
        };
        let end = start + latency;
        match (result, probe) {
            (Ok(()), true) => {
                *self = Model::Closed {
                    failures: 0,
                    since: None,
                }
            }
            (Err(Error::Counted), true) => {
                *self = Model::Open {
                    until: end + COOLDOWN,
                }
            }
            // Ignored by the breaker: a probe gives its place back, the breaker stays half-open.
            (Err(Error::Ignored), true) | (Ok(()), false) | (Err(Error::Ignored), false) => {}
            (Err(Error::Counted), false) => {
                let Model::Closed { failures, since } = self else {
                    unreachable!()
                };
                match since {
                    Some(first) if end - *first < WINDOW => *failures += 1,
                    _ => (*failures, *since) = (1, Some(end)),
                }
                if *failures >= FAILURES {
                    *self = Model::Open {
                        until: end + COOLDOWN,
                    };
                }
            }
        }
        Expected::Ran(result)
    }

    fn state(&self, now: Instant) -> BreakerState {
        match *self {
            Model::Closed { .. } => BreakerState::Closed,
            Model::Open { until } if now < until => BreakerState::Open,
            Model::Open { .. } => BreakerState::HalfOpen,
        }
    }
}

fn counts(error: &Error) -> bool {
    *error == Error::Counted
}

fn run_case(steps: &[Step]) -> Result<(), TestCaseError> {
    // A breaker of its own per case: a policy lives in a `static` in real code.
    let policy: &'static Policy = Box::leak(Box::new(
        Policy::builder()
            .breaker(Breaker::new(FAILURES, WINDOW, COOLDOWN))
            .build(),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut model = Model::Closed {
            failures: 0,
            since: None,
        };
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Pause(ms) => sleep(Duration::from_millis(ms)).await,
                Step::Call { result, latency } => {
                    let latency = Duration::from_millis(latency);
                    let expected = model.call(Instant::now(), result, latency);
                    let task = policy.task::<runner_core::BestEffort, _, _, _, _, _>(
                        "call",
                        move || async move {
                            sleep(latency).await;
                            result
                        },
                        Options::new().breaker_if(counts),
                    );
                    let actual = match task.await {
                        Ok(()) => Expected::Ran(Ok(())),
                        Err(TaskError::Failed(error)) => Expected::Ran(Err(error)),
                        Err(TaskError::Rejected(Rejection::BreakerOpen)) => Expected::Refused,
                        Err(other) => panic!("step {i}: unexpected {other:?}"),
                    };
                    prop_assert_eq!(actual, expected, "step {}", i);
                }
            }
            prop_assert_eq!(
                policy.breaker_state(),
                Some(model.state(Instant::now())),
                "after step {}: {:?}",
                i,
                model
            );
        }
        Ok(())
    })
}

#[test]
fn the_breaker_follows_its_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(step(), 1..40), |steps| {
            run_case(&steps)
        })
        .unwrap();
}
