use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("card unavailable")]
struct CardError;

#[task(best_effort, breaker(window = 100, cooldown = "5s", cooldown_growth = 2.0))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
