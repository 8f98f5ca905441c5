use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

// The expansion takes the tuple as a hidden argument and destructures it inside the task's
// future; hygiene keeps that argument out of the body's reach.
#[task(critical)]
async fn sum((a, b): (u64, u64)) -> Result<u64, Unavailable> {
    let _ = __task_arg0;
    Ok(a + b)
}

fn main() {}
