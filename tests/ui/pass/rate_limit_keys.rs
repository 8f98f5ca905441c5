//! Every form of the rate limit's key: `rate_limit = N`, `rate(N, ...)`, `rate_limit(max =
//! ..., ...)`, literals and `const`s; each per-fn default equals the `RateLimit` built by
//! hand, and waits or refuses as it says.

use std::time::Duration;

use runner_core::{RateLimit, Rejection, TaskError, policy::defaults, task};

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

const PER: Duration = Duration::from_millis(500);
const BURST: u32 = 2;

#[task(best_effort, rate_limit = 100)]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, timeout = "150ms", rate(10, per = "1s", burst = 1))]
async fn get_promo(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, rate_limit(max = 5, per = PER, burst = BURST, reject))]
async fn get_offers(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn rate_limit_of(task: &str) -> RateLimit {
    let policy = defaults::of(task).expect("registered");
    policy.settings().rate_limit.expect("a rate limit")
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let ms = Duration::from_millis;
    assert_eq!(rate_limit_of("get_scratch_card"), RateLimit::per_second(100));
    assert_eq!(rate_limit_of("get_promo"), RateLimit::per_second(10).burst(1));
    assert_eq!(
        rate_limit_of("get_offers"),
        RateLimit::new(5, PER).burst(BURST).reject_when_empty()
    );

    assert_eq!(get_scratch_card(7).await.unwrap(), 7);
    // The promo's second call waits 100 ms for its turn; its third would wait past its
    // timeout, and is refused at once.
    let start = tokio::time::Instant::now();
    assert_eq!(get_promo(1).await.unwrap(), 1);
    assert_eq!(get_promo(2).await.unwrap(), 2);
    assert_eq!(start.elapsed(), ms(100));
    let (third, fourth) = tokio::join!(get_promo(3), get_promo(4));
    assert_eq!(third.unwrap(), 3);
    assert!(matches!(fourth, Err(TaskError::Rejected(Rejection::RateLimited))));
    // The offers' burst of two, then refusals until a turn comes back (one each 100 ms).
    assert_eq!(get_offers(1).await.unwrap(), 1);
    assert_eq!(get_offers(2).await.unwrap(), 2);
    assert!(matches!(
        get_offers(3).await,
        Err(TaskError::Rejected(Rejection::RateLimited))
    ));
    tokio::time::sleep(ms(100)).await;
    assert_eq!(get_offers(4).await.unwrap(), 4);
}
