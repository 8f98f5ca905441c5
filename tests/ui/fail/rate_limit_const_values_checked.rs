use std::time::Duration;

use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

const TWO_HOURS: Duration = Duration::from_secs(7_200);
const NO_BURST: u32 = 0;
const A_LOT: u32 = 2_000_000_000;
const NO_TIME: Duration = Duration::ZERO;

#[task(best_effort, rate_limit(max = 10, per = TWO_HOURS))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, rate_limit(max = 10, burst = NO_BURST))]
async fn get_promo(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, rate_limit(max = A_LOT))]
async fn get_offers(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, rate(10, per = NO_TIME))]
async fn get_coupons(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {
    let _ = get_coupons(1);
    let _ = get_scratch_card(1);
    let _ = get_promo(1);
    let _ = get_offers(1);
}
