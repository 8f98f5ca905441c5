//! Model-based property tests: random fan-outs on every engine (the dynamic one also handing
//! out each task as it ends) against a small reference model of the rules, on tokio's paused
//! clock.
//!
//! Each case is 1 to 16 tasks (for the static engine, one of ten layouts of 1 to 16 tasks,
//! its arity fixed at compile time) with a random criticality, outcome (ok, error, panic,
//! hang), latency and own timeout, an optional overall deadline and, for the dynamic engine,
//! an optional concurrency limit. The model says what the fan-out returns (slots, or the
//! error and the tasks it may name), the exact virtual time at which it returns, and each
//! task's record; every case also checks that every task's future was dropped by the time
//! it returned.
//!
//! `PROPTEST_CASES` sets the number of cases per engine (default 10,000).

mod support;

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use runner_core::{
    BestEffort, Critical, Criticality, FanOutError, Handle, Outcome, Task, TaskError, TaskRecord,
    TaskRunner, fan_out,
};
use support::{Act, Boom, Probe, ms};
use tokio::time::Instant;

/// Cases per engine, unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 10_000;

const NAMES: [&str; 16] = [
    "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12", "t13", "t14",
    "t15",
];

/// One task of a case.
#[derive(Debug, Clone)]
struct Spec {
    critical: bool,
    act: Act,
    latency: u64,
    timeout: Option<u64>,
}

/// One fan-out.
#[derive(Debug, Clone)]
struct Case {
    tasks: Vec<Spec>,
    deadline: Option<u64>,
    limit: Option<usize>,
}

/// A slot, whatever its criticality: what the engines returned and what the model expects.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Value(u32),
    Failed(u32),
    TimedOut(Duration),
    Deadline,
    Panicked,
}

/// What the model expects of a case.
#[derive(Debug)]
struct Expected {
    /// Virtual milliseconds from the first poll to the return.
    end: u64,
    verdict: Verdict,
}

