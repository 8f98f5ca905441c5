use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("jobs unavailable")]
struct JobsError;

// Judges the error, not the value.
fn pending(_: &JobsError) -> bool {
    true
}

#[task(critical, retry(attempts = 3, when_value = pending))]
async fn job_status(id: u64) -> Result<String, JobsError> {
    Ok(format!("job {id}: done"))
}

fn main() {}
