//! The policy keys of `#[task(...)]`: `policy = <expr>`, or the literal keys `retry(...)`,
//! `hedge`, `breaker(...)`, `limit` that build a per-fn default; and `fallback`, `retry_if`,
//! `breaker_if`, typed by the fn. Each value is checked here, at the user's tokens, and each
//! check across keys in `valid.rs`.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Path};

use crate::parse::{parse_group, set_once, unknown};
use crate::value::{self, Value};

/// The most hedges a call may start.
const MAX_HEDGES: u32 = 8;

#[derive(Default)]
pub(crate) struct Policies {
    /// `policy = <expr>`, and where the key is.
    pub(crate) source: Option<(Expr, Span)>,
    pub(crate) retry: Option<RetryArgs>,
    pub(crate) hedge: Option<HedgeArgs>,
    pub(crate) breaker: Option<BreakerArgs>,
    pub(crate) limit: Option<LimitArgs>,
    pub(crate) rate_limit: Option<RateArgs>,
    pub(crate) fallback: Option<Path>,
    /// `retry_if = path`, `retry_if_value = path`, `retry_delay_from = path`,
    /// `breaker_if = path` and `cooldown_from = path`, beside `policy = <expr>`.
    pub(crate) retry_if: Option<Path>,
    pub(crate) breaker_if: Option<Path>,
    pub(crate) cooldown_from: Option<Path>,
    pub(crate) retry_delay_from: Option<Path>,
    pub(crate) retry_if_value: Option<Path>,
    /// The literal keys given, where they are: each is refused beside `policy = <expr>`.
    pub(crate) literal_keys: Vec<(&'static str, Span)>,
}

pub(crate) struct RetryArgs {
    attempts: Value<u32>,
    pub(crate) backoff: Option<Value<Duration>>,
    pub(crate) max_backoff: Option<Value<Duration>>,
    budget: Option<Value<f32>>,
    budget_window: Option<Value<Duration>>,
    min_per_sec: Option<Value<u32>>,
    pub(crate) attempt_timeout: Option<Value<Duration>>,
    delay_from: Option<Path>,
    when_value: Option<Path>,
    when: Option<Path>,
}

pub(crate) struct HedgeArgs {
    pub(crate) after: Value<Duration>,
    max: Option<Value<u32>>,
}

pub(crate) struct BreakerArgs {
    window: BreakerWindow,
    pub(crate) cooldown: Value<Duration>,
    failures: Option<Value<u32>>,
    failure_rate: Option<Value<f32>>,
    minimum_calls: Option<Value<u32>>,
    slow: Option<Value<Duration>>,
    slow_rate: Option<Value<f32>>,
    half_open_calls: Option<Value<u32>>,
    half_open_successes: Option<Value<f32>>,
    cooldown_growth: Option<Value<f32>>,
    pub(crate) max_cooldown: Option<Value<Duration>>,
    cooldown_from: Option<Path>,
    when: Option<Path>,
}

/// `window = "10s"` (or a `const` `Duration`): time-based; `window = 100`: count-based.
enum BreakerWindow {
    Time(Value<Duration>),
    Calls(Value<u32>),
}

/// `limit = 32`, `limit(max = 32, reject)`, or `limit(adaptive, initial = 20, min = 1,
/// max = 200, backoff = 0.9, reject)`.
pub(crate) struct LimitArgs {
    pub(crate) max: Option<Value<usize>>,
    reject: bool,
    pub(crate) adaptive: bool,
    pub(crate) initial: Option<Value<u32>>,
    pub(crate) min: Option<Value<u32>>,
    backoff: Option<Value<f32>>,
}

/// `rate_limit(max = 100, per = "1s", burst = 20, reject)`, `rate(100, per = "1s")` or
/// `rate_limit = 100` (a second).
pub(crate) struct RateArgs {
    pub(crate) max: Value<u32>,
    pub(crate) per: Option<Value<Duration>>,
    burst: Option<Value<u32>>,
    reject: bool,
}

impl Policies {
    pub(crate) fn is_empty(&self) -> bool {
        self.source.is_none() && self.literal_keys.is_empty() && self.fallback.is_none()
    }