#[derive(Debug)]
enum Verdict {
    /// The slots, and each task's record (outcome, elapsed ms).
    Ok(Vec<Slot>, Vec<(Outcome, u64)>),
    /// A critical failure: the error may name any of these tasks, with that kind.
    Failed(Vec<(&'static str, &'static str)>),
    /// The deadline passed with these critical tasks pending, in order.
    Deadline(Vec<&'static str>),
}

/// The rules, as plainly as they can be written: an event-driven simulation in virtual ms.
fn model(case: &Case) -> Expected {
    let n = case.tasks.len();
    let limit = case.limit.unwrap_or(n).max(1);
    let deadline = case.deadline.unwrap_or(u64::MAX);
    let mut start: Vec<Option<u64>> = vec![None; n];
    let mut done: Vec<Option<(u64, Slot, Outcome)>> = vec![None; n];
    let mut running: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut now = 0;
    // When and how task `i`, started at `s`, ends if nothing else ends the fan-out first.
    let plan = |i: usize, s: u64| -> (u64, Slot, Outcome) {
        let spec = &case.tasks[i];
        let complete = match spec.act {
            Act::Hang => u64::MAX,
            _ => s + spec.latency,
        };
        // The own timer is armed only if it would fire before the deadline.
        let own = spec.timeout.map_or(u64::MAX, |t| s + t);
        let own = if own < deadline { own } else { u64::MAX };
        if complete <= own.min(deadline) {
            let (slot, outcome) = match spec.act {
                Act::Ok => (Slot::Value(i as u32), Outcome::Ok),
                Act::Err => (Slot::Failed(i as u32), Outcome::Failed),
                _ => (Slot::Panicked, Outcome::Panicked),
            };
            (complete, slot, outcome)
        } else if own < complete {
            (
                own,
                Slot::TimedOut(ms(spec.timeout.unwrap_or(0))),
                Outcome::TimedOut,
            )
        } else {
            (deadline, Slot::Deadline, Outcome::DeadlineExceeded)
        }
    };
    loop {
        while running.len() < limit && next < n && now < deadline {
            start[next] = Some(now);
            running.push(next);
            next += 1;
        }
        let Some(at) = running
            .iter()
            .map(|&i| plan(i, start[i].unwrap_or(0)).0)
            .min()
        else {
            break;
        };
        assert!(at != u64::MAX, "the generator makes every case end");
        now = at;
        let mut failures = Vec::new();
        running.retain(|&i| {
            let (end, slot, outcome) = plan(i, start[i].unwrap_or(0));
            if end != at {
                return true;
            }
            let spec = &case.tasks[i];
            let kind = match outcome {
                Outcome::Failed => Some("failed"),
                Outcome::Panicked => Some("panicked"),
                Outcome::TimedOut => Some("timed_out"),
                _ => None,
            };
            if let (true, Some(kind)) = (spec.critical, kind) {
                failures.push((NAMES[i], kind));
            }
            done[i] = Some((end, slot, outcome));
            false
        });
        if !failures.is_empty() {
            return Expected {
                end: now,
                verdict: Verdict::Failed(failures),
            };
        }
    }
    // Tasks that never started before the deadline are cut by it, having taken no time.
    for (i, slot) in done.iter_mut().enumerate() {
        if slot.is_none() {
            assert!(
                deadline != u64::MAX,
                "only a deadline leaves tasks unstarted"
            );
            *slot = Some((deadline, Slot::Deadline, Outcome::DeadlineExceeded));
            start[i] = Some(deadline);
        }
    }
    let done: Vec<(u64, Slot, Outcome)> = done.into_iter().flatten().collect();
    let pending: Vec<&'static str> = done
        .iter()
        .enumerate()
        .filter(|(i, (_, slot, _))| case.tasks[*i].critical && *slot == Slot::Deadline)
        .map(|(i, _)| NAMES[i])
        .collect();
    let end = done.iter().map(|(end, ..)| *end).max().unwrap_or(0);
    if !pending.is_empty() {
        return Expected {
            end: deadline,
            verdict: Verdict::Deadline(pending),
        };
    }
    let records = done
        .iter()
        .zip(&start)
        .map(|((end, _, outcome), started)| (*outcome, end - started.unwrap_or(0)))
        .collect();
    let slots = done.into_iter().map(|(_, slot, _)| slot).collect();
    Expected {
        end,
        verdict: Verdict::Ok(slots, records),
    }
}

/// What an engine did with a case.
struct Observed {
    end: u64,
    result: Result<Vec<Slot>, FanOutError>,
    records: Vec<TaskRecord>,
    alive: usize,
}

fn check(case: &Case, observed: Observed) -> Result<(), TestCaseError> {
    let expected = model(case);
    prop_assert_eq!(
        observed.alive,
        0,
        "every task's future is dropped by the return"
    );
    prop_assert_eq!(observed.end, expected.end, "virtual time of the return");
    match (expected.verdict, observed.result) {
        (Verdict::Ok(slots, records), Ok(observed_slots)) => {
            prop_assert_eq!(observed_slots, slots);
            let observed_records: Vec<(Outcome, u64)> = observed
                .records
                .iter()
                .map(|r| (r.outcome, r.elapsed.as_millis() as u64))
                .collect();
            prop_assert_eq!(observed_records, records);
        }
        (Verdict::Failed(candidates), Err(error)) => {
            let named = (error.task().unwrap_or("none"), error.kind());
            prop_assert!(
                candidates.contains(&named),
                "{error:?} is none of {candidates:?}"
            );
        }
        (
            Verdict::Deadline(pending),
            Err(FanOutError::DeadlineExceeded {
                pending: names,
                elapsed,
            }),
        ) => {
            prop_assert_eq!(names, pending);
            prop_assert_eq!(elapsed, ms(expected.end));
        }
        (verdict, result) => {
            prop_assert!(false, "expected {verdict:?}, got {result:?}");
        }
    }
    Ok(())
}

fn slot_of<C: Criticality>(slot: C::Slot<u32, Boom>) -> Slot
where
    C::Slot<u32, Boom>: IntoSlot,
{
    slot.into_slot()
}

/// Turns either kind of engine slot into a `Slot`.
trait IntoSlot {
    fn into_slot(self) -> Slot;
}

impl IntoSlot for u32 {
    fn into_slot(self) -> Slot {
        Slot::Value(self)
    }
}

impl IntoSlot for Result<u32, TaskError<Boom>> {
    fn into_slot(self) -> Slot {
        match self {
            Ok(value) => Slot::Value(value),
            Err(TaskError::Failed(Boom(value))) => Slot::Failed(value),
            Err(TaskError::TimedOut(timeout)) => Slot::TimedOut(timeout),
            Err(TaskError::DeadlineExceeded) => Slot::Deadline,
            Err(TaskError::Panicked(_)) => Slot::Panicked,
            Err(other) => panic!("a task error the model does not know: {other}"),
        }
    }
}

/// The slots of a static fan-out's tuple, in order.
trait IntoSlots {
    fn into_slots(self) -> Vec<Slot>;
}

macro_rules! tuple_into_slots {
    ($($T:ident $i:tt),+) => {
        impl<$($T: IntoSlot),+> IntoSlots for ($($T,)+) {
            fn into_slots(self) -> Vec<Slot> {
                vec![$(self.$i.into_slot()),+]
            }
        }
    };
}

tuple_into_slots!(A 0);
tuple_into_slots!(A 0, B 1);
tuple_into_slots!(A 0, B 1, C 2);
tuple_into_slots!(A 0, B 1, C 2, D 3, E 4);
tuple_into_slots!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_into_slots!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_into_slots!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

fn build<C: Criticality>(
    specs: &mut impl Iterator<Item = (usize, Spec)>,
    probe: &Probe,
) -> Task<impl Future<Output = Result<u32, Boom>> + Send + 'static, C> {
    let (i, spec) = specs
        .next()
        .expect("a layout and its case have the same length");
    let task = Task::new(NAMES[i], probe.task(spec.latency, spec.act, i as u32));
    match spec.timeout {
        Some(timeout) => task.timeout(ms(timeout)),
        None => task,
    }
}

