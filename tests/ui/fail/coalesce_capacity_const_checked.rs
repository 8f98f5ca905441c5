use runner_core::task;

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

const NO_KEYS: usize = 0;

#[task(best_effort, coalesce(key = user_id, capacity = NO_KEYS))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
