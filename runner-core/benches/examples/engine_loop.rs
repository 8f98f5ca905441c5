//! A fixed number of runs of one engine in one runtime, for a profiler or an instruction
//! count: the scenarios of `benches/static_fan_out.rs` and `benches/dynamic_runner.rs`,
//! without criterion's sampling around them.
//!
//!     cargo build --release -p runner-core-benches --example engine_loop
//!     valgrind --tool=callgrind target/release/examples/engine_loop ready8 20000
//!
//! Scenarios: `ready2`, `ready8`, `yield2`, `yield8` run `fan_out!` of 2 or 8 critical tasks
//! ready at once or after one yield; `try_join_` before a name runs `tokio::try_join!` of
//! the same futures. `runner1000` runs a `TaskRunner` of 1,000 best-effort tasks that yield
//! once, `futures_unordered1000` the same futures in a `FuturesUnordered`; `runner_limit1000`
//! the runner with a concurrency limit of 64, `buffer_unordered1000` the futures through
//! `buffer_unordered(64)`; `runner_limit100000` and `buffer_unordered100000` the same with
//! 100,000 tasks. Instructions per run: the difference of two counts (say 10,000
//! and 20,000 runs) over the difference of runs, which leaves out the process's start.

use std::hint::black_box;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use runner_core::{Task, TaskRunner, fan_out};
use runner_core_benches::{ready, runtime, yielding};

/// Runs `$run` (an expression over `$f`, the task body) on 2 or 8 futures of `$f`.
macro_rules! scenarios {
    ($scenario:expr, $($name:literal => $f:ident, [$($i:literal)+];)+) => {
        match $scenario {
            $(
                concat!($name) => {
                    black_box(fan_out!($(Task::critical("t", $f($i))),+).await.unwrap());
                }
                concat!("try_join_", $name) => {
                    black_box(tokio::try_join!($($f($i)),+).unwrap());
                }
            )+
            "runner1000" => {
                let mut runner = TaskRunner::new();
                let tasks = (0..1_000).map(|i| Task::best_effort("t", yielding(i)));
                let handles = runner.add_all(tasks);
                black_box(runner.run_all().await.unwrap().take(handles));
            }
            "runner_limit1000" => runner_limit(1_000).await,
            "runner_limit100000" => runner_limit(100_000).await,
            "buffer_unordered1000" => buffer_unordered(1_000).await,
            "buffer_unordered100000" => buffer_unordered(100_000).await,
            "futures_unordered1000" => {
                let mut set: FuturesUnordered<_> = (0..1_000).map(yielding).collect();
                let mut out = Vec::with_capacity(1_000);
                while let Some(result) = set.next().await {
                    out.push(result);
                }
                black_box(out);
            }
            other => panic!("no scenario `{other}`"),
        }
    };
}

async fn runner_limit(n: u64) {
    let mut runner = TaskRunner::new().concurrency_limit(64);
    let handles = runner.add_all((0..n).map(|i| Task::best_effort("t", yielding(i))));
    black_box(runner.run_all().await.unwrap().take(handles));
}

async fn buffer_unordered(n: u64) {
    let stream = futures::stream::iter((0..n).map(yielding)).buffer_unordered(64);
    black_box(stream.collect::<Vec<_>>().await);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "ready8".to_owned());
    let runs: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    runtime().block_on(async {
        for _ in 0..runs {
            scenarios!(scenario.as_str(),
                "ready2" => ready, [0 1];
                "ready8" => ready, [0 1 2 3 4 5 6 7];
                "yield2" => yielding, [0 1];
                "yield8" => yielding, [0 1 2 3 4 5 6 7];
            );
        }
    });
}
