use runner_core::policy::Coalesce;
use runner_core::task;

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

static CARDS: std::sync::LazyLock<Coalesce<u64, u64, CardError>> =
    std::sync::LazyLock::new(Coalesce::new);

#[task(best_effort, coalesce(key = user_id, group = CARDS, capacity = 100))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
