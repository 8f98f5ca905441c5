use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("jobs unavailable")]
struct JobsError;

fn pending(status: &String) -> bool {
    status == "pending"
}

#[task(critical, retry(attempts = 3), retry_if_value = pending)]
async fn job_status(id: u64) -> Result<String, JobsError> {
    Ok(format!("job {id}: done"))
}

fn main() {}
