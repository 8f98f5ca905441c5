//! Every key of `breaker(...)`: both windows, literals and `const`s, the first form, and the
//! error's own break; each per-fn default equals the `Breaker` built by hand.

use std::time::Duration;

use runner_core::{Breaker, BreakerState, Rejection, TaskError, policy::defaults, task};

#[derive(Debug, thiserror::Error)]
enum CardError {
    #[error("busy, retry after {0:?}")]
    Busy(Duration),
    #[error("not found")]
    NotFound,
}

fn retry_after(error: &CardError) -> Option<Duration> {
    match error {
        CardError::Busy(after) => Some(*after),
        CardError::NotFound => None,
    }
}

fn counts(error: &CardError) -> bool {
    matches!(error, CardError::Busy(_))
}

const WINDOW: Duration = Duration::from_secs(10);
const SLOW: Duration = Duration::from_millis(500);
const TRIAL: u32 = 3;

#[task(
    best_effort,
    breaker(
        window = 100,
        cooldown = "5s",
        minimum_calls = 20,
        failure_rate = 0.5,
        slow = SLOW,
        slow_rate = 0.8,
        half_open_calls = TRIAL,
        half_open_successes = 0.66,
        cooldown_growth = 2.0,
        max_cooldown = "1m",
        cooldown_from = retry_after,
        when = counts,
    )
)]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    match user_id {
        0 => Err(CardError::Busy(Duration::from_secs(30))),
        id => Ok(id),
    }
}

#[task(best_effort, breaker(window = WINDOW, cooldown = "5s", failures = 3, rate = 0.5))]
async fn get_promo(user_id: u64) -> Result<u64, CardError> {
    match user_id {
        0 => Err(CardError::NotFound),
        id => Ok(id),
    }
}

#[task(best_effort, breaker(window = "10s", cooldown = "5s"))]
async fn get_offers(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn breaker_of(task: &str) -> Breaker {
    let policy = defaults::of(task).expect("registered");
    policy.settings().breaker.expect("a breaker")
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let ms = Duration::from_millis;
    assert_eq!(
        breaker_of("get_scratch_card"),
        Breaker::count_based(100, ms(5_000))
            .minimum_calls(20)
            .failure_rate(0.5)
            .slow_calls(SLOW, 0.8)
            .half_open(TRIAL, 0.66)
            .cooldown_grows(2.0, ms(60_000))
    );
    assert_eq!(
        breaker_of("get_promo"),
        Breaker::new(3, WINDOW, ms(5_000)).rate(0.5)
    );
    assert_eq!(
        breaker_of("get_offers"),
        Breaker::time_based(WINDOW, ms(5_000))
    );

    // Twenty busy answers open the card's breaker, for the 30 s the last one asked for.
    for _ in 0..20 {
        assert!(matches!(get_scratch_card(0).await, Err(TaskError::Failed(_))));
    }
    let card = defaults::of("get_scratch_card").unwrap();
    assert_eq!(card.breaker_state(), Some(BreakerState::Open));
    tokio::time::sleep(ms(29_999)).await;
    assert!(matches!(
        get_scratch_card(7).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    ));
    tokio::time::sleep(ms(1)).await;
    assert_eq!(card.breaker_state(), Some(BreakerState::HalfOpen));
    assert_eq!(get_scratch_card(7).await.unwrap(), 7);
    assert_eq!(get_promo(7).await.unwrap(), 7);
    assert_eq!(get_offers(7).await.unwrap(), 7);
}