type Run = (Result<Vec<Slot>, FanOutError>, Vec<TaskRecord>);

/// A static fan-out, through `fan_out!`, over a fixed layout of criticalities.
macro_rules! layout {
    ($name:ident: $($C:ident)+) => {
        async fn $name(case: &Case, probe: &Probe) -> Run {
            let mut specs = case.tasks.iter().cloned().enumerate();
            let specs = &mut specs;
            let (result, report) = match case.deadline {
                Some(deadline) => fan_out!(deadline = ms(deadline), report; $(build::<$C>(specs, probe)),+).await,
                None => fan_out!(report; $(build::<$C>(specs, probe)),+).await,
            };
            (result.map(IntoSlots::into_slots), report.tasks().to_vec())
        }
    };
}

layout!(one_critical: Critical);
layout!(one_best_effort: BestEffort);
layout!(two_mixed: Critical BestEffort);
layout!(two_critical: Critical Critical);
layout!(two_best_effort: BestEffort BestEffort);
layout!(three: BestEffort Critical BestEffort);
layout!(five: Critical BestEffort BestEffort Critical BestEffort);
layout!(eight: BestEffort Critical BestEffort BestEffort Critical BestEffort Critical BestEffort);
layout!(twelve: Critical BestEffort BestEffort Critical BestEffort BestEffort Critical BestEffort BestEffort Critical BestEffort BestEffort);
layout!(sixteen: BestEffort BestEffort Critical BestEffort BestEffort BestEffort Critical BestEffort BestEffort BestEffort BestEffort Critical BestEffort BestEffort BestEffort BestEffort);

/// The layouts' criticalities, for the generator.
const LAYOUTS: [&[bool]; 10] = [
    &[true],
    &[false],
    &[true, false],
    &[true, true],
    &[false, false],
    &[false, true, false],
    &[true, false, false, true, false],
    &[false, true, false, false, true, false, true, false],
    &[
        true, false, false, true, false, false, true, false, false, true, false, false,
    ],
    &[
        false, false, true, false, false, false, true, false, false, false, false, true, false,
        false, false, false,
    ],
];

async fn run_static(layout: usize, case: &Case, probe: &Probe) -> Run {
    match layout {
        0 => one_critical(case, probe).await,
        1 => one_best_effort(case, probe).await,
        2 => two_mixed(case, probe).await,
        3 => two_critical(case, probe).await,
        4 => two_best_effort(case, probe).await,
        5 => three(case, probe).await,
        6 => five(case, probe).await,
        7 => eight(case, probe).await,
        8 => twelve(case, probe).await,
        _ => sixteen(case, probe).await,
    }
}

enum AnyHandle {
    Critical(Handle<Critical, u32, Boom>),
    BestEffort(Handle<BestEffort, u32, Boom>),
}

/// The case's runner, its tasks added.
fn runner_of(case: &Case, probe: &Probe) -> (TaskRunner<'static>, Vec<AnyHandle>) {
    let mut runner = TaskRunner::new();
    if let Some(deadline) = case.deadline {
        runner = runner.deadline(ms(deadline));
    }
    if let Some(limit) = case.limit {
        runner = runner.concurrency_limit(limit);
    }
    let handles = case
        .tasks
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let future = probe.task(spec.latency, spec.act, i as u32);
            let timeout = spec.timeout.map_or(Duration::MAX, ms);
            match spec.critical {
                true => AnyHandle::Critical(
                    runner.add(Task::critical(NAMES[i], future).timeout(timeout)),
                ),
                false => AnyHandle::BestEffort(
                    runner.add(Task::best_effort(NAMES[i], future).timeout(timeout)),
                ),
            }
        })
        .collect();
    (runner, handles)
}

async fn run_dynamic(case: &Case, probe: &Probe) -> Run {
    let (runner, handles) = runner_of(case, probe);
    let (result, report) = runner.run_all().with_report().await;
    let result = result.map(|mut results| {
        handles
            .into_iter()
            .map(|handle| match handle {
                AnyHandle::Critical(handle) => slot_of::<Critical>(results.take(handle)),
                AnyHandle::BestEffort(handle) => slot_of::<BestEffort>(results.take(handle)),
            })
            .collect()
    });
    (result, report.tasks().to_vec())
}

