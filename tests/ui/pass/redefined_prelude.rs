//! Generated code uses absolute paths only: it survives prelude names redefined in scope.

#![deny(warnings)]

#![allow(dead_code, non_camel_case_types)]

use runner_core::{fan_out, task};

type Result = ();
type Option = ();
type Some = ();
type None = ();
type Ok = ();
type Err = ();
type Box = ();
type Future = ();
type Duration = ();
type Task = ();
type FanOut = ();
struct core;
struct runner_core_private;
trait Hash {}
trait Eq {}
trait Clone {}
trait ToOwned {}
trait Send {}

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical, timeout = "200ms")]
async fn get_balance(id: u64) -> std::result::Result<u64, Unavailable> {
    std::result::Result::Ok(id)
}

#[task(best_effort, timeout = "1s 500ms", coalesce(key = id))]
async fn get_card(id: u64) -> std::result::Result<u64, std::sync::Arc<Unavailable>> {
    std::result::Result::Ok(id + 1)
}

static CARDS: std::sync::LazyLock<runner_core::policy::Coalesce<u64, u64, Clonable>> =
    std::sync::LazyLock::new(runner_core::policy::Coalesce::new);

#[derive(Debug, Clone, thiserror::Error)]
#[error("unavailable")]
struct Clonable;

#[task(best_effort, coalesce(key = id, group = CARDS))]
async fn get_shared_card(id: u64) -> std::result::Result<u64, Clonable> {
    std::result::Result::Ok(id + 2)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    runtime.block_on(async {
        let token = runner_core::CancellationToken::new();
        let (balance, card, shared) =
            fan_out!(deadline = "300ms", cancel = token; get_balance(1), get_card(1), get_shared_card(1))
                .await
                .unwrap();
        assert_eq!((balance, card.unwrap(), shared.unwrap()), (1, 2, 3));
        let (result, report) = fan_out!(report; get_balance(5)).await;
        assert_eq!(result.unwrap().0, 5);
        assert_eq!(report.tasks().len(), 1);
    });
}
