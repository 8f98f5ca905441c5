//! `policy = <expr>` in each form an application writes it, and `const` paths for durations
//! and numbers. A place is borrowed, any other expression's value is moved into the task;
//! each instance then has its own breaker.

#![deny(warnings)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use runner_core::{Breaker, BreakerState, Policy, Retry, TaskError, fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

const WALLET_TIMEOUT: Duration = Duration::from_millis(200);
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(5);
const IN_FLIGHT: usize = 16;

static SHARED: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .retry(Retry::new(2))
        .build()
        .unwrap()
});

fn breaker() -> Policy {
    Policy::builder()
        .breaker(Breaker::new(1, Duration::from_secs(10), Duration::from_secs(5)))
        .build()
        .unwrap()
}

fn no_card(_: &TaskError<Unavailable>) -> u32 {
    0
}

fn transient(_: &Unavailable) -> bool {
    true
}

struct Backend {
    owned: Policy,
    shared: Arc<Policy>,
    by_host: HashMap<&'static str, Arc<Policy>>,
    calls: AtomicU32,
}

impl Backend {
    fn new() -> Self {
        Self {
            owned: breaker(),
            shared: Arc::new(breaker()),
            by_host: HashMap::from([("a", Arc::new(breaker()))]),
            calls: AtomicU32::new(0),
        }
    }

    // A field that is a `Policy`: borrowed.
    #[task(critical, timeout = WALLET_TIMEOUT, policy = self.owned)]
    async fn balance(&self) -> Result<u64, Unavailable> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Unavailable),
            _ => Ok(7),
        }
    }

    // A field that is an `Arc<Policy>`: borrowed too.
    #[task(best_effort, policy = self.shared, fallback = no_card, retry_if = transient)]
    async fn card(&self) -> Result<u32, Unavailable> {
        Err(Unavailable)
    }

    // A call's value: moved into the task.
    #[task(critical, policy = self.by_host.get(host).cloned().unwrap(), breaker_if = transient)]
    async fn on_host(&self, host: &'static str) -> Result<&'static str, Unavailable> {
        Ok(host)
    }
}

// A `LazyLock`, by path or by reference.
#[task(critical, policy = SHARED)]
async fn by_path(n: u32) -> Result<u32, Unavailable> {
    Ok(n)
}

#[task(critical, policy = &SHARED)]
async fn by_reference(n: u32) -> Result<u32, Unavailable> {
    Ok(n)
}

// A fn argument that is the policy (a reference, an `Arc`): moved into the task.
#[task(critical, policy = policy)]
async fn by_argument(policy: &Policy, n: u32) -> Result<u32, Unavailable> {
    let _ = policy.name();
    Ok(n)
}

#[task(best_effort, policy = policy)]
async fn by_arc(policy: Arc<Policy>, n: u32) -> Result<u32, Unavailable> {
    Ok(n + u32::from(policy.name().is_empty()))
}

// `const` paths in the literal keys.
#[task(
    critical,
    timeout = WALLET_TIMEOUT,
    retry(attempts = ATTEMPTS, backoff = BACKOFF, max_backoff = WALLET_TIMEOUT),
    limit = IN_FLIGHT
)]
async fn by_consts(n: u32) -> Result<u32, Unavailable> {
    Ok(n)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let (first, second) = (Backend::new(), Backend::new());
    // The first instance's failure opens its own breaker only.
    assert!(first.balance().await.is_err());
    assert_eq!(first.owned.breaker_state(), Some(BreakerState::Open));
    assert_eq!(second.owned.breaker_state(), Some(BreakerState::Closed));
    second.calls.store(1, Ordering::SeqCst);
    assert_eq!(second.balance().await.unwrap(), 7);

    let (card, host, a, b, c) = fan_out!(
        first.card(),
        first.on_host("a"),
        by_path(1),
        by_reference(2),
        by_consts(3),
    )
    .await
    .unwrap();
    assert_eq!((card.unwrap(), host, a, b, c), (0, "a", 1, 2, 3));
    assert_eq!(by_argument(&SHARED, 4).await.unwrap(), 4);
    assert_eq!(by_arc(Arc::new(breaker()), 4).await.unwrap(), 5);
}
