//! What each resilience policy costs on the success path, against the bare task in the same
//! run: one attempt that succeeds, so no retry, hedge, refusal or fallback ever happens and
//! what is measured is the bookkeeping each policy does around a call that needs none of it.
//!
//! The work is ready at once or yields once; the task is awaited on its own, or two such
//! tasks run in one `fan_out!`; and, with yields, awaited under a 1 s timeout, which gives the
//! task a deadline (the only case in which a fallback arms its timer).

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use runner_core::policy::Coalesce;
use runner_core::{
    Adaptive, Breaker, Critical, Limit, Options, Policy, RateLimit, Retry, Task, TaskError, fan_out,
};
use runner_core_benches::{BenchError, TIMEOUT, ready, runtime, time, yielding};

/// Longer than any bench's attempt: the hedge is armed, never started.
const HEDGE_AFTER: Duration = Duration::from_millis(50);
/// Never opens: every attempt succeeds.
const BREAKER: Breaker = Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5));
/// Never full: at most two calls are in flight.
const LIMIT: Limit = Limit::new(32);

/// A policy with no rules: what going through `Policy` costs by itself.
static EMPTY: LazyLock<Policy> = LazyLock::new(|| Policy::builder().build().unwrap());
static RETRY: LazyLock<Policy> =
    LazyLock::new(|| Policy::builder().retry(Retry::new(3)).build().unwrap());
/// Each attempt under its own timer, never reached.
static RETRY_ATTEMPT_TIMEOUT: LazyLock<Policy> = LazyLock::new(|| {
    let retry = Retry::new(3).attempt_timeout(Duration::from_millis(500));
    Policy::builder().retry(retry).build().unwrap()
});
static HEDGE: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .hedge(runner_core::Hedge::new(HEDGE_AFTER).max(1))
        .build()
        .unwrap()
});
static BREAKER_ONLY: LazyLock<Policy> =
    LazyLock::new(|| Policy::builder().breaker(BREAKER).build().unwrap());
/// A count-based window of the last 100 calls: every success is recorded in it.
static BREAKER_COUNT: LazyLock<Policy> = LazyLock::new(|| {
    let breaker = Breaker::count_based(100, Duration::from_secs(5));
    Policy::builder().breaker(breaker).build().unwrap()
});
/// A time-based window judging slow calls too: every success is timed and recorded.
static BREAKER_TIME_SLOW: LazyLock<Policy> = LazyLock::new(|| {
    let breaker = Breaker::time_based(Duration::from_secs(10), Duration::from_secs(5))
        .slow_calls(Duration::from_millis(500), 0.8);
    Policy::builder().breaker(breaker).build().unwrap()
});
/// Never waits: a billion calls a second, a million at once. Every call reads the clock and
/// takes its turn.
static RATE_LIMIT: LazyLock<Policy> = LazyLock::new(|| {
    let limit = RateLimit::new(1_000_000_000, Duration::from_secs(1)).burst(1_000_000);
    Policy::builder().rate_limit(limit).build().unwrap()
});
/// Learned from 20, up to 1000: never full at two calls in flight, and every call ends as a
/// sample (the window's histogram, under the limit's lock).
static LIMIT_ADAPTIVE: LazyLock<Policy> = LazyLock::new(|| {
    let limit = Limit::adaptive(Adaptive::new());
    Policy::builder().limit(limit).build().unwrap()
});
static LIMIT_ONLY: LazyLock<Policy> =
    LazyLock::new(|| Policy::builder().limit(LIMIT).build().unwrap());
/// A coalescing group: each call's key is its work's value, so a call alone leads its flight,
/// and in `fan_out_2` the two calls have keys of their own.
static COALESCE: LazyLock<Coalesce<u64, u64, BenchError>> = LazyLock::new(Coalesce::new);
/// The same group, for the calls of `coalesced`: both with one key, so that one leads and
/// the other waits and takes a clone of its result.
static SHARED: LazyLock<Coalesce<u64, u64, BenchError>> = LazyLock::new(Coalesce::new);
static ALL: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .retry(Retry::new(3))
        .hedge(runner_core::Hedge::new(HEDGE_AFTER).max(1))
        .breaker(BREAKER)
        .limit(LIMIT)
        .build()
        .unwrap()
});

/// Never called: every attempt succeeds.
fn fallback(_: &TaskError<BenchError>) -> u64 {
    0
}

