use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

const FLOOR: u32 = 20;
const START: u32 = 2_000;

#[task(best_effort, limit(adaptive, min = FLOOR, max = 10))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, limit(adaptive, initial = START))]
async fn get_promo(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {
    let _ = get_scratch_card(1);
    let _ = get_promo(1);
}
