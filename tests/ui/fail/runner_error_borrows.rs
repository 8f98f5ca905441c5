use runner_core::{Task, TaskRunner};

#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable: {0}")]
struct WalletError<'a>(&'a str);

fn add_balance<'a>(runner: &mut TaskRunner<'a>, reason: &'a str) {
    let _balance = runner.add(Task::critical("balance", async move {
        Err::<u64, _>(WalletError(reason))
    }));
}

fn main() {}