/// The same run as `run_dynamic`, each task taken as it is handed out (once each).
async fn run_streaming(case: &Case, probe: &Probe) -> Run {
    let (runner, handles) = runner_of(case, probe);
    let mut run = runner.start();
    let mut slots: Vec<Option<Slot>> = handles.iter().map(|_| None).collect();
    let result = loop {
        let mut finished = match run.join_next().await {
            None => break Ok(()),
            Some(Err(error)) => break Err(error),
            Some(Ok(finished)) => finished,
        };
        let index = finished.index();
        let slot = match &handles[index] {
            AnyHandle::Critical(handle) => finished.take(handle).map(slot_of::<Critical>),
            AnyHandle::BestEffort(handle) => finished.take(handle).map(slot_of::<BestEffort>),
        };
        assert!(slot.is_some(), "task {index} handed out without its slot");
        assert!(
            slots[index].replace(slot.unwrap()).is_none(),
            "task {index} handed out twice"
        );
    };
    let records = run.report().tasks().to_vec();
    let result = result.map(|()| slots.into_iter().map(Option::unwrap).collect());
    (result, records)
}

/// Runs `run` on a fresh paused-clock runtime and records what it did.
fn observe<'a, F>(probe: &Probe, run: F) -> Observed
where
    F: Future<Output = Run> + 'a,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        let start = Instant::now();
        let (result, records) = run.await;
        Observed {
            end: start.elapsed().as_millis() as u64,
            result,
            records,
            alive: probe.alive(),
        }
    })
}

fn spec(critical: impl Strategy<Value = bool>) -> impl Strategy<Value = Spec> {
    let act = prop_oneof![4 => Just(Act::Ok), 2 => Just(Act::Err), 1 => Just(Act::Panic), 2 => Just(Act::Hang)];
    (
        critical,
        act,
        1_u64..=100,
        proptest::option::of(1_u64..=120),
    )
        .prop_map(|(critical, act, latency, timeout)| Spec {
            critical,
            act,
            latency,
            timeout,
        })
}

/// Every case must end: without a deadline, a hanging task needs a timeout of its own.
fn ending(mut case: Case) -> Case {
    if case.deadline.is_none() {
        for spec in &mut case.tasks {
            if spec.act == Act::Hang && spec.timeout.is_none() {
                spec.timeout = Some(spec.latency);
            }
        }
    }
    case
}

fn deadline() -> impl Strategy<Value = Option<u64>> {
    proptest::option::weighted(0.6, 1_u64..=150)
}

fn static_case() -> impl Strategy<Value = (usize, Case)> {
    (0..LAYOUTS.len(), deadline()).prop_flat_map(|(layout, deadline)| {
        let specs: Vec<_> = LAYOUTS[layout]
            .iter()
            .map(|&critical| spec(Just(critical)))
            .collect();
        specs.prop_map(move |tasks| {
            (
                layout,
                ending(Case {
                    tasks,
                    deadline,
                    limit: None,
                }),
            )
        })
    })
}

fn dynamic_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(spec(any::<bool>()), 1..=16),
        deadline(),
        proptest::option::weighted(0.4, 1_usize..=4),
    )
        .prop_map(|(tasks, deadline, limit)| {
            ending(Case {
                tasks,
                deadline,
                limit,
            })
        })
}

/// The scripted panics are expected by the thousand; any other panic still reports.
fn quiet_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let scripted = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|message| {
                    message.starts_with("task ") && message.ends_with(" panicked")
                });
            if !scripted {
                default(info);
            }
        }));
    });
}

#[test]
fn static_engine_matches_the_model() {
    quiet_scripted_panics();
    TestRunner::new(support::proptest_config(DEFAULT_CASES))
        .run(&static_case(), |(layout, case)| {
            let probe = Probe::new();
            let observed = observe(&probe, run_static(layout, &case, &probe));
            check(&case, observed)
        })
        .unwrap();
}

#[test]
fn dynamic_engine_matches_the_model() {
    quiet_scripted_panics();
    TestRunner::new(support::proptest_config(DEFAULT_CASES))
        .run(&dynamic_case(), |case| {
            let probe = Probe::new();
            let observed = observe(&probe, run_dynamic(&case, &probe));
            check(&case, observed)
        })
        .unwrap();
}

#[test]
fn a_run_handing_out_each_task_as_it_ends_matches_the_model() {
    quiet_scripted_panics();
    TestRunner::new(support::proptest_config(DEFAULT_CASES))
        .run(&dynamic_case(), |case| {
            let probe = Probe::new();
            let observed = observe(&probe, run_streaming(&case, &probe));
            check(&case, observed)
        })
        .unwrap();
}
