use runner_core::task;

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

#[task(best_effort, coalesce(key = user_id, key = user_id))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
