//! Policies from config files (the `serde` feature): TOML and JSON, humantime durations,
//! every error naming its field, and a changed file applied live.

#![cfg(feature = "serde")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use runner_core::{Breaker, BreakerState, Policy, PolicyConfig, TaskError, task};
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

    [rate_limit]
    max = 100
    per = "1s"
    burst = 20

    [coalesce]
    capacity = 500
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
            "limit": { "max": 32, "reject": true },
            "rate_limit": { "max": 100, "per": "1s", "burst": 20 },
            "coalesce": { "capacity": 500 }
        }"#,
    )
    .unwrap();
    assert_eq!(toml, json);
    let settings = toml.settings().unwrap();
    assert_eq!(settings.timeout, Some(ms(200)));
    assert_eq!(
        settings.rate_limit,
        Some(runner_core::RateLimit::per_second(100).burst(20))
    );
    // The group is the calls', built from its section.
    let group = toml
        .coalesce
        .unwrap()
        .group::<u64, u32, Unavailable>()
        .unwrap();
    assert_eq!(group.capacity(), 500);
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
        "breaker.failure_rate"
    );
    assert_eq!(field("[limit]\nmax = 0"), "limit.max");
    assert_eq!(field("[rate_limit]\nmax = 0"), "rate_limit.max");
    assert_eq!(field("[coalesce]\ncapacity = 0"), "coalesce.capacity");
    assert_eq!(field("[limit]\nreject = true"), "limit.max");
    assert_eq!(field("[limit]\nmax = 10\ninitial = 5"), "limit.adaptive");
    assert_eq!(field("[limit]\nadaptive = true\nmin = 0"), "limit.min");
    assert_eq!(
        field("[limit]\nadaptive = true\nmax = 10\ninitial = 50"),
        "limit.initial"
    );
    assert_eq!(
        field("[limit]\nadaptive = true\nbackoff = 1.5"),
        "limit.backoff"
    );
    let adaptive: PolicyConfig = toml::from_str(
        "[limit]\nadaptive = true\nmax = 200\nmin = 2\ninitial = 10\nbackoff = 0.8\nreject = true",
    )
    .unwrap();
    assert_eq!(
        adaptive.settings().unwrap().limit,
        Some(
            runner_core::Limit::adaptive(
                runner_core::Adaptive::new()
                    .initial(10)
                    .bounds(2, 200)
                    .backoff(0.8)
            )
            .reject_when_full()
        )
    );
    let again: PolicyConfig = toml::from_str(&toml::to_string(&adaptive).unwrap()).unwrap();
    assert_eq!(again, adaptive);
    assert_eq!(
        field("[rate_limit]\nmax = 10\nper = \"2h\""),
        "rate_limit.per"
    );
    assert_eq!(
        field("[rate_limit]\nmax = 10\nburst = 0"),
        "rate_limit.burst"
    );
    let reject: PolicyConfig = toml::from_str("[rate_limit]\nmax = 5\nreject = true").unwrap();
    assert_eq!(
        reject.settings().unwrap().rate_limit,
        Some(runner_core::RateLimit::per_second(5).reject_when_empty())
    );
    assert_eq!(
        field("timeout = \"100ms\"\n[retry]\nattempts = 2\nattempt_timeout = \"150ms\""),
        "retry.attempt_timeout"
    );
    let breaker = |keys: &str| field(&format!("[breaker]\ncooldown = \"1s\"\n{keys}"));
    assert_eq!(breaker("window = 0"), "breaker.window");
    assert_eq!(breaker("window = 100001"), "breaker.window");
    assert_eq!(
        breaker("window = 10\nminimum_calls = 0"),
        "breaker.minimum_calls"
    );
    assert_eq!(breaker("window = 10\nslow_rate = 0.5"), "breaker.slow");
    assert_eq!(
        breaker("window = 10\nslow = \"1s\"\nslow_rate = 0"),
        "breaker.slow_rate"
    );
    assert_eq!(
        breaker("window = 10\nhalf_open_calls = 1001"),
        "breaker.half_open_calls"
    );
    assert_eq!(
        breaker("window = 10\nhalf_open_successes = 1.5"),
        "breaker.half_open_successes"
    );
    assert_eq!(
        breaker("window = 10\ncooldown_growth = 2.0"),
        "breaker.max_cooldown"
    );
    assert_eq!(
        breaker("window = 10\ncooldown_growth = 0.5\nmax_cooldown = \"1m\""),
        "breaker.cooldown_growth"
    );
    assert_eq!(
        breaker("window = 10\nmax_cooldown = \"10ms\""),
        "breaker.max_cooldown"
    );

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
    let window = refused("[breaker]\nwindow = \"soon\"\ncooldown = \"1s\"");
    assert!(
        window.contains("a duration such as \"10s\" (a time-based window) or a number of calls"),
        "{window}"
    );
    assert!(refused("[breaker]\nwindow = -1\ncooldown = \"1s\"").contains("number of calls"));
}

/// Each breaker key of a config file, and the first form's keys, give the `Breaker` built
/// by hand; the settings survive a trip through TOML.
#[test]
fn breaker_keys_give_the_breaker_built_by_hand() {
    let breaker = |text: &str| {
        let config: PolicyConfig = toml::from_str(text).unwrap();
        let settings = config.settings().unwrap();
        let again: PolicyConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        settings.breaker.unwrap()
    };
    // The first form, as before.
    assert_eq!(
        breaker("[breaker]\nfailures = 3\nwindow = \"10s\"\ncooldown = \"5s\"\nrate = 0.5"),
        Breaker::new(3, ms(10_000), ms(5_000)).rate(0.5)
    );
    assert_eq!(
        breaker("[breaker]\nfailures = 3\nwindow = \"10s\"\ncooldown = \"5s\""),
        Breaker::new(3, ms(10_000), ms(5_000))
    );
    // Time-based from its defaults.
    assert_eq!(
        breaker(
            "[breaker]\nwindow = \"10s\"\ncooldown = \"5s\"\nfailure_rate = 0.25\nslow = \"1s\""
        ),
        Breaker::time_based(ms(10_000), ms(5_000))
            .failure_rate(0.25)
            .slow_calls(ms(1_000), 1.0)
    );
    // Count-based, the growth's factor defaulting to 2.
    assert_eq!(
        breaker(
            "[breaker]\nwindow = 50\ncooldown = \"5s\"\nmax_cooldown = \"1m\"\nhalf_open_calls = 4"
        ),
        Breaker::count_based(50, ms(5_000))
            .cooldown_grows(2.0, ms(60_000))
            .half_open(4, 1.0)
    );
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
