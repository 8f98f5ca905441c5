//! The policy keys of `#[task(...)]`: `retry(...)`, `hedge`, `breaker(...)`, `limit`,
//! `fallback`. Each value is checked here, at the user's tokens, and each check across keys
//! in `valid.rs`, so that the `const` builders they expand to never panic.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{LitInt, LitStr, Path};

use crate::duration;
use crate::parse::{number, parse_group, set_once, unknown};

/// The most hedges a call may start: each is an attempt held in the task's state.
const MAX_HEDGES: usize = 8;

#[derive(Default)]
pub(crate) struct Policies {
    pub(crate) retry: Option<RetryArgs>,
    pub(crate) hedge: Option<HedgeArgs>,
    pub(crate) breaker: Option<BreakerArgs>,
    pub(crate) limit: Option<LimitArgs>,
    pub(crate) fallback: Option<Path>,
}

pub(crate) struct RetryArgs {
    attempts: u32,
    pub(crate) backoff: Option<Duration>,
    pub(crate) max_backoff: Option<(Duration, LitStr)>,
    budget: Option<f32>,
    budget_window: Option<Duration>,
    min_per_sec: Option<u32>,
    when: Option<Path>,
}

pub(crate) struct HedgeArgs {
    pub(crate) after: Duration,
    pub(crate) after_literal: LitStr,
    max: usize,
}

pub(crate) struct BreakerArgs {
    failures: u32,
    window: Duration,
    cooldown: Duration,
    rate: Option<f32>,
    when: Option<Path>,
}

pub(crate) struct LimitArgs {
    max: usize,
    reject: bool,
}

impl Policies {
    pub(crate) fn is_empty(&self) -> bool {
        self.retry.is_none()
            && self.hedge.is_none()
            && self.breaker.is_none()
            && self.limit.is_none()
            && self.fallback.is_none()
    }

    /// `true` if the body runs more than once per call.
    pub(crate) fn repeats(&self) -> bool {
        self.retry.is_some() || self.hedge.is_some()
    }

    pub(crate) fn hedges(&self) -> usize {
        self.hedge.as_ref().map_or(0, |hedge| hedge.max)
    }

