use runner_core::policy::Coalesce;
use runner_core::task;

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

// A group for `String` keys, given to a fn keyed by `u64`.
static CARDS: std::sync::LazyLock<Coalesce<String, u64, CardError>> =
    std::sync::LazyLock::new(Coalesce::new);

#[task(best_effort, coalesce(key = user_id, group = CARDS))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
