//! A wrong policy value is one error: the fn keeps its criticality, so its caller, which
//! treats the slot as best-effort, raises no second one.

use runner_core::{fan_out, task, TaskError};

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

#[task(best_effort, timeout = "150ms", retry(attempts = 0))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

async fn page() {
    let (card,): (Result<u64, TaskError<CardError>>,) = fan_out!(get_scratch_card(1)).await.unwrap();
    let _ = card;
}

fn main() {
    let _ = page();
}
