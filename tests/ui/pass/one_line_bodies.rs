//! One-line bodies, with and without policies, raise no `unused_braces` lint.

#![deny(warnings)]

use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn plain() -> Result<u8, Unavailable> { Ok(1) }

#[task(critical, retry(attempts = 2))]
async fn retried(value: u8) -> Result<u8, Unavailable> { Ok(value) }

#[task(best_effort, breaker(failures = 5, window = "10s", cooldown = "5s"))]
async fn guarded() -> Result<u8, Unavailable> { Ok(3) }

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(plain().await.unwrap(), 1);
    assert_eq!(retried(2).await.unwrap(), 2);
    assert_eq!(guarded().await.unwrap(), 3);
}
