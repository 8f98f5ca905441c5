//! The dynamic engine's cost per task against the number of tasks in a run, 10 to 1,000,000,
//! beside `FuturesUnordered` and tokio's `JoinSet` doing the same work (each task yields
//! once): time per task (the median of 5 measurements, each of enough runs to hold about a
//! million tasks in all) and peak heap per task (a counting allocator, on for one run apart
//! from the timed ones: the most bytes the run held at once, per task). CSV on stdout, for
//! `scripts/plot_scaling.py`.
//!
//!     cargo run --release -p runner-core-benches --example per_task_cost

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use runner_core::{Task, TaskRunner};
use runner_core_benches::{runtime, yielding};

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Counting only while the heap is measured: the timed runs pay a load per allocation, not
/// the counting itself.
static COUNTING: AtomicBool = AtomicBool::new(false);

fn count_up(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let held = HELD.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(held, Ordering::Relaxed);
    }
}

fn count_down(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        HELD.fetch_sub(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics
// that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_up(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_down(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match new_size >= layout.size() {
            true => count_up(new_size - layout.size()),
            false => count_down(layout.size() - new_size),
        }
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const COUNTS: [u64; 6] = [10, 100, 1_000, 10_000, 100_000, 1_000_000];
const TASKS_PER_MEASUREMENT: u64 = 1_000_000;
const MEASUREMENTS: usize = 5;

async fn task_runner(n: u64) {
    let mut runner = TaskRunner::new();
    let handles = runner.add_all((0..n).map(|i| Task::best_effort("t", yielding(i))));
    let mut results = runner.run_all().await.unwrap();
    black_box(results.take(handles));
}

async fn futures_unordered(n: u64) {
    let mut set: FuturesUnordered<_> = (0..n).map(yielding).collect();
    let mut out = Vec::with_capacity(n as usize);
    while let Some(result) = set.next().await {
        out.push(result);
    }
    black_box(out);
}

async fn join_set(n: u64) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(yielding(i));
    }
    black_box(set.join_all().await);
}

fn main() {
    let rt = runtime();
    // `PER_TASK_ENGINE=task_runner` (say) measures one engine only, e.g. under a profiler;
    // `PER_TASK_COUNT=1000` one count.
    let engine = std::env::var("PER_TASK_ENGINE").ok();
    let count: Option<u64> = std::env::var("PER_TASK_COUNT")
        .ok()
        .and_then(|n| n.parse().ok());
    let wanted = |name: &str| engine.as_deref().is_none_or(|engine| engine == name);
    println!("engine,tasks,ns_per_task,bytes_per_task");
    for n in COUNTS
        .into_iter()
        .filter(|n| count.is_none_or(|count| count == *n))
    {
        let runs = (TASKS_PER_MEASUREMENT / n).max(1);
        macro_rules! engine {
            ($name:literal, $run:ident) => {
                if wanted($name) {
                    // Peak heap of one run, counted from zero: what the run allocated and held
                    // at once (what it frees of what was held before would only lower it).
                    HELD.store(0, Ordering::Relaxed);
                    PEAK.store(0, Ordering::Relaxed);
                    COUNTING.store(true, Ordering::Relaxed);
                    rt.block_on($run(n));
                    COUNTING.store(false, Ordering::Relaxed);
                    let bytes = PEAK.load(Ordering::Relaxed) as f64 / n as f64;
                    let mut times: Vec<f64> = (0..MEASUREMENTS)
                        .map(|_| {
                            let start = Instant::now();
                            for _ in 0..runs {
                                rt.block_on($run(n));
                            }
                            start.elapsed().as_nanos() as f64 / (runs * n) as f64
                        })
                        .collect();
                    times.sort_by(f64::total_cmp);
                    println!("{},{n},{:.1},{bytes:.0}", $name, times[MEASUREMENTS / 2]);
                }
            };
        }
        engine!("task_runner", task_runner);
        engine!("futures_unordered", futures_unordered);
        engine!("join_set", join_set);
    }
}
