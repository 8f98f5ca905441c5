//! The dynamic engine against the dynamic baselines: `TaskRunner` with 1,000 to 100,000 tasks
//! that yield once, with and without a concurrency limit, against `FuturesUnordered`,
//! `StreamExt::buffer_unordered` and `tokio::task::JoinSet` doing the same work; and each
//! result taken as it finishes (`TaskRunner::start`), against `FuturesUnordered` and
//! `JoinSet` handing out theirs.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use runner_core::{Task, TaskRunner};
use runner_core_benches::{runtime, time, yielding};

const LIMIT: usize = 64;

fn dynamic(c: &mut Criterion) {
    let rt = &runtime();
    for n in [1_000_u64, 10_000, 100_000] {
        let mut group = c.benchmark_group("dynamic/unlimited");
        group.sample_size(if n >= 100_000 { 10 } else { 30 });
        group.measurement_time(Duration::from_secs(if n >= 100_000 { 8 } else { 4 }));
        group.bench_with_input(BenchmarkId::new("task_runner", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut runner = TaskRunner::new();
                let handles = runner.add_all((0..n).map(|i| Task::best_effort("t", yielding(i))));
                let mut results = runner.run_all().await.unwrap();
                black_box(results.take(handles));
            })
        });
        group.bench_with_input(BenchmarkId::new("futures_unordered", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut set: FuturesUnordered<_> = (0..n).map(yielding).collect();
                let mut out = Vec::with_capacity(n as usize);
                while let Some(result) = set.next().await {
                    out.push(result);
                }
                black_box(out);
            })
        });
        group.bench_with_input(BenchmarkId::new("join_set", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..n {
                    set.spawn(yielding(i));
                }
                black_box(set.join_all().await);
            })
        });
        group.finish();

        let mut group = c.benchmark_group("dynamic/as_they_finish");
        group.sample_size(if n >= 100_000 { 10 } else { 30 });
        group.measurement_time(Duration::from_secs(if n >= 100_000 { 8 } else { 4 }));
        group.bench_with_input(BenchmarkId::new("task_runner", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut run = TaskRunner::new().start();
                let handles = run.add_all((0..n).map(|i| Task::best_effort("t", yielding(i))));
                let mut sum = 0;
                while let Some(finished) = run.join_next().await {
                    if let Some((_, Ok(value))) = finished.unwrap().take_from(&handles) {
                        sum += value;
                    }
                }
                black_box(sum);
            })
        });
        group.bench_with_input(BenchmarkId::new("futures_unordered", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut set: FuturesUnordered<_> = (0..n).map(yielding).collect();
                let mut sum = 0;
                while let Some(result) = set.next().await {
                    if let Ok(value) = result {
                        sum += value;
                    }
                }
                black_box(sum);
            })
        });
        group.bench_with_input(BenchmarkId::new("join_set", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..n {
                    set.spawn(yielding(i));
                }
                let mut sum = 0;
                while let Some(result) = set.join_next().await {
                    if let Ok(Ok(value)) = result {
                        sum += value;
                    }
                }
                black_box(sum);
            })
        });
        group.finish();

        let mut group = c.benchmark_group("dynamic/limit_64");
        group.sample_size(if n >= 100_000 { 10 } else { 30 });
        group.measurement_time(Duration::from_secs(if n >= 100_000 { 8 } else { 4 }));
        group.bench_with_input(BenchmarkId::new("task_runner", n), &n, |b, &n| {
            time(b, rt, || async move {
                let mut runner = TaskRunner::new().concurrency_limit(LIMIT);
                let handles = runner.add_all((0..n).map(|i| Task::best_effort("t", yielding(i))));
                let mut results = runner.run_all().await.unwrap();
                black_box(results.take(handles));
            })
        });
        group.bench_with_input(BenchmarkId::new("buffer_unordered", n), &n, |b, &n| {
            time(b, rt, || async move {
                let out: Vec<_> = futures::stream::iter((0..n).map(yielding))
                    .buffer_unordered(LIMIT)
                    .collect()
                    .await;
                black_box(out);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, dynamic);
criterion_main!(benches);
