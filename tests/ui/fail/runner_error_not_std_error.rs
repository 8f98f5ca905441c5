use runner_core::{Task, TaskRunner};

#[derive(Debug)]
struct WalletError;

fn main() {
    let mut runner = TaskRunner::new();
    let _balance = runner.add(Task::critical("balance", async { Err::<u64, _>(WalletError) }));
}
