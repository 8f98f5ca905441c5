use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("directory unavailable")]
struct Unavailable;

struct Names;

impl Names {
    #[task(best_effort, boxed)]
    async fn lookup(&self, key: &str) -> Result<usize, Unavailable> {
        Ok(key.len())
    }
}

fn main() {}