    /// `true` if the body may run more than once per call: with retries or hedges, or under a
    /// policy given at run time, which may have them.
    pub(crate) fn repeats(&self) -> bool {
        self.source.is_some() || self.retry.is_some() || self.hedge.is_some()
    }

    /// Parses one policy key, if `meta` is one; `Ok(false)` if it is not a policy key.
    pub(crate) fn parse_key(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        let span = meta.path.span();
        if meta.path.is_ident("policy") {
            let expr: Expr = meta.value()?.parse()?;
            set_once(meta, &mut self.source, (expr, span))?;
            return Ok(true);
        }
        let key = if meta.path.is_ident("retry") {
            let retry = parse_retry(meta)?;
            set_once(meta, &mut self.retry, retry)?;
            "retry"
        } else if meta.path.is_ident("hedge") {
            let hedge = parse_hedge(meta)?;
            set_once(meta, &mut self.hedge, hedge)?;
            "hedge"
        } else if meta.path.is_ident("breaker") {
            let breaker = parse_breaker(meta)?;
            set_once(meta, &mut self.breaker, breaker)?;
            "breaker"
        } else if meta.path.is_ident("limit") {
            let limit = parse_limit(meta)?;
            set_once(meta, &mut self.limit, limit)?;
            "limit"
        } else if meta.path.is_ident("rate_limit") || meta.path.is_ident("rate") {
            let rate = parse_rate(meta)?;
            if self.rate_limit.is_some() {
                return Err(meta.error(
                    "`rate` and `rate_limit` are one key (`rate` is the short name): give it once",
                ));
            }
            self.rate_limit = Some(rate);
            "rate_limit"
        } else if meta.path.is_ident("fallback") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.fallback, path)?;
            return Ok(true);
        } else if meta.path.is_ident("retry_if") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.retry_if, path)?;
            return Ok(true);
        } else if meta.path.is_ident("breaker_if") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.breaker_if, path)?;
            return Ok(true);
        } else if meta.path.is_ident("retry_if_value") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.retry_if_value, path)?;
            return Ok(true);
        } else if meta.path.is_ident("retry_delay_from") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.retry_delay_from, path)?;
            return Ok(true);
        } else if meta.path.is_ident("cooldown_from") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.cooldown_from, path)?;
            return Ok(true);
        } else {
            return Ok(false);
        };
        self.literal_keys.push((key, span));
        Ok(true)
    }

    /// Where the task's policy comes from: the user's expression, checked by type at it, or
    /// the per-fn default, built on first use and registered for `policy::defaults`.
    /// `arguments` are the fn's: a policy one of them holds is moved, not borrowed, since the
    /// task outlives the fn's locals.
    pub(crate) fn source(
        &self,
        private: &TokenStream,
        name: &TokenStream,
        arguments: &[&syn::Ident],
    ) -> TokenStream {
        if let Some((expr, _)) = &self.source {
            let expr = match held(expr, arguments) {
                Held::Borrowed => quote!(&(#expr)),
                // The body and each attempt may use the argument too: the task holds a clone.
                Held::Argument => quote!(::core::clone::Clone::clone(&#expr)),
                Held::Moved => quote!(#expr),
            };
            return quote_spanned!(expr.span()=> #private::policy_of(#expr));
        }
        let policy = quote::format_ident!("__TASK_POLICY", span = Span::mixed_site());
        let builder = self.builder(private, name);
        quote! {{
            static #policy: #private::LazyLock<#private::Policy> =
                #private::LazyLock::new(|| #private::default_policy(#name, #builder));
            #private::inventory::submit! {
                #private::DefaultPolicy::new(::core::module_path!(), #name, &#policy)
            }
            &#policy
        }}
    }

    /// `Policy::builder()...` for the per-fn default.
    fn builder(&self, private: &TokenStream, name: &TokenStream) -> TokenStream {
        let mut calls = Vec::new();
        if let Some(retry) = &self.retry {
            let attempts = retry.attempts.expr(private);
            let mut value = quote!(#private::Retry::new(#attempts));
            if let Some(backoff) = &retry.backoff {
                let backoff = backoff.expr(private);
                value = quote!(#value.backoff(#backoff));
            }
            if let Some(max_backoff) = &retry.max_backoff {
                let max_backoff = max_backoff.expr(private);
                value = quote!(#value.max_backoff(#max_backoff));
            }
            if let Some(timeout) = &retry.attempt_timeout {
                let timeout = timeout.expr(private);
                value = quote!(#value.attempt_timeout(#timeout));
            }
            if retry.budget.is_some()
                || retry.budget_window.is_some()
                || retry.min_per_sec.is_some()
            {
                let share = given(&retry.budget, private);
                let window = given(&retry.budget_window, private);
                let min_per_sec = given(&retry.min_per_sec, private);
                value = quote!(#value.budget(#private::budget(#share, #window, #min_per_sec)));
            }
            calls.push(quote!(.retry(#value)));
        }
        if let Some(hedge) = &self.hedge {
            let after = hedge.after.expr(private);
            // Without `max`, `Hedge::new`'s one hedge.
            let max = hedge.max.as_ref().map(|max| {
                let max = max.expr(private);
                quote!(.max(#max))
            });
            calls.push(quote!(.hedge(#private::Hedge::new(#after)#max)));
        }
        if let Some(breaker) = &self.breaker {
            let window = match &breaker.window {
                BreakerWindow::Time(window) => {
                    let window = window.expr(private);
                    quote!(#private::BreakerWindow::Time(#window))
                }
                BreakerWindow::Calls(calls) => {
                    let calls = calls.expr(private);
                    quote!(#private::BreakerWindow::Calls(#calls))
                }
            };
            let cooldown = breaker.cooldown.expr(private);
            let keys = [
                ("failures", given(&breaker.failures, private)),
                ("failure_rate", given(&breaker.failure_rate, private)),
                ("minimum_calls", given(&breaker.minimum_calls, private)),
                ("slow", given(&breaker.slow, private)),
                ("slow_rate", given(&breaker.slow_rate, private)),
                ("half_open_calls", given(&breaker.half_open_calls, private)),
                (
                    "half_open_successes",
                    given(&breaker.half_open_successes, private),
                ),
                ("cooldown_growth", given(&breaker.cooldown_growth, private)),
                ("max_cooldown", given(&breaker.max_cooldown, private)),
            ];
            let keys = keys.iter().map(|(key, value)| {
                let key = quote::format_ident!("{key}");
                quote!(#key: #value)
            });
            calls.push(quote! {
                .breaker(#private::breaker(#name, #private::BreakerConfig {
                    window: #window,
                    cooldown: #cooldown,
                    #(#keys,)*
                }))
            });
        }
        if let Some(limit) = &self.limit {
            let max = given(&limit.max, private);
            let initial = given(&limit.initial, private);
            let min = given(&limit.min, private);
            let backoff = given(&limit.backoff, private);
            let (reject, adaptive) = (limit.reject, limit.adaptive);
            calls.push(quote! {
                .limit(#private::limit(#name, #private::LimitConfig {
                    max: #max,
                    reject: #reject,
                    adaptive: #adaptive,
                    initial: #initial,
                    min: #min,
                    backoff: #backoff,
                }))
            });
        }
        if let Some(rate) = &self.rate_limit {
            let max = rate.max.expr(private);
            let per = given(&rate.per, private);
            let burst = given(&rate.burst, private);
            let reject = rate.reject;
            calls.push(quote! {
                .rate_limit(#private::rate_limit(#name, #private::RateLimitConfig {
                    max: #max,
                    per: #per,
                    burst: #burst,
                    reject: #reject,
                }))
            });
        }
        quote!(#private::Policy::builder() #(#calls)*)
    }

    /// `Options::new()...` for each call, each fn spanned at the user's path so that a
    /// wrong type is reported there.
    pub(crate) fn options(&self, private: &TokenStream, ret: Option<&syn::Type>) -> TokenStream {
        let mut options = match ret {
            Some(ret) => quote!(#private::options_for::<#ret>()),
            None => quote!(#private::Options::new()),
        };
        let retry = self.retry.as_ref();
        let breaker = self.breaker.as_ref();
        // Each fn of the task's own types, from inside `retry(...)` / `breaker(...)` or beside
        // `policy = ...`, spanned at the user's path so that one of the wrong type is one
        // type mismatch there.
        let per_call = [
            (
                "retry_if",
                retry.and_then(|r| r.when.as_ref()),
                &self.retry_if,
            ),
            (
                "retry_if_value",
                retry.and_then(|r| r.when_value.as_ref()),
                &self.retry_if_value,
            ),
            (
                "retry_delay_from",
                retry.and_then(|r| r.delay_from.as_ref()),
                &self.retry_delay_from,
            ),
            (
                "breaker_if",
                breaker.and_then(|b| b.when.as_ref()),
                &self.breaker_if,
            ),
            (
                "cooldown_from",
                breaker.and_then(|b| b.cooldown_from.as_ref()),
                &self.cooldown_from,
            ),
        ];
        for (method, inside, beside) in per_call {
            if let Some(path) = inside.or(beside.as_ref()) {
                let method = quote::format_ident!("{method}", span = path.span());
                options = quote_spanned!(path.span()=> #options.#method(#path));
            }
        }
        if let Some(fallback) = &self.fallback {
            options = quote_spanned!(fallback.span()=> #options.fallback_fn(#fallback));
        }
        options
    }
}

/// A reference to what `coalesce(group = <expr>)` gives: a place is borrowed; an argument
/// (a `&Coalesce`, which the body may use too) and any other expression (a method that
/// returns a `&Coalesce`) are taken as they are.
pub(crate) fn borrowed(expr: &Expr, arguments: &[&syn::Ident]) -> TokenStream {
    match held(expr, arguments) {
        Held::Borrowed => quote_spanned!(expr.span()=> &(#expr)),
        Held::Argument | Held::Moved => quote!(#expr),
    }
}

/// How the task holds what `policy = <expr>` gives.
enum Held {
    /// A place (`self.wallet`, `WALLET`, `*handle`): borrowed.
    Borrowed,
    /// A fn argument by itself (`policy = p`, a `&Policy` or an `Arc`): cloned, since the
    /// task outlives the fn's locals and its body may use the argument too.
    Argument,
    /// Any other expression's value (`self.hosts.get(&host)`): moved into the task.
    Moved,
}

fn held(expr: &Expr, arguments: &[&syn::Ident]) -> Held {
    match expr {
        Expr::Path(path)
            if path
                .path
                .get_ident()
                .is_some_and(|ident| arguments.contains(&ident)) =>
        {
            Held::Argument
        }
        Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => Held::Borrowed,
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Deref(_)) => Held::Borrowed,
        Expr::Paren(paren) => held(&paren.expr, arguments),
        _ => Held::Moved,
    }
}

/// `Some(value)` if the key was given, else `None`: the support module has the defaults.
fn given<T: value::Literal>(value: &Option<Value<T>>, private: &TokenStream) -> TokenStream {
    match value {
        Some(value) => {
            let value = value.expr(private);
            quote!(::core::option::Option::Some(#value))
        }
        None => quote!(::core::option::Option::None),
    }
}

const ATTEMPTS: &str = "a task makes at least one attempt; `attempts` counts them all, the first included (`attempts = 3` is the first and two retries)";
const BUDGET: &str = "a retry budget is the share of calls that may be retried, within 0.0..=1000.0 (0.2 is one retry per five calls)";
const BUDGET_WINDOW: &str = "a retry budget's window must be within 1s to 60s";
const MIN_PER_SEC: &str = "`min_per_sec` is too large";
const HEDGES: &str = "`max` is the most hedges a call may start: 1 to 8";
const FAILURES: &str =
    "a breaker that opens after zero failures would never close; give at least 1";
const RATE: &str = "a breaker's rate is the share of failed attempts that opens it, within (0.0, 1.0] (0.5 is half of them)";
const WINDOW_CALLS: &str = "a count-based breaker window holds 1 to 100000 calls";
const MINIMUM_CALLS: &str =
    "a breaker judges its window once it holds `minimum_calls`; give at least 1";
const SLOW_RATE: &str = "a breaker's slow-call rate is the share of slow calls that opens it, within (0.0, 1.0] (0.5 is half of them)";
const HALF_OPEN_CALLS: &str = "a half-open breaker lets 1 to 1000 trial calls through";
const HALF_OPEN_SUCCESSES: &str = "`half_open_successes` is the share of trial calls that must succeed to close the breaker, within (0.0, 1.0] (1.0 is all of them)";
const COOLDOWN_GROWTH: &str = "a breaker's cooldown grows by a factor of at least 1.0 (2.0 doubles it at each opening in a row)";
pub(crate) const MAX_COOLDOWN: &str =
    "`max_cooldown` caps the cooldown, so it cannot be shorter than `cooldown`";
const SLOW_ALONE: &str = "`slow_rate` is the share of slow calls, so it needs `slow`, the duration past which a call is slow";
const GROWTH_ALONE: &str =
    "`cooldown_growth` grows the cooldown up to `max_cooldown`, so it needs `max_cooldown`";
const LIMIT: &str =
    "a limit is the most calls in flight at once: 1 to 2147483647 (zero would refuse every call)";
const ADAPTIVE_ONLY: &str = "`initial`, `min` and `backoff` are an adaptive limit's settings: add `adaptive` (`adaptive = true` in a config file), or drop them";
pub(crate) const ADAPTIVE_MIN: &str =
    "an adaptive limit learns between `min` and `max`: `min` is at least 1 and no more than `max`";
pub(crate) const ADAPTIVE_INITIAL: &str =
    "an adaptive limit starts from `initial`, which must be within `min` to `max`";
const ADAPTIVE_BACKOFF: &str = "an adaptive limit's `backoff` is the share of the limit kept after an error, within (0.0, 1.0) (0.9 keeps 90 %)";
const RATE_MAX: &str = "a rate limit lets `max` calls through per `per`; give at least 1 (zero would refuse every call)";
const RATE_PER: &str = "a rate limit's `per` is the time `max` calls are spread over: more than zero, at most 1h (for a slower rate, give fewer calls an hour)";
pub(crate) const RATE_TOO_FAST: &str = "a rate limit of more than one call per nanosecond cannot be kept; give fewer calls, or a longer `per`";
const RATE_BURST: &str =
    "a rate limit's `burst` is the most calls let through at once: 1 to 1000000";
/// The longest `per` (runner-core's `RateLimit`).
pub(crate) const MAX_PER: Duration = Duration::from_secs(3_600);

fn parse_retry(meta: &ParseNestedMeta<'_>) -> syn::Result<RetryArgs> {
    const KEYS: &str = "`attempts = 3`, `backoff = \"10ms\"`, `max_backoff = \"1s\"`, `budget = 0.2`, `budget_window = \"10s\"`, `min_per_sec = 10`, `attempt_timeout = \"80ms\"`, `delay_from = path::to_fn`, `when = path::to_fn`, `when_value = path::to_fn`";
    let span = meta.path.span();
    let (mut attempts, mut backoff, mut max_backoff) = (None, None, None);
    let (mut budget, mut budget_window, mut min_per_sec, mut when) = (None, None, None, None);
    let (mut delay_from, mut attempt_timeout, mut when_value) = (None, None, None);
    parse_group(meta, |inner| {
        if inner.path.is_ident("attempts") {
            let value = value::integer(inner, "at_least_one", ATTEMPTS, |n: &u32| *n > 0)?;
            set_once(inner, &mut attempts, value)
        } else if inner.path.is_ident("backoff") {
            set_once(inner, &mut backoff, value::duration(inner, "backoff")?)
        } else if inner.path.is_ident("max_backoff") {
            set_once(
                inner,
                &mut max_backoff,
                value::duration(inner, "max_backoff")?,
            )
        } else if inner.path.is_ident("budget") {
            let value = value::number(inner, "share", BUDGET, |share| {
                (0.0..=1000.0).contains(&share)
            })?;
            set_once(inner, &mut budget, value)
        } else if inner.path.is_ident("budget_window") {
            let value = value::duration(inner, "budget_window")?;
            if let Some(window) = value.literal()
                && !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(window)
            {
                return Err(syn::Error::new(value.span(), BUDGET_WINDOW));
            }
            let value = match value {
                Value::Const { path, .. } => Value::Const {
                    path,
                    check: "budget_window",
                    message: BUDGET_WINDOW.to_owned(),
                },
                literal => literal,
            };
            set_once(inner, &mut budget_window, value)
        } else if inner.path.is_ident("min_per_sec") {
            let value = value::integer(inner, "min_per_sec", MIN_PER_SEC, |n: &u32| {
                *n < i32::MAX as u32
            })?;
            set_once(inner, &mut min_per_sec, value)
        } else if inner.path.is_ident("attempt_timeout") {
            let value = value::duration(inner, "attempt timeout")?;
            set_once(inner, &mut attempt_timeout, value)
        } else if inner.path.is_ident("when_value") {
            let path: Path = inner.value()?.parse()?;
            set_once(inner, &mut when_value, path)
        } else if inner.path.is_ident("delay_from") {
            let path: Path = inner.value()?.parse()?;
            set_once(inner, &mut delay_from, path)
        } else if inner.path.is_ident("when") {
            let path: Path = inner.value()?.parse()?;
            set_once(inner, &mut when, path)
        } else {
            Err(unknown(inner, "retry", KEYS))
        }
    })?;
    let Some(attempts) = attempts else {
        return Err(syn::Error::new(
            span,
            "`retry` needs `attempts`: write `retry(attempts = 3)`",
        ));
    };
    Ok(RetryArgs {
        attempts,
        backoff,
        max_backoff,
        budget,
        budget_window,
        min_per_sec,
        attempt_timeout,
        delay_from,
        when_value,
        when,
    })
}

fn parse_hedge(meta: &ParseNestedMeta<'_>) -> syn::Result<HedgeArgs> {
    let span = meta.path.span();
    if meta.input.peek(syn::Token![=]) {
        return Ok(HedgeArgs {
            after: value::duration(meta, "hedge delay")?,
            max: None,
        });
    }
    let (mut after, mut max) = (None, None);
    parse_group(meta, |inner| {
        if inner.path.is_ident("after") {
            set_once(inner, &mut after, value::duration(inner, "hedge delay")?)
        } else if inner.path.is_ident("max") {
            let value = value::integer(inner, "hedges", HEDGES, |n: &u32| {
                (1..=MAX_HEDGES).contains(n)
            })?;
            set_once(inner, &mut max, value)
        } else {
            Err(unknown(inner, "hedge", "`after = \"50ms\"`, `max = 2`"))
        }
    })?;
    let Some(after) = after else {
        return Err(syn::Error::new(
            span,
            "`hedge` needs its delay: write `hedge = \"50ms\"` or `hedge(after = \"50ms\", max = 2)`",
        ));
    };
    Ok(HedgeArgs { after, max })
}

fn parse_breaker(meta: &ParseNestedMeta<'_>) -> syn::Result<BreakerArgs> {
    const KEYS: &str = "`window = \"10s\"` or `window = 100` (calls), `cooldown = \"5s\"`, `failures = 5`, `failure_rate = 0.5` (or `rate`), `minimum_calls = 10`, `slow = \"500ms\"`, `slow_rate = 0.8`, `half_open_calls = 3`, `half_open_successes = 0.66`, `cooldown_growth = 2.0`, `max_cooldown = \"1m\"`, `cooldown_from = path::to_fn`, `when = path::to_fn`";
    let span = meta.path.span();
    let (mut window, mut cooldown, mut failures) = (None, None, None);
    let (mut failure_rate, mut minimum_calls, mut slow, mut slow_rate) = (None, None, None, None);
    let (mut half_open_calls, mut half_open_successes) = (None, None);
    let (mut cooldown_growth, mut max_cooldown) = (None, None);
    let (mut cooldown_from, mut when) = (None, None);
    let rate = |inner: &ParseNestedMeta<'_>, message: &str| {
        value::number(inner, "rate", message, |rate| rate > 0.0 && rate <= 1.0)
    };
    parse_group(meta, |inner| {
        let key = inner.path.get_ident().map(ToString::to_string);
        match key.as_deref().unwrap_or_default() {
            "window" => set_once(inner, &mut window, parse_window(inner)?),
            "cooldown" => set_once(
                inner,
                &mut cooldown,
                value::duration(inner, "breaker cooldown")?,
            ),
            "failures" => {
                let value = value::integer(inner, "at_least_one", FAILURES, |n: &u32| *n > 0)?;
                set_once(inner, &mut failures, value)
            }
            // The first form's name for it.
            "failure_rate" | "rate" => {
                if failure_rate.is_some() {
                    return Err(inner.error(
                        "`rate` and `failure_rate` are one key (`rate` is the first form's name): give it once",
                    ));
                }
                set_once(inner, &mut failure_rate, rate(inner, RATE)?)
            }
            "minimum_calls" => {
                let value = value::integer(inner, "at_least_one", MINIMUM_CALLS, |n: &u32| *n > 0)?;
                set_once(inner, &mut minimum_calls, value)
            }
            "slow" => set_once(
                inner,
                &mut slow,
                value::duration(inner, "slow-call duration")?,
            ),
            "slow_rate" => set_once(inner, &mut slow_rate, rate(inner, SLOW_RATE)?),
            "half_open_calls" => {
                let value =
                    value::integer(inner, "half_open_calls", HALF_OPEN_CALLS, |n: &u32| {
                        (1..=1_000).contains(n)
                    })?;
                set_once(inner, &mut half_open_calls, value)
            }
            "half_open_successes" => set_once(
                inner,
                &mut half_open_successes,
                rate(inner, HALF_OPEN_SUCCESSES)?,
            ),
            "cooldown_growth" => {
                let value = value::number(inner, "growth", COOLDOWN_GROWTH, |factor| {
                    factor >= 1.0 && factor.is_finite()
                })?;
                set_once(inner, &mut cooldown_growth, value)
            }
            "max_cooldown" => set_once(
                inner,
                &mut max_cooldown,
                value::duration(inner, "max_cooldown")?,
            ),
            "cooldown_from" => set_once(inner, &mut cooldown_from, inner.value()?.parse()?),
            "when" => set_once(inner, &mut when, inner.value()?.parse()?),
            _ => Err(unknown(inner, "breaker", KEYS)),
        }
    })?;
    let missing = |key: &str| {
        syn::Error::new(
            span,
            format!(
                "`breaker` needs `{key}`: write `breaker(window = \"10s\", cooldown = \"5s\")`, or `breaker(failures = 5, window = \"10s\", cooldown = \"5s\")` for a count of failures"
            ),
        )
    };
    let window = window.ok_or_else(|| missing("window"))?;
    let cooldown = cooldown.ok_or_else(|| missing("cooldown"))?;
    if let (Some(rate), None) = (&slow_rate, &slow) {
        return Err(syn::Error::new(rate.span(), SLOW_ALONE));
    }
    if let (Some(growth), None) = (&cooldown_growth, &max_cooldown) {
        return Err(syn::Error::new(growth.span(), GROWTH_ALONE));
    }
    Ok(BreakerArgs {
        window,
        cooldown,
        failures,
        failure_rate,
        minimum_calls,
        slow,
        slow_rate,
        half_open_calls,
        half_open_successes,
        cooldown_growth,
        max_cooldown,
        cooldown_from,
        when,
    })
}

/// `window = "10s"`, `window = SOME_DURATION` or `window = 100`.
fn parse_window(meta: &ParseNestedMeta<'_>) -> syn::Result<BreakerWindow> {
    let calls = meta.input.fork();
    if calls.parse::<syn::Token![=]>().is_ok() && calls.peek(syn::LitInt) {
        let value = value::integer(meta, "window_calls", WINDOW_CALLS, |n: &u32| {
            (1..=100_000).contains(n)
        })?;
        return Ok(BreakerWindow::Calls(value));
    }
    value::duration(meta, "breaker window").map(BreakerWindow::Time)
}

fn parse_limit(meta: &ParseNestedMeta<'_>) -> syn::Result<LimitArgs> {
    const KEYS: &str = "`max = 32`, `reject`, `adaptive`, and for an adaptive limit `initial = 20`, `min = 1`, `backoff = 0.9`";
    let span = meta.path.span();
    // The gate counts calls in flight in 31 bits (runner-core's `Gate`).
    let valid = |n: &usize| *n > 0 && *n <= i32::MAX as usize;
    if meta.input.peek(syn::Token![=]) {
        return Ok(LimitArgs {
            max: Some(value::integer(meta, "limit", LIMIT, valid)?),
            reject: false,
            adaptive: false,
            initial: None,
            min: None,
            backoff: None,
        });
    }
    let (mut max, mut reject, mut adaptive) = (None, None, None);
    let (mut initial, mut min, mut backoff) = (None, None, None);
    parse_group(meta, |inner| {
        let key = inner.path.get_ident().map(ToString::to_string);
        match key.as_deref().unwrap_or_default() {
            "max" => set_once(
                inner,
                &mut max,
                value::integer(inner, "limit", LIMIT, valid)?,
            ),
            "reject" => set_once(inner, &mut reject, true),
            "adaptive" => set_once(inner, &mut adaptive, inner.path.span()),
            "initial" => set_once(
                inner,
                &mut initial,
                value::integer(inner, "at_least_one", ADAPTIVE_INITIAL, |n: &u32| *n > 0)?,
            ),
            "min" => set_once(
                inner,
                &mut min,
                value::integer(inner, "at_least_one", ADAPTIVE_MIN, |n: &u32| *n > 0)?,
            ),
            "backoff" => set_once(
                inner,
                &mut backoff,
                value::number(inner, "backoff", ADAPTIVE_BACKOFF, |share| {
                    share > 0.0 && share < 1.0
                })?,
            ),
            _ => Err(unknown(inner, "limit", KEYS)),
        }
    })?;
    if adaptive.is_none() {
        if let Some(key) = initial
            .as_ref()
            .or(min.as_ref())
            .map(Value::span)
            .or(backoff.as_ref().map(Value::span))
        {
            return Err(syn::Error::new(key, ADAPTIVE_ONLY));
        }
        if max.is_none() {
            return Err(syn::Error::new(
                span,
                "`limit` needs its size: write `limit = 32`, `limit(max = 32, reject)`, or `limit(adaptive)` to learn it",
            ));
        }
    }
    if let Some(max) = &max
        && adaptive.is_some()
        && max.literal().is_some_and(|max| *max > u32::MAX as usize)
    {
        return Err(syn::Error::new(max.span(), LIMIT));
    }
    Ok(LimitArgs {
        max,
        reject: reject.unwrap_or(false),
        adaptive: adaptive.is_some(),
        initial,
        min,
        backoff,
    })
}

fn parse_rate(meta: &ParseNestedMeta<'_>) -> syn::Result<RateArgs> {
    const KEYS: &str = "`max = 100`, `per = \"1s\"`, `burst = 20`, `reject`";
    let span = meta.path.span();
    let key = crate::parse::path_name(meta);
    let at_least_one = |n: &u32| *n > 0;
    if meta.input.peek(syn::Token![=]) {
        return Ok(RateArgs {
            max: value::integer(meta, "at_least_one", RATE_MAX, at_least_one)?,
            per: None,
            burst: None,
            reject: false,
        });
    }
    let (mut max, mut per, mut burst, mut reject) = (None, None, None, None);
    let first = crate::parse::parse_group_after(meta, |inner| {
        if inner.path.is_ident("max") {
            let value = value::integer(inner, "at_least_one", RATE_MAX, at_least_one)?;
            set_once(inner, &mut max, value)
        } else if inner.path.is_ident("per") {
            let value = value::duration_within(inner, "`per`", "rate_per", RATE_PER, |per| {
                !per.is_zero() && per <= MAX_PER
            })?;
            set_once(inner, &mut per, value)
        } else if inner.path.is_ident("burst") {
            let value = value::integer(inner, "burst", RATE_BURST, |n: &u32| {
                (1..=1_000_000).contains(n)
            })?;
            set_once(inner, &mut burst, value)
        } else if inner.path.is_ident("reject") {
            set_once(inner, &mut reject, true)
        } else {
            Err(unknown(inner, &key, KEYS))
        }
    })?;
    // `rate(100, ...)`: the first, unnamed, is `max`.
    if let Some(first) = first {
        let value: u32 = first.base10_parse()?;
        if !at_least_one(&value) {
            return Err(syn::Error::new_spanned(&first, RATE_MAX));
        }
        if max.is_some() {
            return Err(syn::Error::new_spanned(
                &first,
                format!(
                    "`{key}` has its `max` twice: give `{key}(100, ...)` or `{key}(max = 100, ...)`"
                ),
            ));
        }
        max = Some(Value::Literal(value, first.span()));
    }
    let Some(max) = max else {
        return Err(syn::Error::new(
            span,
            format!(
                "`{key}` needs its `max`: write `{key}(max = 100, per = \"1s\")`, `rate(100, per = \"1s\")`, or `{key} = 100` for a second"
            ),
        ));
    };
    Ok(RateArgs {
        max,
        per,
        burst,
        reject: reject.unwrap_or(false),
    })
}
