use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("profile unavailable")]
struct ProfileError;

#[task(critical, label = ids)]
async fn profile(ids: Vec<u64>) -> Result<u64, ProfileError> {
    Ok(ids.len() as u64)
}

fn main() {}
