//! A policy built at run time is refused with the very message `#[task(...)]` gives at
//! compile time for the same mistake: each case builds the policy of a `ui/fail` case by hand
//! and finds its error's message in that case's `.stderr`.

use std::time::Duration;

use runner_core::policy::{Coalesce, CoalesceConfig};
use runner_core::{
    Adaptive, Breaker, Budget, Hedge, Limit, Policy, PolicyBuilder, PolicyError, RateLimit, Retry,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn says(case: &str, builder: PolicyBuilder, field: &str) {
    refused_as(case, builder.build().expect_err(case), field);
}

fn refused_as(case: &str, error: PolicyError, field: &str) {
    let path = format!("{}/ui/fail/{case}.stderr", env!("CARGO_MANIFEST_DIR"));
    let stderr = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    assert_eq!(error.field(), field, "{case}");
    assert!(
        stderr.contains(error.message()),
        "{case}: `{}` is not in\n{stderr}",
        error.message()
    );
    assert_eq!(error.to_string(), format!("`{field}`: {}", error.message()));
}

#[test]
fn run_time_checks_say_what_compile_time_checks_say() {
    says(
        "retry_zero_attempts",
        Policy::builder().retry(Retry::new(0)),
        "retry.attempts",
    );
    says(
        "retry_max_backoff_below_backoff",
        Policy::builder().retry(Retry::new(3).backoff(ms(100)).max_backoff(ms(50))),
        "retry.max_backoff",
    );
    says(
        "budget_window_out_of_range",
        Policy::builder().retry(Retry::new(3).budget(Budget::new(
            0.2,
            Duration::from_secs(90),
            10,
        ))),
        "retry.budget_window",
    );
    says(
        "hedge_max_out_of_range",
        Policy::builder().hedge(Hedge::new(ms(50)).max(9)),
        "hedge.max",
    );
    says(
        "hedge_not_below_timeout",
        Policy::builder().timeout(ms(50)).hedge(Hedge::new(ms(50))),
        "hedge.after",
    );
    says("timeout_zero", Policy::builder().timeout(ms(0)), "timeout");
    says(
        "hedge_not_below_attempt_timeout",
        Policy::builder()
            .retry(Retry::new(2).attempt_timeout(ms(50)))
            .hedge(Hedge::new(ms(50))),
        "hedge.after",
    );
    says(
        "retry_attempt_timeout_not_below_timeout",
        Policy::builder()
            .timeout(ms(200))
            .retry(Retry::new(3).attempt_timeout(ms(200))),
        "retry.attempt_timeout",
    );
    let breaker = |breaker: Breaker| Policy::builder().breaker(breaker);
    let cards = Breaker::count_based(100, ms(5_000));
    says(
        "breaker_window_calls_zero",
        breaker(Breaker::count_based(0, ms(5_000))),
        "breaker.window",
    );
    says(
        "breaker_failure_rate_out_of_range",
        breaker(cards.failure_rate(1.5)),
        "breaker.failure_rate",
    );
    says(
        "breaker_minimum_calls_zero",
        breaker(cards.minimum_calls(0)),
        "breaker.minimum_calls",
    );
    says(
        "breaker_half_open_calls_out_of_range",
        breaker(cards.half_open(0, 1.0)),
        "breaker.half_open_calls",
    );
    says(
        "breaker_growth_below_one",
        breaker(cards.cooldown_grows(0.5, ms(60_000))),
        "breaker.cooldown_growth",
    );
    says(
        "breaker_max_cooldown_below_cooldown",
        breaker(cards.cooldown_grows(2.0, ms(1_000))),
        "breaker.max_cooldown",
    );
    says(
        "limit_zero",
        Policy::builder().limit(Limit::new(0)),
        "limit.max",
    );
    let adaptive = |adaptive: Adaptive| Policy::builder().limit(Limit::adaptive(adaptive));
    says(
        "limit_adaptive_min_zero",
        adaptive(Adaptive::new().bounds(0, 1_000)),
        "limit.min",
    );
    says(
        "limit_adaptive_min_above_max",
        adaptive(Adaptive::new().bounds(60, 50)),
        "limit.min",
    );
    says(
        "limit_adaptive_initial_out_of_bounds",
        adaptive(Adaptive::new().initial(100).bounds(1, 50)),
        "limit.initial",
    );
    says(
        "limit_adaptive_backoff_out_of_range",
        adaptive(Adaptive::new().backoff(1.0)),
        "limit.backoff",
    );
    let rate = |limit: RateLimit| Policy::builder().rate_limit(limit);
    says(
        "rate_limit_zero_max",
        rate(RateLimit::per_second(0)),
        "rate_limit.max",
    );
    says(
        "rate_limit_zero_per",
        rate(RateLimit::new(10, Duration::ZERO)),
        "rate_limit.per",
    );
    says(
        "rate_limit_per_too_long",
        rate(RateLimit::new(10, Duration::from_secs(7_200))),
        "rate_limit.per",
    );
    says(
        "rate_limit_too_fast",
        rate(RateLimit::new(1_000, Duration::from_nanos(999))),
        "rate_limit.max",
    );
    says(
        "rate_limit_burst_out_of_range",
        rate(RateLimit::per_second(10).burst(0)),
        "rate_limit.burst",
    );
    let group = Coalesce::<u64, u64, std::io::ErrorKind>::with_capacity(0);
    refused_as(
        "coalesce_capacity_zero",
        group.expect_err("capacity 0"),
        "coalesce.capacity",
    );
    refused_as(
        "coalesce_capacity_const_checked",
        CoalesceConfig { capacity: 0 }
            .group::<u64, u64, std::io::ErrorKind>()
            .expect_err("capacity 0"),
        "coalesce.capacity",
    );
}
