//! `#[task]` on methods taking `&self`, on generic fns, with borrowed arguments and patterns.

#![deny(warnings)]

use std::fmt::Debug;

use runner_core::{fan_out, task};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

struct Wallet {
    rate: u64,
}

impl Wallet {
    #[task(critical, timeout = "200ms")]
    async fn balance(&self, user: &str) -> Result<u64, Unavailable> {
        Ok(self.rate * user.len() as u64)
    }

    #[task(best_effort, name = "wallet.history")]
    async fn history<'a>(&'a self, days: &'a [u32], _unused: &str) -> Result<Vec<u32>, Unavailable> {
        Ok(days.iter().map(|day| day * self.rate as u32).collect())
    }
}

#[task(best_effort)]
async fn describe<T: Debug + Send>(value: T) -> Result<String, Unavailable> {
    Ok(format!("{value:?}"))
}

#[task(critical)]
async fn sum((a, b): (u64, u64), mut extra: u64) -> Result<u64, Unavailable> {
    extra += 1;
    Ok(a + b + extra)
}

#[task(critical)]
async fn with_callback(f: impl Fn(&str) -> usize + Send, text: &str) -> Result<usize, Unavailable> {
    Ok(f(text))
}

#[task(critical)]
async fn early_return(fail: bool) -> Result<u8, Unavailable> {
    if fail {
        return Err(Unavailable);
    }
    let value: u8 = "7".parse().map_err(|_| Unavailable)?;
    Ok(value)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let wallet = Wallet { rate: 10 };
    let user = String::from("ada");
    let days = vec![1, 2];
    let (balance, history, text, total, length, early) = fan_out!(
        wallet.balance(&user),
        wallet.history(&days, "x"),
        describe(Some(3_u8)),
        sum((1, 2), 3),
        with_callback(|s: &str| s.len(), "four"),
        early_return(false),
    )
    .await
    .unwrap();
    assert_eq!(balance, 30);
    assert_eq!(history.unwrap(), [10, 20]);
    assert_eq!(text.unwrap(), "Some(3)");
    assert_eq!((total, length, early), (7, 4, 7));
    assert_eq!(wallet.history(&days, "x").name(), "wallet.history");
    assert!(early_return(true).await.is_err());
}