/// A critical task named `t` doing `$work`, under the policy `$policy`.
macro_rules! task {
    (bare, $work:expr) => {
        Task::critical("t", $work)
    };
    (empty_policy, $work:expr) => {
        EMPTY.critical("t", move || $work)
    };
    (retry, $work:expr) => {
        RETRY.critical("t", move || $work)
    };
    (retry_attempt_timeout, $work:expr) => {
        RETRY_ATTEMPT_TIMEOUT.critical("t", move || $work)
    };
    (hedge, $work:expr) => {
        HEDGE.critical("t", move || $work)
    };
    (breaker, $work:expr) => {
        BREAKER_ONLY.critical("t", move || $work)
    };
    (breaker_count, $work:expr) => {
        BREAKER_COUNT.critical("t", move || $work)
    };
    (breaker_time_slow, $work:expr) => {
        BREAKER_TIME_SLOW.critical("t", move || $work)
    };
    (limit, $work:expr) => {
        LIMIT_ONLY.critical("t", move || $work)
    };
    (limit_adaptive, $work:expr) => {
        LIMIT_ADAPTIVE.critical("t", move || $work)
    };
    (rate_limit, $work:expr) => {
        RATE_LIMIT.critical("t", move || $work)
    };
    (fallback, $work:expr) => {
        EMPTY.task::<Critical, _, _, _, _, _>("t", move || $work, Options::new().fallback(fallback))
    };
    (coalesce, $work:ident($key:literal)) => {
        Task::critical("t", $work($key)).coalesce(&*COALESCE, $key)
    };
    (all, $work:expr) => {
        ALL.task::<Critical, _, _, _, _, _>("t", move || $work, Options::new().fallback(fallback))
    };
}

macro_rules! policies {
    ($c:expr, $rt:expr, $($policy:ident)+) => {{
        for (scenario, yields) in [("ready", false), ("yield_once", true)] {
            let mut group = $c.benchmark_group(format!("policy/{scenario}/await"));
            $(
                group.bench_function(stringify!($policy), |b| {
                    time(b, $rt, || async move {
                        let value = match yields {
                            false => task!($policy, ready(1)).await,
                            true => task!($policy, yielding(1)).await,
                        };
                        black_box(value.unwrap());
                    })
                });
            )+
            group.finish();

            let mut group = $c.benchmark_group(format!("policy/{scenario}/fan_out_2"));
            $(
                group.bench_function(stringify!($policy), |b| {
                    time(b, $rt, || async move {
                        let slots = match yields {
                            false => fan_out!(task!($policy, ready(0)), task!($policy, ready(1))).await,
                            true => fan_out!(task!($policy, yielding(0)), task!($policy, yielding(1))).await,
                        };
                        black_box(slots.unwrap());
                    })
                });
            )+
            group.finish();
        }

        let mut group = $c.benchmark_group("policy/yield_once_timeout/await");
        $(
            group.bench_function(stringify!($policy), |b| {
                time(b, $rt, || async {
                    let value = task!($policy, yielding(1)).timeout(TIMEOUT).await;
                    black_box(value.unwrap());
                })
            });
        )+
        group.finish();
    }};
}

fn policies(c: &mut Criterion) {
    let rt = &runtime();
    policies!(c, rt, bare empty_policy retry retry_attempt_timeout hedge breaker breaker_count breaker_time_slow limit limit_adaptive rate_limit coalesce fallback all);
}

/// Two calls with one key in one `fan_out!`: one runs its work, the other waits for it and
/// takes a clone, against the two calls each running its own (`policy/.../fan_out_2/bare`).
fn coalesced(c: &mut Criterion) {
    let rt = &runtime();
    let mut group = c.benchmark_group("policy/coalesced/fan_out_2");
    for (scenario, yields) in [("ready", false), ("yield_once", true)] {
        group.bench_function(scenario, |b| {
            time(b, rt, || async move {
                let call = || {
                    let work = async move {
                        match yields {
                            false => ready(1).await,
                            true => yielding(1).await,
                        }
                    };
                    Task::critical("t", work).coalesce(&*SHARED, 1)
                };
                black_box(fan_out!(call(), call()).await.unwrap());
            })
        });
    }
    group.finish();
}

/// A policy event with no observer and no `tracing` subscriber: what every retry, hedge,
/// refusal and breaker change pays when nobody listens.
fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy/event");
    group.bench_function("no_listener", |b| {
        b.iter(|| runner_core::__private::emit_for_bench(black_box(&ALL)))
    });
    group.finish();
}

criterion_group!(benches, policies, coalesced, events);
criterion_main!(benches);
