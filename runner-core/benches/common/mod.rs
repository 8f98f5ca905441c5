//! What the benches share: the work each task does, and a timing loop inside one runtime.

#![allow(missing_docs)]

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::Bencher;
use tokio::runtime::Runtime;

/// The error every bench task may fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BenchError {
    #[error("failed")]
    Failed,
    #[error("timed out")]
    TimedOut,
}

/// Ready at once.
pub async fn ready(value: u64) -> Result<u64, BenchError> {
    Ok(value)
}

/// Pending once, then ready: the task goes through a wake-up.
pub async fn yielding(value: u64) -> Result<u64, BenchError> {
    tokio::task::yield_now().await;
    Ok(value)
}

/// Fails after one yield.
pub async fn failing() -> Result<u64, BenchError> {
    tokio::task::yield_now().await;
    Err(BenchError::Failed)
}

/// Never ready.
pub async fn pending() -> Result<u64, BenchError> {
    std::future::pending().await
}

/// The timeouts and deadline of the "with timeouts" scenario: never reached, only armed.
pub const TIMEOUT: Duration = Duration::from_secs(1);
pub const DEADLINE: Duration = Duration::from_secs(2);

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
}

/// Times `iters` runs of `run()` inside one `block_on`, so that entering the runtime is not
/// part of what is measured.
pub fn time<F, Fut>(bencher: &mut Bencher<'_>, runtime: &Runtime, run: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    bencher.iter_custom(|iters| {
        runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                run().await;
            }
            start.elapsed()
        })
    });
}
