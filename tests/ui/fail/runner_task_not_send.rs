use std::rc::Rc;

use runner_core::{Task, TaskRunner};

fn main() {
    let shared = Rc::new(7_u64);
    let mut runner = TaskRunner::new();
    let _balance = runner.add(Task::critical("balance", async move {
        Ok::<u64, std::io::Error>(*shared)
    }));
}
