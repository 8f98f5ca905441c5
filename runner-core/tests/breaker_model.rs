//! A property test of the circuit breaker against a reference model of resilience4j's
//! documented state machine, on tokio's paused clock: random sequences of calls (succeeding,
//! failing with an error the breaker counts, one that names its own break, or one it
//! ignores, each taking a random time) and pauses, through a fresh breaker per case. After
//! every step the call's outcome and the breaker's state must be the model's.
//!
//! The model is resilience4j's, written plainly from its documentation:
//!
//! - closed, every call's outcome is recorded in a sliding window: the last N calls
//!   (`COUNT_BASED`), or the calls of the last stretch of time (`TIME_BASED`, aggregated in
//!   buckets; ours are ten, each a tenth of the window, counted from the policy's start);
//! - the rates are judged only once the window holds `minimumNumberOfCalls` (a count window
//!   smaller than that: once it is full); the breaker opens when the failure rate or the
//!   slow-call rate reaches its threshold (a call is slow when it took longer than the slow
//!   duration), and when the failures also reach a count, if one is given (our first form);
//! - open, every call is refused until the wait in open state has passed; the wait grows by
//!   a factor with each opening in a row, up to a cap (resilience4j's
//!   `IntervalBiFunction.ofExponentialBackoff`), or comes from the error that opened it;
//! - half-open, `permittedNumberOfCallsInHalfOpenState` calls are let through, the rest
//!   refused; once they have all finished it closes (with an empty window) if enough of
//!   them succeeded and were not slow, and opens again otherwise;
//! - an error the predicate ignores is not recorded, and a trial call ignored frees its
//!   place.
//!
//! `PROPTEST_CASES` sets the number of cases per configuration (default 2,000).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use runner_core::{Breaker, BreakerState, Options, Policy, Rejection, TaskError};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum Error {
    #[error("counted")]
    Counted,
    #[error("busy, retry after {0} ms")]
    Busy(u64),
    #[error("ignored")]
    Ignored,
}

fn counts(error: &Error) -> bool {
    *error != Error::Ignored
}

fn retry_after(error: &Error) -> Option<Duration> {
    match *error {
        Error::Busy(ms) => Some(Duration::from_millis(ms)),
        _ => None,
    }
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
                3 => Just(Ok(())),
                2 => Just(Err(Error::Counted)),
                1 => (1..2_000_u64).prop_map(|ms| Err(Error::Busy(ms))),
                1 => Just(Err(Error::Ignored)),
            ],
            0..300_u64
        )
            .prop_map(|(result, latency)| Step::Call { result, latency }),
    ]
}

/// The settings, as the model reads them (the same numbers the `Breaker` is built from).
#[derive(Debug, Clone, Copy)]
struct Settings {
    window: Window,
    minimum_calls: usize,
    failures: Option<usize>,
    // Thresholds as fractions.
    failure_rate: Option<f64>,
    slow: Option<(Duration, f64)>,
    half_open_calls: usize,
    half_open_successes: f64,
    cooldown: Duration,
    growth: Option<(f64, Duration)>,
    // Whether the break may come from the error.
    from_error: bool,
}

#[derive(Debug, Clone, Copy)]
enum Window {
    Calls(usize),
    Time(Duration),
}

/// What the model expects of a call.
#[derive(Debug, PartialEq)]
enum Expected {
    Ran(Result<(), Error>),
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    at: Instant,
    failed: bool,
    slow: bool,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { finished: Vec<Record> },
}

#[derive(Debug)]
struct Model {
    settings: Settings,
    phase: Phase,
    // Every outcome recorded while closed since the last opening, oldest first.
    window: Vec<Record>,
    // When the policy was built: where the time buckets start.
    epoch: Instant,
    openings: u32,
}

impl Model {
    fn new(settings: Settings, epoch: Instant) -> Self {
        Self {
            settings,
            phase: Phase::Closed,
            window: Vec::new(),
            epoch,
            openings: 0,
        }
    }

    /// Whether a call starting at `start` is let through: `Some(true)` in a half-open trial.
    fn admit(&mut self, start: Instant) -> Option<bool> {
        match &mut self.phase {
            Phase::Open { until } if start < *until => None,
            Phase::Open { .. } => {
                self.phase = Phase::HalfOpen {
                    finished: Vec::new(),
                };
                Some(true)
            }
            // Calls are made one at a time: a trial not yet decided has a place.
            Phase::HalfOpen { .. } => Some(true),
            Phase::Closed => Some(false),
        }
    }

