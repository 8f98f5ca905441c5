//! The static engine against what users write by hand, on one current-thread runtime:
//! `fan_out!` against `tokio::try_join!` and `futures::join!` with N tasks that are ready at
//! once or yield once, and against a hand-written `try_join!` of `tokio::time::timeout`s
//! under an overall `timeout` when timeouts and a deadline are on.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use runner_core::{Task, fan_out};
use runner_core_benches::{BenchError, DEADLINE, TIMEOUT, ready, runtime, time, yielding};

/// Flattens a `timeout` around a task, as a hand-written version must.
async fn timed(
    work: impl std::future::Future<Output = Result<u64, BenchError>>,
) -> Result<u64, BenchError> {
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| BenchError::TimedOut)?
}

macro_rules! arity {
    ($c:expr, $rt:expr, $n:literal: $($i:literal)+) => {{
        for (scenario, yields) in [("ready", false), ("yield_once", true)] {
            let mut group = $c.benchmark_group(format!("static/{scenario}/{}", $n));
            group.bench_function("fan_out", |b| {
                time(b, $rt, || async move {
                    let slots = match yields {
                        false => fan_out!($(Task::critical("t", ready($i))),+).await,
                        true => fan_out!($(Task::critical("t", yielding($i))),+).await,
                    };
                    black_box(slots.unwrap());
                })
            });
            group.bench_function("tokio_try_join", |b| {
                time(b, $rt, || async move {
                    let slots = match yields {
                        false => tokio::try_join!($(ready($i)),+),
                        true => tokio::try_join!($(yielding($i)),+),
                    };
                    black_box(slots.unwrap());
                })
            });
            group.bench_function("futures_join", |b| {
                time(b, $rt, || async move {
                    let slots = match yields {
                        false => futures::join!($(ready($i)),+),
                        true => futures::join!($(yielding($i)),+),
                    };
                    let _slots = black_box(slots);
                })
            });
            group.finish();
        }

        let mut group = $c.benchmark_group(format!("static/timeouts_and_deadline/{}", $n));
        group.bench_function("fan_out", |b| {
            time(b, $rt, || async {
                let slots = fan_out!(deadline = DEADLINE; $(Task::critical("t", yielding($i)).timeout(TIMEOUT)),+).await;
                black_box(slots.unwrap());
            })
        });
        group.bench_function("hand_written_timeouts", |b| {
            time(b, $rt, || async {
                let slots = tokio::time::timeout(DEADLINE, async {
                    tokio::try_join!($(timed(yielding($i))),+)
                })
                .await;
                black_box(slots.unwrap().unwrap());
            })
        });
        group.finish();
    }};
}

fn static_fan_out(c: &mut Criterion) {
    let rt = &runtime();
    arity!(c, rt, 2: 0 1);
    arity!(c, rt, 4: 0 1 2 3);
    arity!(c, rt, 8: 0 1 2 3 4 5 6 7);
    arity!(c, rt, 16: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

/// A label on every task of a run of 8 (issue 13), against the same run without labels.
fn labels(c: &mut Criterion) {
    let rt = &runtime();
    let mut group = c.benchmark_group("static/labels/8");
    group.bench_function("unlabelled", |b| {
        time(b, rt, || async {
            let slots = fan_out!(
                Task::critical("t", yielding(0)),
                Task::critical("t", yielding(1)),
                Task::critical("t", yielding(2)),
                Task::critical("t", yielding(3)),
                Task::critical("t", yielding(4)),
                Task::critical("t", yielding(5)),
                Task::critical("t", yielding(6)),
                Task::critical("t", yielding(7))
            )
            .await;
            black_box(slots.unwrap());
        })
    });
    group.bench_function("labelled", |b| {
        time(b, rt, || async {
            let slots = fan_out!(
                Task::critical("t", yielding(0)).label(0),
                Task::critical("t", yielding(1)).label(1),
                Task::critical("t", yielding(2)).label(2),
                Task::critical("t", yielding(3)).label(3),
                Task::critical("t", yielding(4)).label(4),
                Task::critical("t", yielding(5)).label(5),
                Task::critical("t", yielding(6)).label(6),
                Task::critical("t", yielding(7)).label(7)
            )
            .await;
            black_box(slots.unwrap());
        })
    });
    group.finish();
}

criterion_group!(benches, static_fan_out, labels);
criterion_main!(benches);
