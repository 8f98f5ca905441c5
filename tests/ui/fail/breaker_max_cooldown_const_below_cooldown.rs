use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("card unavailable")]
struct CardError;

const MAX: std::time::Duration = std::time::Duration::from_secs(1);

#[task(best_effort, breaker(window = 100, cooldown = "5s", max_cooldown = MAX))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
