use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
    Ok(user_id)
}

#[task(best_effort)]
async fn get_scratch_card(user_id: u64) -> Result<String, Unavailable> {
    Ok(user_id.to_string())
}

async fn handler() -> Result<(), runner_core::FanOutError> {
    let _ = fan_out!(get_balance(1), get_scratch_card(1)).await?;
    // `fan_out!` expands through `::runner_core::__private`; none of it is in scope here.
    let _ = into_task(get_balance(2));
    Ok(())
}

fn main() {}
