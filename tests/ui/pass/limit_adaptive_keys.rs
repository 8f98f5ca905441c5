//! Every form of `limit(...)`: fixed, adaptive with its defaults, adaptive with every key
//! (literals and `const`s); each per-fn default equals the `Limit` built by hand, and
//! critical calls through one go first.

use runner_core::{Adaptive, Limit, policy::defaults, task};

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

const FLOOR: u32 = 2;
const CEILING: usize = 50;

#[task(best_effort, limit(max = 8, reject))]
async fn get_offers(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, limit(adaptive))]
async fn get_promo(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, limit(adaptive, initial = 5, min = FLOOR, max = CEILING, backoff = 0.8, reject))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn limit_of(task: &str) -> Limit {
    let policy = defaults::of(task).expect("registered");
    policy.settings().limit.expect("a limit")
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(limit_of("get_offers"), Limit::new(8).reject_when_full());
    assert_eq!(limit_of("get_promo"), Limit::adaptive(Adaptive::new()));
    assert_eq!(
        limit_of("get_scratch_card"),
        Limit::adaptive(Adaptive::new().initial(5).bounds(FLOOR, CEILING as u32).backoff(0.8))
            .reject_when_full()
    );
    assert_eq!(defaults::of("get_scratch_card").unwrap().limit_now(), Some(5));
    assert_eq!(get_offers(1).await.unwrap(), 1);
    assert_eq!(get_promo(2).await.unwrap(), 2);
    assert_eq!(get_scratch_card(3).await.unwrap(), 3);
}
