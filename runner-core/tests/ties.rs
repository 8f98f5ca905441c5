//! The tie rule under tokio's cooperative budget, as a property over layouts: work that
//! finishes at the very instant its timer fires wins, whatever its siblings do to the budget.
//!
//! Each case is 2 to 16 tasks: one tied task that finishes exactly at its own timeout or at
//! the fan-out's deadline, at any position, among siblings that spend the coop budget on
//! every poll (busy `consume_budget` and `yield_now` loops, a busy channel of 1,000 messages)
//! or wake themselves at once. The siblings never end, so the runtime never idles and the
//! paused clock is moved by hand, in steps of 1 to 7 ms (a step may jump past the tie: the
//! tied work is then just as ready when its timer fires). Both engines; the dynamic one with
//! a tied task of either criticality.
//!
//! `PROPTEST_CASES` sets the number of cases per engine and timer kind (default 256).

mod support;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use runner_core::{BestEffort, FanOut, FanOutError, Task, TaskError, TaskRunner};
use support::{Boom, ms};

/// Cases per engine and timer kind, unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 256;

type BoxedWork = Pin<Box<dyn Future<Output = Result<u32, Boom>> + Send>>;
type Slot = Result<u32, TaskError<Boom>>;

/// The tied task's value.
const TIED: u32 = 7;

/// What a sibling does on every poll.
#[derive(Debug, Clone, Copy)]
enum Sibling {
    /// Wakes itself and returns `Pending`.
    Spin,
    /// Spends the whole budget with `consume_budget`.
    Burn,
    /// Yields with `yield_now`, over and over.
    Yield,
    /// Receives from a channel that always holds 1,000 messages, sending each one back.
    Drain,
}

/// Which timer the tied task ties with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Its own timeout; the fan-out's deadline comes 10 ms later.
    OwnTimeout,
    /// The fan-out's deadline; it has no timeout of its own.
    Deadline,
}

#[derive(Debug, Clone)]
struct Case {
    siblings: Vec<Sibling>,
    /// The tied task's position among the tasks.
    tied: usize,
    /// When it finishes, in virtual ms from the start.
    at: u64,
    /// How far the clock moves in each step.
    step: u64,
    /// After its timer's instant, the tied task still needs coop budget to finish.
    needs_budget: bool,
    /// The tied task is critical (dynamic engine only: the static one's types are fixed).
    critical: bool,
}

impl Case {
    fn len(&self) -> usize {
        self.siblings.len() + 1
    }

    fn deadline(&self, kind: Kind) -> u64 {
        match kind {
            Kind::OwnTimeout => self.at + 10,
            Kind::Deadline => self.at,
        }
    }
}

fn sibling(kind: Sibling) -> BoxedWork {
    match kind {
        Sibling::Spin => Box::pin(poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Pending
        })),
        Sibling::Burn => Box::pin(async {
            loop {
                tokio::task::coop::consume_budget().await;
            }
        }),
        Sibling::Yield => Box::pin(async {
            loop {
                tokio::task::yield_now().await;
            }
        }),
        Sibling::Drain => Box::pin(async {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            for n in 0..1_000 {
                let _ = sender.send(n);
            }
            while let Some(n) = receiver.recv().await {
                let _ = sender.send(n);
            }
            Ok(0)
        }),
    }
}

/// Finishes at the instant its task must finish by: its timeout or the deadline.
fn tied(needs_budget: bool) -> BoxedWork {
    Box::pin(async move {
        let deadline = runner_core::deadline().expect("the tied task runs under a deadline");
        tokio::time::sleep_until(deadline).await;
        if needs_budget {
            tokio::task::coop::consume_budget().await;
        }
        Ok(TIED)
    })
}

/// The case's tasks in order, all best-effort, the tied one with its own timeout for
/// [`Kind::OwnTimeout`].
fn tasks(case: &Case, kind: Kind) -> Vec<Task<BoxedWork, BestEffort>> {
    let mut siblings = case.siblings.iter();
    (0..case.len())
        .map(|i| match (i == case.tied, kind) {
            (true, Kind::OwnTimeout) => {
                Task::best_effort("tied", tied(case.needs_budget)).timeout(ms(case.at))
            }
            (true, Kind::Deadline) => Task::best_effort("tied", tied(case.needs_budget)),
            (false, _) => Task::best_effort("sibling", sibling(*siblings.next().unwrap())),
        })
        .collect()
}

/// A static fan-out over as many tasks as the case has, the tuple's arity picked at run time.
macro_rules! static_fan_out {
    ($tasks:expr, $deadline:expr; $($len:literal => ($($slot:ident),+)),+ $(,)?) => {{
        let mut tasks = $tasks.into_iter();
        match tasks.len() {
            $($len => {
                $(let $slot = tasks.next().unwrap();)+
                FanOut::new(($($slot,)+))
                    .deadline($deadline)
                    .await
                    .map(|($($slot,)+)| vec![$($slot),+])
            })+
            len => unreachable!("{len} tasks"),
        }
    }};
}

