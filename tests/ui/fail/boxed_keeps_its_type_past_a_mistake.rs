use runner_core::{BestEffort, BoxTask, task};

#[derive(Debug, thiserror::Error)]
#[error("promo unavailable")]
struct Unavailable;

trait Promos {
    fn promo(&self, user_id: u64) -> BoxTask<'_, u32, Unavailable, BestEffort>;
}

struct Fixed;

impl Promos for Fixed {
    // One error, at the timeout: the fn still returns the trait's `BoxTask`.
    #[task(best_effort, boxed, timeout = "soon")]
    async fn promo(&self, user_id: u64) -> Result<u32, Unavailable> {
        Ok(user_id as u32)
    }
}

fn main() {}