    /// Parses one policy key, if `meta` is one; `Ok(false)` if it is not a policy key.
    pub(crate) fn parse_key(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        if meta.path.is_ident("retry") {
            let retry = parse_retry(meta)?;
            set_once(meta, &mut self.retry, retry)?;
        } else if meta.path.is_ident("hedge") {
            let hedge = parse_hedge(meta)?;
            set_once(meta, &mut self.hedge, hedge)?;
        } else if meta.path.is_ident("breaker") {
            let breaker = parse_breaker(meta)?;
            set_once(meta, &mut self.breaker, breaker)?;
        } else if meta.path.is_ident("limit") {
            let limit = parse_limit(meta)?;
            set_once(meta, &mut self.limit, limit)?;
        } else if meta.path.is_ident("fallback") {
            let path: Path = meta.value()?.parse()?;
            set_once(meta, &mut self.fallback, path)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// `Policy::builder()...build()` for the task fn's `static`.
    pub(crate) fn builder(&self, private: &TokenStream) -> TokenStream {
        let mut calls = Vec::new();
        if let Some(retry) = &self.retry {
            let attempts = retry.attempts;
            let mut value = quote!(#private::Retry::new(#attempts));
            if let Some(backoff) = retry.backoff {
                let backoff = duration::to_tokens(backoff);
                value = quote!(#value.backoff(#backoff));
            }
            if let Some((max_backoff, _)) = &retry.max_backoff {
                let max_backoff = duration::to_tokens(*max_backoff);
                value = quote!(#value.max_backoff(#max_backoff));
            }
            if retry.budget.is_some()
                || retry.budget_window.is_some()
                || retry.min_per_sec.is_some()
            {
                let share = retry.budget.unwrap_or(0.2);
                let window =
                    duration::to_tokens(retry.budget_window.unwrap_or(Duration::from_secs(10)));
                let min_per_sec = retry.min_per_sec.unwrap_or(10);
                value = quote!(#value.budget(#private::Budget::new(#share, #window, #min_per_sec)));
            }
            calls.push(quote!(.retry(#value)));
        }
        if let Some(hedge) = &self.hedge {
            let (after, max) = (duration::to_tokens(hedge.after), hedge.max);
            calls.push(quote!(.hedge::<#max>(#after)));
        }
        if let Some(breaker) = &self.breaker {
            let failures = breaker.failures;
            let window = duration::to_tokens(breaker.window);
            let cooldown = duration::to_tokens(breaker.cooldown);
            let rate = breaker.rate.map(|rate| quote!(.rate(#rate)));
            calls
                .push(quote!(.breaker(#private::Breaker::new(#failures, #window, #cooldown)#rate)));
        }
        if let Some(limit) = &self.limit {
            let max = limit.max;
            let reject = match limit.reject {
                true => quote!(.reject_when_full()),
                false => quote!(),
            };
            calls.push(quote!(.limit(#private::Limit::new(#max)#reject)));
        }
        quote!(#private::Policy::builder() #(#calls)* .build())
    }

    /// `Options::new()...` for each call, each fn spanned at the user's path so that a
    /// wrong type is reported there.
    pub(crate) fn options(&self, private: &TokenStream, ret: Option<&syn::Type>) -> TokenStream {
        let mut options = match ret {
            Some(ret) => quote!(#private::options_for::<#ret>()),
            None => quote!(#private::Options::new()),
        };
        if let Some(when) = self.retry.as_ref().and_then(|retry| retry.when.as_ref()) {
            options = quote_spanned!(when.span()=> #options.retry_if(#when));
        }
        if let Some(when) = self
            .breaker
            .as_ref()
            .and_then(|breaker| breaker.when.as_ref())
        {
            options = quote_spanned!(when.span()=> #options.breaker_if(#when));
        }
        if let Some(fallback) = &self.fallback {
            options = quote_spanned!(fallback.span()=> #options.fallback_fn(#fallback));
        }
        options
    }
}

fn parse_retry(meta: &ParseNestedMeta<'_>) -> syn::Result<RetryArgs> {
    const KEYS: &str = "`attempts = 3`, `backoff = \"10ms\"`, `max_backoff = \"1s\"`, `budget = 0.2`, `budget_window = \"10s\"`, `min_per_sec = 10`, `when = path::to_fn`";
    let span = meta.path.span();
    let (mut attempts, mut backoff, mut max_backoff) = (None, None, None);
    let (mut budget, mut budget_window, mut min_per_sec, mut when) = (None, None, None, None);
    parse_group(meta, |inner| {
        if inner.path.is_ident("attempts") {
            let literal: LitInt = inner.value()?.parse()?;
            let value: u32 = literal.base10_parse()?;
            if value == 0 {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "a task makes at least one attempt; `attempts` counts them all, the first included (`attempts = 3` is the first and two retries)",
                ));
            }
            set_once(inner, &mut attempts, value)
        } else if inner.path.is_ident("backoff") {
            let literal: LitStr = inner.value()?.parse()?;
            set_once(inner, &mut backoff, duration::parse(&literal, "backoff")?)
        } else if inner.path.is_ident("max_backoff") {
            let literal: LitStr = inner.value()?.parse()?;
            let value = duration::parse(&literal, "max_backoff")?;
            set_once(inner, &mut max_backoff, (value, literal))
        } else if inner.path.is_ident("budget") {
            let literal: syn::Lit = inner.value()?.parse()?;
            let value = number(&literal)?;
            if !(0.0..=1000.0).contains(&value) {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "a retry budget is the share of calls that may be retried, within 0.0..=1000.0 (0.2 is one retry per five calls)",
                ));
            }
            set_once(inner, &mut budget, value)
        } else if inner.path.is_ident("budget_window") {
            let literal: LitStr = inner.value()?.parse()?;
            let value = duration::parse(&literal, "budget_window")?;
            if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&value) {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "a retry budget's window must be within 1s to 60s",
                ));
            }
            set_once(inner, &mut budget_window, value)
        } else if inner.path.is_ident("min_per_sec") {
            let literal: LitInt = inner.value()?.parse()?;
            let value: u32 = literal.base10_parse()?;
            if value >= i32::MAX as u32 {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "`min_per_sec` is too large",
                ));
            }
            set_once(inner, &mut min_per_sec, value)
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
        when,
    })
}

fn parse_hedge(meta: &ParseNestedMeta<'_>) -> syn::Result<HedgeArgs> {
    let span = meta.path.span();
    if meta.input.peek(syn::Token![=]) {
        let literal: LitStr = meta.value()?.parse()?;
        let after = duration::parse(&literal, "hedge delay")?;
        return Ok(HedgeArgs {
            after,
            after_literal: literal,
            max: 1,
        });
    }
    let (mut after, mut max) = (None, None);
    parse_group(meta, |inner| {
        if inner.path.is_ident("after") {
            let literal: LitStr = inner.value()?.parse()?;
            let value = duration::parse(&literal, "hedge delay")?;
            set_once(inner, &mut after, (value, literal))
        } else if inner.path.is_ident("max") {
            let literal: LitInt = inner.value()?.parse()?;
            let value: usize = literal.base10_parse()?;
            if !(1..=MAX_HEDGES).contains(&value) {
                return Err(syn::Error::new_spanned(
                    &literal,
                    format!("`max` is the most hedges a call may start: 1 to {MAX_HEDGES}"),
                ));
            }
            set_once(inner, &mut max, value)
        } else {
            Err(unknown(inner, "hedge", "`after = \"50ms\"`, `max = 2`"))
        }
    })?;
    let Some((after, after_literal)) = after else {
        return Err(syn::Error::new(
            span,
            "`hedge` needs its delay: write `hedge = \"50ms\"` or `hedge(after = \"50ms\", max = 2)`",
        ));
    };
    Ok(HedgeArgs {
        after,
        after_literal,
        max: max.unwrap_or(1),
    })
}

fn parse_breaker(meta: &ParseNestedMeta<'_>) -> syn::Result<BreakerArgs> {
    const KEYS: &str = "`failures = 5`, `window = \"10s\"`, `cooldown = \"5s\"`, `rate = 0.5`, `when = path::to_fn`";
    let span = meta.path.span();
    let (mut failures, mut window, mut cooldown, mut when) = (None, None, None, None);
    let mut rate = None;
    parse_group(meta, |inner| {
        if inner.path.is_ident("failures") {
            let literal: LitInt = inner.value()?.parse()?;
            let value: u32 = literal.base10_parse()?;
            if value == 0 {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "a breaker that opens after zero failures would never close; give at least 1",
                ));
            }
            set_once(inner, &mut failures, value)
        } else if inner.path.is_ident("window") {
            let literal: LitStr = inner.value()?.parse()?;
            set_once(
                inner,
                &mut window,
                duration::parse(&literal, "breaker window")?,
            )
        } else if inner.path.is_ident("cooldown") {
            let literal: LitStr = inner.value()?.parse()?;
            set_once(
                inner,
                &mut cooldown,
                duration::parse(&literal, "breaker cooldown")?,
            )
        } else if inner.path.is_ident("rate") {
            let literal: syn::Lit = inner.value()?.parse()?;
            let value = number(&literal)?;
            if !(value > 0.0 && value <= 1.0) {
                return Err(syn::Error::new_spanned(
                    &literal,
                    "a breaker's rate is the share of failed attempts that opens it, within (0.0, 1.0] (0.5 is half of them)",
                ));
            }
            set_once(inner, &mut rate, value)
        } else if inner.path.is_ident("when") {
            let path: Path = inner.value()?.parse()?;
            set_once(inner, &mut when, path)
        } else {
            Err(unknown(inner, "breaker", KEYS))
        }
    })?;
    let missing = |key: &str| {
        syn::Error::new(
            span,
            format!(
                "`breaker` needs `{key}`: write `breaker(failures = 5, window = \"10s\", cooldown = \"5s\")`"
            ),
        )
    };
    Ok(BreakerArgs {
        failures: failures.ok_or_else(|| missing("failures"))?,
        window: window.ok_or_else(|| missing("window"))?,
        cooldown: cooldown.ok_or_else(|| missing("cooldown"))?,
        rate,
        when,
    })
}

fn parse_limit(meta: &ParseNestedMeta<'_>) -> syn::Result<LimitArgs> {
    let span = meta.path.span();
    let parse_max = |literal: LitInt| -> syn::Result<usize> {
        let value: usize = literal.base10_parse()?;
        // tokio's limit on permits, the largest count the gate is meant for.
        if value == 0 || value > usize::MAX >> 3 {
            return Err(syn::Error::new_spanned(
                &literal,
                "a limit is the most calls in flight at once: at least 1 (zero would refuse every call)",
            ));
        }
        Ok(value)
    };
    if meta.input.peek(syn::Token![=]) {
        let literal: LitInt = meta.value()?.parse()?;
        return Ok(LimitArgs {
            max: parse_max(literal)?,
            reject: false,
        });
    }
    let (mut max, mut reject) = (None, None);
    parse_group(meta, |inner| {
        if inner.path.is_ident("max") {
            let literal: LitInt = inner.value()?.parse()?;
            set_once(inner, &mut max, parse_max(literal)?)
        } else if inner.path.is_ident("reject") {
            set_once(inner, &mut reject, true)
        } else {
            Err(unknown(inner, "limit", "`max = 32`, `reject`"))
        }
    })?;
    let Some(max) = max else {
        return Err(syn::Error::new(
            span,
            "`limit` needs its size: write `limit = 32` or `limit(max = 32, reject)`",
        ));
    };
    Ok(LimitArgs {
        max,
        reject: reject.unwrap_or(false),
    })
}
