//! A property test of the circuit breaker against a small reference model, on tokio's paused
//! clock: random sequences of calls (succeeding, failing with an error the breaker counts or
//! one it ignores, taking a random time) and pauses, through a fresh breaker per case. After
//! every step the call's outcome and the breaker's state must be the model's. Once with a
//! count alone, once with a rate too.
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
        // Attempts settled since the first failure counted, that one included.
        calls: u32,
        since: Option<Instant>,
    },
    Open {
        until: Instant,
    },
}

const CLOSED: Model = Model::Closed {
    failures: 0,
    calls: 0,
    since: None,
};

impl Model {
    /// Runs a call that starts at `start` and ends `latency` later.
    fn call(
        &mut self,
        rate: Option<f32>,
        start: Instant,
        result: Result<(), Error>,
        latency: Duration,
    ) -> Expected {
        let probe = match *self {
            Model::Open { until } if start < until => return Expected::Refused,
            Model::Open { .. } => true,
            Model::Closed { .. } => false,
        };
        let end = start + latency;
        match (result, probe, &mut *self) {
            (Ok(()), true, _) => *self = CLOSED,
            (Err(Error::Counted), true, _) => {
                *self = Model::Open {
                    until: end + COOLDOWN,
                }
            }
            // Ignored by the breaker: a probe gives its place back, the breaker stays half-open.
            (Err(Error::Ignored), ..) | (_, _, Model::Open { .. }) => {}
            (Ok(()), false, Model::Closed { calls, since, .. }) => {
                // A success counts towards the rate within a window a failure began.
                if since.is_some_and(|first| end - first < WINDOW) {
                    *calls += 1;
                }
            }
            (
                Err(Error::Counted),
                false,
                Model::Closed {
                    failures,
                    calls,
                    since,
                },
            ) => {
                match since {
                    Some(first) if end - *first < WINDOW => {
                        (*failures, *calls) = (*failures + 1, *calls + 1)
                    }
                    _ => (*failures, *calls, *since) = (1, 1, Some(end)),
                }
                // The share, as written: 0.6 is 3 in 5.
                let share = f64::from(*failures) / f64::from(*calls);
                let rate = rate.map(|rate| (f64::from(rate) * 1000.0).round() / 1000.0);
                if *failures >= FAILURES && rate.is_none_or(|rate| share >= rate - 1e-9) {
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

fn run_case(rate: Option<f32>, steps: &[Step]) -> Result<(), TestCaseError> {
    let breaker = Breaker::new(FAILURES, WINDOW, COOLDOWN);
    let breaker = match rate {
        Some(rate) => breaker.rate(rate),
        None => breaker,
    };
    // A breaker of its own per case.
    let policy = &Policy::builder().breaker(breaker).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut model = CLOSED;
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Pause(ms) => sleep(Duration::from_millis(ms)).await,
                Step::Call { result, latency } => {
                    let latency = Duration::from_millis(latency);
                    let expected = model.call(rate, Instant::now(), result, latency);
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

fn check(rate: Option<f32>) {
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
            run_case(rate, &steps)
        })
        .unwrap();
}

#[test]
fn the_breaker_follows_its_model() {
    check(None);
}

#[test]
fn the_breaker_with_a_rate_follows_its_model() {
    check(Some(0.6));
}
