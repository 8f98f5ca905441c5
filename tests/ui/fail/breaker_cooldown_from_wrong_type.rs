use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("card unavailable")]
struct CardError;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

fn retry_after(_: &WalletError) -> Option<std::time::Duration> {
    None
}

#[task(best_effort, breaker(window = 100, cooldown = "5s", cooldown_from = retry_after))]
async fn get_scratch_card(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

fn main() {}
