use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[derive(Debug, thiserror::Error)]
#[error("not shareable")]
struct LocalError(std::rc::Rc<u8>);

#[task(best_effort)]
async fn get_balance(user_id: u64) -> Result<u64, LocalError> {
    Ok(user_id)
}

fn main() {}
