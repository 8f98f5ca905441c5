//! Policies from config files (the `serde` feature): TOML and JSON, humantime durations,
//! every error naming its field, and a changed file applied live.

#![cfg(feature = "serde")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use runner_core::{BreakerState, Policy, PolicyConfig, TaskError, task};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const WALLET: &str = r#"
    timeout = "200ms"

    [retry]
    attempts = 3
    backoff = "10ms"
    max_backoff = "1s"
    budget = 0.5
    budget_window = "10s"
    min_per_sec = 5

    [hedge]
    after = "50ms"
    max = 2

    [breaker]
    failures = 3
    window = "10s"
    cooldown = "5s"
    rate = 0.5

    [limit]
    max = 32
    reject = true
"#;

#[test]
fn toml_and_json_give_the_same_settings() {
    let toml: PolicyConfig = toml::from_str(WALLET).unwrap();
    let json: PolicyConfig = serde_json::from_str(
        r#"{
            "timeout": "200ms",
            "retry": { "attempts": 3, "backoff": "10ms", "max_backoff": "1s", "budget": 0.5,
                       "budget_window": "10s", "min_per_sec": 5 },
            "hedge": { "after": "50ms", "max": 2 },
            "breaker": { "failures": 3, "window": "10s", "cooldown": "5s", "rate": 0.5 },
            "limit": { "max": 32, "reject": true }
        }"#,
    )
    .unwrap();
    assert_eq!(toml, json);
    let settings = toml.settings().unwrap();
    assert_eq!(settings.timeout, Some(ms(200)));
    // And back: a config serializes to what it was read from.
    let again: PolicyConfig = toml::from_str(&toml::to_string(&toml).unwrap()).unwrap();
    assert_eq!(again, toml);
    // An empty file is a policy that does nothing.
    let empty: PolicyConfig = toml::from_str("").unwrap();
    assert_eq!(
        empty.settings().unwrap(),
        runner_core::PolicySettings::new()
    );
}

#[test]
fn each_error_names_its_field() {
    let field = |text: &str| {
        let config: PolicyConfig = toml::from_str(text).unwrap();
        config.settings().unwrap_err().field()
    };
    assert_eq!(field("timeout = \"0s\""), "timeout");
    assert_eq!(field("[retry]\nattempts = 0"), "retry.attempts");
    assert_eq!(
        field("[retry]\nattempts = 2\nbackoff = \"1s\"\nmax_backoff = \"10ms\""),
        "retry.max_backoff"
    );
    assert_eq!(
        field("[retry]\nattempts = 2\nbudget = 2000.0"),
        "retry.budget"
    );
    assert_eq!(
        field("[retry]\nattempts = 2\nbudget_window = \"2m\""),
        "retry.budget_window"
    );
    assert_eq!(field("[hedge]\nafter = \"10ms\"\nmax = 0"), "hedge.max");
    assert_eq!(
        field("timeout = \"10ms\"\n[hedge]\nafter = \"10ms\""),
        "hedge.after"
    );
    assert_eq!(
        field("[breaker]\nfailures = 0\nwindow = \"1s\"\ncooldown = \"1s\""),
        "breaker.failures"
    );
    assert_eq!(
        field("[breaker]\nfailures = 1\nwindow = \"1s\"\ncooldown = \"1s\"\nrate = 1.5"),
        "breaker.rate"
    );
    assert_eq!(field("[limit]\nmax = 0"), "limit.max");

    // What serde refuses names its field too: an unknown key, a missing one, a bad duration.
    let refused = |text: &str| {
        toml::from_str::<PolicyConfig>(text)
            .unwrap_err()
            .to_string()
    };
    assert!(refused("[retry]\nattempt = 3").contains("attempt"));
    assert!(refused("[breaker]\nfailures = 3").contains("window"));
    let bad = refused("timeout = \"soon\"");
    assert!(bad.contains("timeout"), "{bad}");
}

struct Wallet {
    policy: Policy,
    failing: AtomicU32,
}

impl Wallet {
    #[task(critical, policy = self.policy)]
    async fn balance(&self, latency: Duration) -> Result<u32, Unavailable> {
        sleep(latency).await;
        match self.failing.load(Ordering::SeqCst) {
            0 => Ok(9),
            _ => Err(Unavailable),
        }
    }
}

/// The file changes: the next calls go by its timeout and threshold, and the breaker keeps
/// the failure it counted before.
#[tokio::test(start_paused = true)]
async fn a_changed_config_file_applies_live() {
    let config = |text: &str| toml::from_str::<PolicyConfig>(text).unwrap();
    let before =
        config("timeout = \"200ms\"\n[breaker]\nfailures = 3\nwindow = \"10s\"\ncooldown = \"5s\"");
    let wallet = Wallet {
        policy: before.builder().unwrap().name("wallet").build().unwrap(),
        failing: AtomicU32::new(0),
    };
    assert_eq!(wallet.balance(ms(150)).await, Ok(9));
    wallet.failing.store(1, Ordering::SeqCst);
    assert_eq!(
        wallet.balance(ms(1)).await,
        Err(TaskError::Failed(Unavailable))
    );

    let after =
        config("timeout = \"100ms\"\n[breaker]\nfailures = 2\nwindow = \"10s\"\ncooldown = \"5s\"");
    wallet.policy.update(after.settings().unwrap()).unwrap();
    let started = Instant::now();
    assert_eq!(
        wallet.balance(ms(150)).await,
        Err(TaskError::TimedOut(ms(100)))
    );
    assert_eq!(started.elapsed(), ms(100));
    assert_eq!(wallet.policy.breaker_state(), Some(BreakerState::Open));

    // A broken file is refused, naming its field, and the settings stay.
    let broken = config("[limit]\nmax = 0");
    assert_eq!(broken.settings().unwrap_err().field(), "limit.max");
    let unchecked = wallet.policy.settings().limit(runner_core::Limit::new(0));
    assert_eq!(
        wallet.policy.update(unchecked).unwrap_err().field(),
        "limit.max"
    );
    assert_eq!(wallet.policy.settings(), after.settings().unwrap());
}
