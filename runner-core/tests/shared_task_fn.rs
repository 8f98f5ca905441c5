//! A test suite whose tests share a task fn, each with an instance of its own: it passes in
//! any order, on one thread (`cargo test --test shared_task_fn -- --test-threads=1`, run by
//! `.ci/run`) or many. `every_order_passes` runs the scenarios in all six orders.
//!
//! With the per-fn default policy (`#[task(breaker(...))]`), the scenario that opens the
//! breaker would fail every scenario after it; `policy = self.policy` gives each its own.

use std::time::Duration;

use runner_core::{Breaker, BreakerState, Policy, Rejection, TaskError, task};
use tokio::time::sleep;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

struct Wallet {
    policy: Policy,
}

impl Wallet {
    fn new() -> Self {
        let policy = Policy::builder()
            .timeout(Duration::from_millis(100))
            .breaker(Breaker::new(
                2,
                Duration::from_secs(10),
                Duration::from_secs(30),
            ))
            .build()
            .unwrap();
        Self { policy }
    }

    /// The one task fn every scenario calls.
    #[task(critical, policy = self.policy)]
    async fn balance(&self, latency: Duration, fails: bool) -> Result<u32, Unavailable> {
        sleep(latency).await;
        match fails {
            true => Err(Unavailable),
            false => Ok(100),
        }
    }
}

async fn a_failing_backend_opens_its_breaker() {
    let wallet = Wallet::new();
    for _ in 0..2 {
        let failed = wallet.balance(Duration::from_millis(1), true).await;
        assert_eq!(failed, Err(TaskError::Failed(Unavailable)));
    }
    assert_eq!(wallet.policy.breaker_state(), Some(BreakerState::Open));
    let refused = wallet.balance(Duration::from_millis(1), false).await;
    assert_eq!(refused, Err(TaskError::Rejected(Rejection::BreakerOpen)));
}

async fn a_healthy_backend_answers() {
    let wallet = Wallet::new();
    assert_eq!(
        wallet.balance(Duration::from_millis(1), false).await,
        Ok(100)
    );
    assert_eq!(wallet.policy.breaker_state(), Some(BreakerState::Closed));
}

async fn a_slow_backend_times_out_once() {
    let wallet = Wallet::new();
    let slow = wallet.balance(Duration::from_millis(150), false).await;
    assert_eq!(slow, Err(TaskError::TimedOut(Duration::from_millis(100))));
    // One timeout is one failure of two: still closed.
    assert_eq!(wallet.policy.breaker_state(), Some(BreakerState::Closed));
    assert_eq!(
        wallet.balance(Duration::from_millis(1), false).await,
        Ok(100)
    );
}

#[tokio::test(start_paused = true)]
async fn failing() {
    a_failing_backend_opens_its_breaker().await;
}

#[tokio::test(start_paused = true)]
async fn healthy() {
    a_healthy_backend_answers().await;
}

#[tokio::test(start_paused = true)]
async fn slow() {
    a_slow_backend_times_out_once().await;
}

/// All six orders of the three scenarios, one after another on one thread, each in a fresh
/// runtime as a test gets.
#[test]
fn every_order_passes() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        for scenario in order {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                match scenario {
                    0 => a_failing_backend_opens_its_breaker().await,
                    1 => a_healthy_backend_answers().await,
                    _ => a_slow_backend_times_out_once().await,
                }
            });
        }
    }
}
