//! Command-line flags, each also readable from an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::services::faults::{FaultConfig, FaultSpec, Target};

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The gateway, plus the wallet and scratch-card services unless their URLs are given.
    All,
    /// Only the gateway; give `--wallet-url` and `--scratch-url`.
    Gateway,
    /// Only the wallet service.
    Wallet,
    /// Only the scratch-card service.
    Scratch,
}

/// How the gateway's `GET /get_balance` handler is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GatewayImpl {
    /// With `runner_core`: `#[task]` methods fanned out with `fan_out!`.
    Runner,
    /// By hand, for benchmarks: `tokio::try_join!` and `tokio::time::timeout` over the same
    /// downstream calls; same JSON and statuses, no `Server-Timing` or per-task metrics.
    Baseline,
}

/// The balance service: a gateway fanning out to a wallet and a scratch-card service.
#[derive(Debug, Clone, Parser)]
#[command(name = "runner-example", version, about)]
pub struct Config {
    /// Where the gateway listens.
    #[arg(long, env = "RUNNER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the wallet service listens, when this process runs it.
    #[arg(long, env = "RUNNER_WALLET_LISTEN", default_value = "127.0.0.1:8081")]
    pub wallet_listen: SocketAddr,

    /// Where the scratch-card service listens, when this process runs it.
    #[arg(long, env = "RUNNER_SCRATCH_LISTEN", default_value = "127.0.0.1:8082")]
    pub scratch_listen: SocketAddr,

    /// Use the wallet service at this base URL instead of starting one.
    #[arg(long, env = "RUNNER_WALLET_URL")]
    pub wallet_url: Option<reqwest::Url>,

    /// Use the scratch-card service at this base URL instead of starting one.
    #[arg(long, env = "RUNNER_SCRATCH_URL")]
    pub scratch_url: Option<reqwest::Url>,

    /// Which services to run in this process.
    #[arg(long, value_enum, env = "RUNNER_ROLE", default_value_t = Role::All)]
    pub role: Role,

    /// How the gateway's handler is written: `runner` (`fan_out!`) or `baseline` (by hand, with
    /// `tokio::try_join!`, to benchmark against; see `scripts/http_bench.sh`).
    #[arg(long, value_enum, env = "RUNNER_GATEWAY_IMPL", default_value_t = GatewayImpl::Runner)]
    pub gateway_impl: GatewayImpl,

    /// The wallet's SQLite file, created and seeded on first start [default: wallet.db in
    /// the OS temp dir]; `:memory:` keeps it in memory.
    #[arg(long, env = "RUNNER_DB")]
    pub db: Option<PathBuf>,

    /// Inject a fault: `SERVICE:KIND=VALUE`, SERVICE `wallet` or `scratch`. KIND is `latency`
    /// (a duration added to every request, e.g. `wallet:latency=300ms`, or to a share of
    /// them, e.g. `scratch:latency=100ms@0.05` for 5 %) or the probability,
    /// 0 to 1, of `error` (answer an error status), `hang` (never answer), `garbage` (a 200
    /// that is not JSON), `truncate` (half the body, then the connection closes) or `reset`
    /// (half the body, then the connection is reset); `status` sets the error's status, 400 to
    /// 599 (default 503): `scratch:error=1,scratch:status=500`; `retry-after` gives the error
    /// a `Retry-After` header of that many whole seconds, 0 to 3600:
    /// `wallet:error=1,wallet:retry-after=2`; `stale`, the wallet's only, the probability
    /// that a balance is marked stale, as a lagging replica answers: `wallet:stale=0.5`.
    /// Repeatable; change them later with `PUT /admin/faults`.
    #[arg(long = "fault", env = "RUNNER_FAULTS", value_delimiter = ',')]
    pub faults: Vec<FaultSpec>,

    /// Seed of the RNG that draws which requests the faults hit.
    #[arg(long, env = "RUNNER_FAULT_SEED", default_value_t = 42)]
    pub fault_seed: u64,

    /// The gateway's resilience policies: a TOML file with a `[wallet]` and a
    /// `[scratch_card]` section (see `runner-example/policies.toml`, the built-in ones).
    #[arg(long, env = "RUNNER_POLICIES")]
    pub policies: Option<PathBuf>,