async fn run_static(case: &Case, kind: Kind) -> Result<Vec<Slot>, FanOutError> {
    static_fan_out!(tasks(case, kind), ms(case.deadline(kind));
        2 => (a, b),
        3 => (a, b, c),
        4 => (a, b, c, d),
        5 => (a, b, c, d, e),
        6 => (a, b, c, d, e, f),
        7 => (a, b, c, d, e, f, g),
        8 => (a, b, c, d, e, f, g, h),
        9 => (a, b, c, d, e, f, g, h, i),
        10 => (a, b, c, d, e, f, g, h, i, j),
        11 => (a, b, c, d, e, f, g, h, i, j, k),
        12 => (a, b, c, d, e, f, g, h, i, j, k, l),
        13 => (a, b, c, d, e, f, g, h, i, j, k, l, m),
        14 => (a, b, c, d, e, f, g, h, i, j, k, l, m, n),
        15 => (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o),
        16 => (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p),
    )
}

async fn run_dynamic(case: &Case, kind: Kind) -> Result<Vec<Slot>, FanOutError> {
    let mut runner = TaskRunner::new().deadline(ms(case.deadline(kind)));
    let mut handles = Vec::new();
    let mut critical = None;
    for (i, task) in tasks(case, kind).into_iter().enumerate() {
        match i == case.tied && case.critical {
            true => critical = Some(runner.add(task.into_critical())),
            false => handles.push(runner.add(task)),
        }
    }
    let mut results = runner.run_all().await?;
    let mut slots: Vec<Slot> = handles.into_iter().map(|h| results.take(h)).collect();
    if let Some(handle) = critical {
        slots.insert(case.tied, Ok(results.take(handle)));
    }
    Ok(slots)
}

/// Runs `run` on a paused-clock runtime, moving the clock by `step` ms until well past the
/// last instant of the case.
fn drive<F: Future<Output = Result<Vec<Slot>, FanOutError>>>(
    case: &Case,
    kind: Kind,
    run: F,
) -> Result<Vec<Slot>, FanOutError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    let steps = (case.deadline(kind) + 20) / case.step + 1;
    runtime.block_on(async {
        let clock = async {
            for _ in 0..steps {
                tokio::time::advance(ms(case.step)).await;
            }
        };
        tokio::join!(run, clock).0
    })
}

fn check(case: &Case, result: Result<Vec<Slot>, FanOutError>) -> Result<(), TestCaseError> {
    let slots = match result {
        Ok(slots) => slots,
        Err(error) => return Err(TestCaseError::fail(format!("the run failed: {error:?}"))),
    };
    for (i, slot) in slots.iter().enumerate() {
        match (i == case.tied, slot) {
            (true, Ok(TIED)) | (false, Err(TaskError::DeadlineExceeded)) => {}
            (true, slot) => {
                return Err(TestCaseError::fail(format!("the tied task lost: {slot:?}")));
            }
            (false, slot) => {
                return Err(TestCaseError::fail(format!("sibling {i} ended {slot:?}")));
            }
        }
    }
    Ok(())
}

fn case(critical: impl Strategy<Value = bool>) -> impl Strategy<Value = Case> {
    let sibling = prop_oneof![
        Just(Sibling::Spin),
        Just(Sibling::Burn),
        Just(Sibling::Yield),
        Just(Sibling::Drain),
    ];
    (
        proptest::collection::vec(sibling, 1..=15),
        any::<prop::sample::Index>(),
        5_u64..=40,
        1_u64..=7,
        any::<bool>(),
        critical,
    )
        .prop_map(|(siblings, tied, at, step, needs_budget, critical)| Case {
            tied: tied.index(siblings.len() + 1),
            siblings,
            at,
            step,
            needs_budget,
            critical,
        })
}

#[test]
fn the_static_engine_lets_work_tied_with_its_timer_win() {
    for kind in [Kind::OwnTimeout, Kind::Deadline] {
        TestRunner::new(support::proptest_config(DEFAULT_CASES))
            .run(&case(Just(false)), |case| {
                let result = drive(&case, kind, run_static(&case, kind));
                check(&case, result).map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}")))
            })
            .unwrap();
    }
}

#[test]
fn the_dynamic_engine_lets_work_tied_with_its_timer_win() {
    for kind in [Kind::OwnTimeout, Kind::Deadline] {
        TestRunner::new(support::proptest_config(DEFAULT_CASES))
            .run(&case(any::<bool>()), |case| {
                let result = drive(&case, kind, run_dynamic(&case, kind));
                check(&case, result).map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}")))
            })
            .unwrap();
    }
}
