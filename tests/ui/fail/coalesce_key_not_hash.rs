use runner_core::task;

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

// Not `Hash` nor `Eq`: calls cannot be grouped by it.
#[derive(Clone)]
struct Region(String);

#[task(best_effort, coalesce(key = region))]
async fn get_scratch_card(region: Region) -> Result<String, CardError> {
    Ok(region.0)
}

fn main() {}
