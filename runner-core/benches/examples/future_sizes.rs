//! The sizes of a policy task and of its future, beside the bare task's, for an attempt that
//! holds nothing and for one that holds 1 KiB across an await; and of a static fan-out with
//! timeouts beside the hand-written equivalent:
//! `cargo run --release -p runner-core-benches --example future_sizes`.

use std::future::IntoFuture;
use std::sync::LazyLock;
use std::time::Duration;

use runner_core::{
    Breaker, Critical, FanOut, Hedge, Limit, Options, Policy, Retry, Task, TaskError,
};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

static ALL: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .retry(Retry::new(3))
        .hedge(Hedge::new(Duration::from_millis(50)))
        .breaker(Breaker::new(
            5,
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
        .limit(Limit::new(32))
        .build()
        .unwrap()
});

fn fallback(_: &TaskError<Unavailable>) -> u64 {
    0
}

/// The same call through `#[task(policy = ...)]`, with an argument.
#[runner_core::task(critical, policy = ALL, fallback = fallback)]
async fn through_the_macro(n: u64) -> Result<u64, Unavailable> {
    Ok(n)
}

fn main() {
    let work = || async { Ok::<u64, Unavailable>(1) };
    let bare = Task::critical("t", work());
    let policy = ALL.task::<Critical, _, _, _, _, _>("t", work, Options::new().fallback(fallback));
    println!("bare task:   {} bytes", size_of_val(&bare));
    println!("policy task: {} bytes", size_of_val(&policy));
    println!("bare future:   {} bytes", size_of_val(&bare.into_future()));
    println!(
        "policy future: {} bytes",
        size_of_val(&policy.into_future())
    );
    let macro_task = through_the_macro(1);
    println!(
        "#[task(policy = ...)] future: {} bytes",
        size_of_val(&macro_task.into_future())
    );
    // An attempt that holds 1 KiB across an await, as an HTTP call's future does.
    let big = || async {
        let buffer = [7_u8; 1024];
        tokio::task::yield_now().await;
        Ok::<u64, Unavailable>(u64::from(buffer[0]))
    };
    let bare = Task::critical("t", big());
    let policy = ALL.task::<Critical, _, _, _, _, _>("t", big, Options::new().fallback(fallback));
    println!(
        "1 KiB attempt, bare future:   {} bytes",
        size_of_val(&bare.into_future())
    );
    println!(
        "1 KiB attempt, policy future: {} bytes",
        size_of_val(&policy.into_future())
    );
    fan_out_sizes();
}

/// A fan-out of three tasks with timeouts and a deadline, beside the hand-written
/// `try_join!` of `timeout`s under an overall `timeout`, both before their first poll.
fn fan_out_sizes() {
    let t = Duration::from_millis(100);
    let work = || async {
        tokio::task::yield_now().await;
        Ok::<u64, Unavailable>(1)
    };
    let fan_out = FanOut::new((
        Task::critical("a", work()).timeout(t),
        Task::critical("b", work()).timeout(t),
        Task::best_effort("c", work()).timeout(t),
    ))
    .deadline(t);
    println!(
        "fan-out of 3 with timeouts: {} bytes",
        size_of_val(&fan_out)
    );
    // A `Sleep` is made, not polled, in `timeout`: it needs a runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    let _entered = runtime.enter();
    let hand_written = tokio::time::timeout(t, async move {
        tokio::try_join!(
            tokio::time::timeout(t, work()),
            tokio::time::timeout(t, work()),
            tokio::time::timeout(t, work())
        )
    });
    println!(
        "hand-written try_join! of 3 timeouts: {} bytes",
        size_of_val(&hand_written)
    );
}
