use runner_core::{Policy, task};

#[derive(Debug, thiserror::Error)]
#[error("no card")]
struct CardError;

struct Cards {
    policy: Policy,
}

impl Cards {
    #[task(best_effort, policy = self.policy, rate(10, per = "1s"))]
    async fn get_scratch_card(&self, user_id: u64) -> Result<u64, CardError> {
        Ok(user_id)
    }
}

fn main() {}
