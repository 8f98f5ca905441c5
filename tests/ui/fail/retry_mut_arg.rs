use runner_core::task;

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

// Each attempt gets its own copy of the arguments, and a `&mut` cannot be copied.
#[task(critical, retry(attempts = 3))]
async fn fill(buffer: &mut Vec<u8>) -> Result<usize, WalletError> {
    buffer.push(1);
    Ok(buffer.len())
}

fn main() {}