    /// Records a call let through at `start` that ended at `end` with `result`. The times
    /// are the clock's as the call saw them: tokio's timer rounds a sleep's end up to its
    /// millisecond, which a model working from the latencies alone would not see.
    fn finish(&mut self, trial: bool, start: Instant, end: Instant, result: Result<(), Error>) {
        let latency = end - start;
        let failed = match result {
            Ok(()) => false,
            Err(Error::Ignored) => return,
            Err(_) => true,
        };
        let slow = self.settings.slow.is_some_and(|(after, _)| latency > after);
        let record = Record {
            at: end,
            failed,
            slow,
        };
        let from_error = match result {
            Err(error) if self.settings.from_error => retry_after(&error),
            _ => None,
        };
        match (&mut self.phase, trial) {
            (Phase::HalfOpen { finished }, true) => {
                finished.push(record);
                if finished.len() == self.settings.half_open_calls {
                    let good = finished.iter().filter(|r| !r.failed && !r.slow).count();
                    let share = good as f64 / finished.len() as f64;
                    if share >= self.settings.half_open_successes - 1e-9 {
                        self.phase = Phase::Closed;
                        self.window.clear();
                        self.openings = 0;
                    } else {
                        self.open(end, from_error);
                    }
                }
            }
            (Phase::Closed, false) => {
                self.window.push(record);
                if self.trips(end) {
                    self.open(end, from_error);
                }
            }
            _ => unreachable!("a call ends in the phase it started in, calls being sequential"),
        }
    }

    /// The records still in the window at `now`.
    fn in_window(&self, now: Instant) -> Vec<Record> {
        match self.settings.window {
            Window::Calls(n) => self.window.iter().rev().take(n).copied().collect(),
            Window::Time(window) => {
                let epoch = self.epoch;
                let width = (window.as_nanos() / 10).max(1);
                let bucket = |at: Instant| (at - epoch).as_nanos() / width;
                let newest = bucket(now);
                self.window
                    .iter()
                    .filter(|record| bucket(record.at) + 10 > newest)
                    .copied()
                    .collect()
            }
        }
    }

    fn trips(&self, now: Instant) -> bool {
        let settings = self.settings;
        let records = self.in_window(now);
        let minimum = match settings.window {
            Window::Calls(n) => settings.minimum_calls.min(n),
            Window::Time(_) => settings.minimum_calls,
        };
        if records.len() < minimum {
            return false;
        }
        let calls = records.len() as f64;
        let failures = records.iter().filter(|r| r.failed).count();
        let slow = records.iter().filter(|r| r.slow).count();
        let by_failures = (settings.failures.is_some() || settings.failure_rate.is_some())
            && settings.failures.is_none_or(|n| failures >= n)
            && settings
                .failure_rate
                .is_none_or(|rate| failures as f64 / calls >= rate - 1e-9);
        let by_slow = settings
            .slow
            .is_some_and(|(_, rate)| slow as f64 / calls >= rate - 1e-9);
        by_failures || by_slow
    }

    fn open(&mut self, at: Instant, from_error: Option<Duration>) {
        let settings = self.settings;
        let grown = match settings.growth {
            Some((factor, max)) => {
                let base = settings.cooldown.as_secs_f64() * factor.powi(self.openings as i32);
                from_error
                    .unwrap_or_else(|| Duration::from_secs_f64(base))
                    .min(max)
            }
            None => from_error.unwrap_or(settings.cooldown),
        };
        self.openings += 1;
        self.window.clear();
        self.phase = Phase::Open { until: at + grown };
    }

