use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn balance() -> Result<u64, Unavailable> {
    Ok(1)
}

#[task(best_effort)]
async fn card() -> Result<u32, Unavailable> {
    Ok(2)
}

async fn handler() -> Result<u64, runner_core::FanOutError> {
    let (balance, card) = fan_out!(balance(), card());
    let _ = card;
    Ok(balance)
}

async fn with_question_mark() -> Result<u64, runner_core::FanOutError> {
    let (balance, _card) = fan_out!(balance(), card())?;
    Ok(balance)
}

fn main() {
    let _ = handler();
    let _ = with_question_mark();
}
