use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("card unavailable")]
struct CardError;

#[task(best_effort, retry(attempts = 2, attempt_timeout = "50ms"), hedge = "50ms")]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