    /// Export traces over OTLP/HTTP (protobuf) to this collector URL, e.g.
    /// `http://localhost:4318/v1/traces`: the services' request spans and the gateway's task
    /// spans, one trace per page across the services. None: nothing is exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_endpoint: Option<reqwest::Url>,

    /// How long shutdown waits for in-flight requests.
    #[arg(long, env = "RUNNER_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

impl Config {
    /// The name this process's spans go out under: its role's.
    pub fn service_name(&self) -> &'static str {
        match self.role {
            Role::All => "balance-service",
            Role::Gateway => "balance-gateway",
            Role::Wallet => "wallet",
            Role::Scratch => "scratch-card",
        }
    }

    /// The wallet's database file.
    pub fn db_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("runner-example-wallet.db"))
    }

    /// The faults the `--fault` flags set for `target`.
    pub fn faults_for(&self, target: Target) -> FaultConfig {
        let mut config = FaultConfig::default();
        for spec in self.faults.iter().filter(|spec| spec.target == target) {
            config.apply(spec.kind);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_everything_on_loopback() {
        let config = Config::try_parse_from(["runner-example"]).unwrap();
        assert_eq!(config.role, Role::All);
        assert_eq!(config.gateway_impl, GatewayImpl::Runner);
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(config.faults.is_empty());
    }

    #[test]
    fn the_gateway_impl_is_chosen_by_flag() {
        let config =
            Config::try_parse_from(["runner-example", "--gateway-impl", "baseline"]).unwrap();
        assert_eq!(config.gateway_impl, GatewayImpl::Baseline);
        assert!(Config::try_parse_from(["runner-example", "--gateway-impl", "other"]).is_err());
    }

    #[test]
    fn fault_flags_add_up_per_service() {
        let config = Config::try_parse_from([
            "runner-example",
            "--fault",
            "wallet:latency=300ms",
            "--fault",
            "scratch:error=0.3",
            "--fault",
            "scratch:hang=0.1",
        ])
        .unwrap();
        assert_eq!(config.faults_for(Target::Wallet).latency_ms, 300);
        let scratch = config.faults_for(Target::Scratch);
        assert_eq!((scratch.error_rate, scratch.hang_rate), (0.3, 0.1));
        assert!(Config::try_parse_from(["runner-example", "--fault", "wallet:error=3"]).is_err());
        let config = Config::try_parse_from([
            "runner-example",
            "--fault",
            "wallet:error=1,wallet:status=500",
            "--fault",
            "wallet:retry-after=2",
            "--fault",
            "scratch:truncate=0.5",
            "--fault",
            "scratch:reset=1",
        ])
        .unwrap();
        let wallet = config.faults_for(Target::Wallet);
        assert_eq!((wallet.error_rate, wallet.error_status), (1.0, 500));
        assert_eq!(wallet.retry_after_secs, Some(2));
        let scratch = config.faults_for(Target::Scratch);
        assert_eq!((scratch.truncate_rate, scratch.reset_rate), (0.5, 1.0));
        assert_eq!(scratch.retry_after_secs, None);
        let config =
            Config::try_parse_from(["runner-example", "--fault", "wallet:stale=0.5"]).unwrap();
        assert_eq!(config.faults_for(Target::Wallet).stale_rate, 0.5);
        assert_eq!(config.faults_for(Target::Scratch).stale_rate, 0.0);
        assert!(
            Config::try_parse_from(["runner-example", "--fault", "scratch:stale=0.5"]).is_err()
        );
        assert!(
            Config::try_parse_from(["runner-example", "--fault", "wallet:retry-after=1h"]).is_err()
        );
    }

    #[test]
    fn a_latency_flag_sets_its_share_and_a_later_one_wins() {
        let parse = |flags: &[&str]| {
            let mut args = vec!["runner-example"];
            for flag in flags {
                args.extend(["--fault", flag]);
            }
            Config::try_parse_from(args)
                .unwrap()
                .faults_for(Target::Scratch)
        };
        let scratch = parse(&["scratch:latency=100ms@0.05"]);
        assert_eq!((scratch.latency_ms, scratch.latency_rate), (100, 0.05));
        let scratch = parse(&["scratch:latency=100ms@0.05", "scratch:latency=20ms"]);
        assert_eq!((scratch.latency_ms, scratch.latency_rate), (20, 1.0));
        assert!(
            Config::try_parse_from(["runner-example", "--fault", "scratch:latency=1s@2"]).is_err()
        );
    }
}
