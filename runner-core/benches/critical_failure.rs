//! A critical failure among N pending tasks: from the start of the run to `fan_out!`
//! returning the error, which includes dropping the N pending tasks, against
//! `tokio::try_join!` doing the same.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use runner_core::{Task, fan_out};
use runner_core_benches::{failing, pending, runtime, time};

macro_rules! arity {
    ($c:expr, $rt:expr, $n:literal: $($i:literal)*) => {{
        let mut group = $c.benchmark_group(format!("critical_failure/{}_pending", $n));
        group.bench_function("fan_out", |b| {
            time(b, $rt, || async {
                let result = fan_out!(Task::critical("fails", failing()), $(Task::best_effort(stringify!($i), pending())),*).await;
                black_box(result.err().expect("the critical task failed"));
            })
        });
        group.bench_function("tokio_try_join", |b| {
            time(b, $rt, || async {
                let result = tokio::try_join!(failing(), $({ let _ = $i; pending() }),*);
                black_box(result.err().expect("the critical task failed"));
            })
        });
        group.finish();
    }};
}

fn critical_failure(c: &mut Criterion) {
    let rt = &runtime();
    arity!(c, rt, 1: 1);
    arity!(c, rt, 7: 1 2 3 4 5 6 7);
    arity!(c, rt, 15: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

criterion_group!(benches, critical_failure);
criterion_main!(benches);
