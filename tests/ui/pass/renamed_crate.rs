//! `crate = "..."` for a crate that renamed `runner_core`.

#![deny(warnings)]

extern crate runner_core as renamed;

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[renamed::task(critical, crate = "renamed")]
async fn answer() -> Result<u8, Unavailable> {
    Ok(42)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (value,) = renamed::fan_out!(crate = "renamed"; answer()).await.unwrap();
    assert_eq!(value, 42);
}
