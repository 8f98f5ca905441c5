use runner_core::task;

#[task(critical)]
async fn with_anyhow(user_id: u64) -> Result<u64, anyhow::Error> {
    Ok(user_id)
}

#[task(best_effort)]
async fn with_box(user_id: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(user_id)
}

fn main() {}
