//! The signatures a task fn may have: every receiver, attributes on the fn, its body and
//! its arguments, aliases of `Result`, borrowed returns, `impl Trait` in the output, generic
//! errors, raw names, and a trait whose impl is made of tasks. Warnings are errors here, so
//! the expansion adds none.

#![deny(warnings)]

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use runner_core::{fan_out, task, Critical, Task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

struct Wallet {
    name: String,
    calls: u32,
}

impl Wallet {
    #[task(critical)]
    async fn by_ref(&self) -> Result<usize, Unavailable> {
        Ok(self.name.len())
    }

    #[task(critical)]
    async fn by_mut(&mut self) -> Result<u32, Unavailable> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[task(critical)]
    async fn by_value(mut self) -> Result<u32, Unavailable> {
        self.calls += 10;
        Ok(self.calls)
    }

    #[task(critical)]
    async fn boxed(self: Box<Self>) -> Result<String, Unavailable> {
        Ok(self.name)
    }

    #[task(critical)]
    async fn pinned(self: Pin<&mut Self>) -> Result<u32, Unavailable> {
        Ok(self.calls)
    }

    /// A borrowed return, tied to `&self` by the usual elision.
    #[task(critical)]
    async fn name(&self) -> Result<&str, Unavailable> {
        Ok(&self.name)
    }
}

#[task(best_effort)]
async fn io_alias(path: &str) -> std::io::Result<usize> {
    Ok(path.len())
}

#[task(best_effort)]
async fn opaque_output() -> Result<impl Display, Unavailable> {
    Ok(5_u8)
}

#[task(critical)]
async fn generic_error<E>(fail: bool, error: E) -> Result<u8, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    if fail { Err(error) } else { Ok(1) }
}

#[task(critical)]
async fn r#type(#[cfg(any())] never: u32, kept: u32) -> Result<u32, Unavailable> {
    #![allow(clippy::let_and_return)]
    let doubled = kept * 2;
    doubled
        .checked_add(0)
        .ok_or(Unavailable)
}

trait Balances {
    fn balance(&self, user_id: u64) -> Task<impl Future<Output = Result<u64, Unavailable>> + Send, Critical>;
}

impl Balances for Wallet {
    #[task(critical, timeout = "100ms")]
    async fn balance(&self, user_id: u64) -> Result<u64, Unavailable> {
        Ok(user_id + u64::from(self.calls))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut wallet = Wallet { name: "main".to_owned(), calls: 0 };
    assert_eq!(wallet.by_ref().await.unwrap(), 4);
    assert_eq!(wallet.by_mut().await.unwrap(), 1);
    assert_eq!(Pin::new(&mut wallet).pinned().await.unwrap(), 1);
    assert_eq!(wallet.name().await.unwrap(), "main");
    let (balance, name) = fan_out!(wallet.balance(1), wallet.name()).await.unwrap();
    assert_eq!((balance, name), (2, "main"));
    assert_eq!(r#type(3).name(), "type");
    assert_eq!(r#type(3).await.unwrap(), 6);
    assert_eq!(io_alias("/tmp").await.unwrap(), 4);
    assert_eq!(opaque_output().await.unwrap().to_string(), "5");
    assert!(generic_error(true, Unavailable).await.is_err());
    assert_eq!(Box::new(Wallet { name: "boxed".to_owned(), calls: 0 }).boxed().await.unwrap(), "boxed");
    assert_eq!(wallet.by_value().await.unwrap(), 11);
}