    fn state(&self, now: Instant) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

fn run_case(breaker: Breaker, settings: Settings, steps: &[Step]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        // A breaker of its own per case, built on the paused clock it is judged by.
        let policy = &Policy::builder().breaker(breaker).build().unwrap();
        let mut model = Model::new(settings, Instant::now());
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Pause(ms) => sleep(Duration::from_millis(ms)).await,
                Step::Call { result, latency } => {
                    let latency = Duration::from_millis(latency);
                    let start = Instant::now();
                    let admitted = model.admit(start);
                    let mut options = Options::new().breaker_if(counts);
                    if settings.from_error {
                        options = options.cooldown_from(retry_after);
                    }
                    let task = policy.task::<runner_core::BestEffort, _, _, _, _, _>(
                        "call",
                        move || async move {
                            sleep(latency).await;
                            result
                        },
                        options,
                    );
                    let actual = match task.await {
                        Ok(()) => Expected::Ran(Ok(())),
                        Err(TaskError::Failed(error)) => Expected::Ran(Err(error)),
                        Err(TaskError::Rejected(Rejection::BreakerOpen)) => Expected::Refused,
                        Err(other) => panic!("step {i}: unexpected {other:?}"),
                    };
                    match admitted {
                        Some(trial) => {
                            prop_assert_eq!(actual, Expected::Ran(result), "step {}", i);
                            model.finish(trial, start, Instant::now(), result);
                        }
                        None => prop_assert_eq!(actual, Expected::Refused, "step {}", i),
                    }
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

fn check(breaker: Breaker, settings: Settings) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(step(), 1..60), |steps| {
            run_case(breaker, settings, &steps)
        })
        .unwrap();
}

const FIRST_FORM: Settings = Settings {
    window: Window::Time(Duration::from_millis(1_000)),
    minimum_calls: 1,
    failures: Some(3),
    failure_rate: None,
    slow: None,
    half_open_calls: 1,
    half_open_successes: 1.0,
    cooldown: Duration::from_millis(500),
    growth: None,
    from_error: false,
};

#[test]
fn the_first_form_follows_the_model() {
    let breaker = Breaker::new(3, Duration::from_millis(1_000), Duration::from_millis(500));
    check(breaker, FIRST_FORM);
}

#[test]
fn the_first_form_with_a_rate_follows_the_model() {
    let breaker =
        Breaker::new(3, Duration::from_millis(1_000), Duration::from_millis(500)).rate(0.6);
    let settings = Settings {
        failure_rate: Some(0.6),
        ..FIRST_FORM
    };
    check(breaker, settings);
}

#[test]
fn a_count_based_breaker_follows_the_model() {
    let breaker = Breaker::count_based(5, Duration::from_millis(500))
        .minimum_calls(3)
        .failure_rate(0.5)
        .slow_calls(Duration::from_millis(200), 0.6)
        .half_open(3, 0.66);
    let settings = Settings {
        window: Window::Calls(5),
        minimum_calls: 3,
        failures: None,
        failure_rate: Some(0.5),
        slow: Some((Duration::from_millis(200), 0.6)),
        half_open_calls: 3,
        half_open_successes: 0.66,
        cooldown: Duration::from_millis(500),
        growth: None,
        from_error: false,
    };
    check(breaker, settings);
}

#[test]
fn a_count_based_breaker_smaller_than_its_minimum_is_judged_when_full() {
    let breaker = Breaker::count_based(3, Duration::from_millis(400)).minimum_calls(10);
    let settings = Settings {
        window: Window::Calls(3),
        minimum_calls: 10,
        failures: None,
        failure_rate: Some(0.5),
        slow: None,
        half_open_calls: 1,
        half_open_successes: 1.0,
        cooldown: Duration::from_millis(400),
        growth: None,
        from_error: false,
    };
    check(breaker, settings);
}

#[test]
fn a_time_based_breaker_with_a_growing_break_from_the_error_follows_the_model() {
    let breaker = Breaker::time_based(Duration::from_millis(1_000), Duration::from_millis(300))
        .minimum_calls(4)
        .slow_calls(Duration::from_millis(150), 0.5)
        .half_open(2, 1.0)
        .cooldown_grows(2.0, Duration::from_millis(2_000));
    let settings = Settings {
        window: Window::Time(Duration::from_millis(1_000)),
        minimum_calls: 4,
        failures: None,
        failure_rate: Some(0.5),
        slow: Some((Duration::from_millis(150), 0.5)),
        half_open_calls: 2,
        half_open_successes: 1.0,
        cooldown: Duration::from_millis(300),
        growth: Some((2.0, Duration::from_millis(2_000))),
        from_error: true,
    };
    check(breaker, settings);
}
