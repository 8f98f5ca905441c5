//! The checks across keys of `#[task(...)]`, made once the whole attribute is read, each
//! reported at the user's token that cannot work with the others. Where a value is a `const`,
//! the check is a `const` item that fails to compile with the same message.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;

use crate::policy::{
    ADAPTIVE_INITIAL, ADAPTIVE_MIN, LimitArgs, MAX_COOLDOWN, Policies, RATE_TOO_FAST, RateArgs,
};
use crate::value::Value;

const MAX_BACKOFF: &str = "`max_backoff` caps the backoff, so it cannot be shorter than `backoff`";

/// `policy = <expr>` is the whole policy; `retry_if`, `retry_if_value`, `retry_delay_from`,
/// `breaker_if` and `cooldown_from` go with it; a retry's `max_backoff` caps its `backoff`, a breaker's `max_cooldown` its
/// `cooldown`; a hedge must start before the task's timeout ends it.
/// Returns the checks left to the compiler.
pub(crate) fn check(
    policies: &Policies,
    timeout: Option<&Value<Duration>>,
    private: &TokenStream,
) -> syn::Result<TokenStream> {
    if policies.source.is_some() {
        let mut errors = policies.literal_keys.iter().map(|(key, span)| {
            syn::Error::new(
                *span,
                format!(
                    "`{key}` cannot be combined with `policy = ...`: the policy given is the task's whole policy; set its {key} there (`Policy::builder().{key}(...)`), or drop `policy = ...` for a per-fn default"
                ),
            )
        });
        if let Some(mut first) = errors.next() {
            errors.for_each(|error| first.combine(error));
            return Err(first);
        }
    } else {
        for (key, path, instead) in [
            ("retry_if", &policies.retry_if, "retry(..., when = path)"),
            (
                "retry_if_value",
                &policies.retry_if_value,
                "retry(..., when_value = path)",
            ),
            (
                "retry_delay_from",
                &policies.retry_delay_from,
                "retry(..., delay_from = path)",
            ),
            (
                "breaker_if",
                &policies.breaker_if,
                "breaker(..., when = path)",
            ),
            (
                "cooldown_from",
                &policies.cooldown_from,
                "breaker(..., cooldown_from = path)",
            ),
        ] {
            if let Some(path) = path {
                return Err(syn::Error::new_spanned(
                    path,
                    format!(
                        "`{key}` goes with `policy = ...`; with the literal keys, write `{instead}`"
                    ),
                ));
            }
        }
    }
    let mut deferred = Vec::new();
    if let Some(retry) = &policies.retry
        && let (Some(backoff), Some(max_backoff)) = (&retry.backoff, &retry.max_backoff)
    {
        ordered(
            Pair::no_more_than(backoff, max_backoff, max_backoff),
            &|_, _| MAX_BACKOFF.to_owned(),
            &|backoff, max| quote!(#private::checked::backoffs(#backoff, #max, #MAX_BACKOFF)),
            private,
            &mut deferred,
        )?;
    }
    if let Some(breaker) = &policies.breaker
        && let Some(max_cooldown) = &breaker.max_cooldown
    {
        ordered(
            Pair::no_more_than(&breaker.cooldown, max_cooldown, max_cooldown),
            &|_, _| MAX_COOLDOWN.to_owned(),
            &|cooldown, max| quote!(#private::checked::cooldowns(#cooldown, #max, #MAX_COOLDOWN)),
            private,
            &mut deferred,
        )?;
    }
    if let (Some(retry), Some(timeout)) = (&policies.retry, timeout)
        && let Some(attempt) = &retry.attempt_timeout
    {
        ordered(
            Pair::below(attempt, timeout, attempt),
            &|attempt, timeout| {
                format!(
                    "an attempt timeout of {} would never end an attempt: the task's timeout of {} ends it first; give one below the timeout",
                    humantime::format_duration(attempt),
                    humantime::format_duration(timeout),
                )
            },
            &|attempt, timeout| quote!(#private::checked::attempt_below(#attempt, #timeout)),
            private,
            &mut deferred,
        )?;
    }
    if let (Some(hedge), Some(retry)) = (&policies.hedge, &policies.retry)
        && let Some(attempt) = &retry.attempt_timeout
    {
        ordered(
            Pair::below(&hedge.after, attempt, &hedge.after),
            &|after, attempt| {
                format!(
                    "a hedge after {} would never start: the attempt timeout of {} ends the attempt first; give a delay below it",
                    humantime::format_duration(after),
                    humantime::format_duration(attempt),
                )
            },
            &|after, attempt| quote!(#private::checked::hedge_below_attempt(#after, #attempt)),
            private,
            &mut deferred,
        )?;
    }
    if let (Some(hedge), Some(timeout)) = (&policies.hedge, timeout) {
        ordered(
            Pair::below(&hedge.after, timeout, &hedge.after),
            &|after, timeout| {
                format!(
                    "a hedge after {} would never start: the task's timeout of {} ends it first; give a delay below the timeout",
                    humantime::format_duration(after),
                    humantime::format_duration(timeout),
                )
            },
            &|after, timeout| quote!(#private::checked::hedge_below(#after, #timeout)),
            private,
            &mut deferred,
        )?;
    }
    if let Some(rate) = &policies.rate_limit {
        pace(rate, private, &mut deferred)?;
    }
    if let Some(limit) = &policies.limit
        && limit.adaptive
    {
        bounds(limit, private, &mut deferred)?;
    }
    Ok(quote!(#(const _: () = #deferred;)*))
}

/// Two durations of the attribute that must come in order, and the one a mistake is
/// reported at.
struct Pair<'a> {
    low: &'a Value<Duration>,
    high: &'a Value<Duration>,
    // `true` if the two may be equal.
    equal: bool,
    at: &'a Value<Duration>,
}

impl<'a> Pair<'a> {
    fn below(low: &'a Value<Duration>, high: &'a Value<Duration>, at: &'a Value<Duration>) -> Self {
        Self {
            low,
            high,
            equal: false,
            at,
        }
    }

    fn no_more_than(
        low: &'a Value<Duration>,
        high: &'a Value<Duration>,
        at: &'a Value<Duration>,
    ) -> Self {
        Self {
            low,
            high,
            equal: true,
            at,
        }
    }
}

/// Checks `pair` here when both are literals (the error saying `message(low, high)`), or
/// leaves `check(low, high)`, a `const` check with the same rule, to the compiler.
fn ordered(
    pair: Pair<'_>,
    message: &dyn Fn(Duration, Duration) -> String,
    check: &dyn Fn(TokenStream, TokenStream) -> TokenStream,
    private: &TokenStream,
    deferred: &mut Vec<TokenStream>,
) -> syn::Result<()> {
    match (pair.low.literal(), pair.high.literal()) {
        (Some(&low), Some(&high)) => {
            let in_order = low < high || (pair.equal && low == high);
            match in_order {
                true => Ok(()),
                false => Err(syn::Error::new(pair.at.span(), message(low, high))),
            }
        }
        _ => {
            deferred.push(check(pair.low.expr(private), pair.high.expr(private)));
            Ok(())
        }
    }
}

/// A rate limit of no more than one call per nanosecond (`per` is a second unless given):
/// checked here for literals, else by the compiler.
fn pace(
    rate: &RateArgs,
    private: &TokenStream,
    deferred: &mut Vec<TokenStream>,
) -> syn::Result<()> {
    let per = rate.per.as_ref();
    let literal_per = match per {
        Some(per) => per.literal().copied(),
        None => Some(Duration::from_secs(1)),
    };
    match (rate.max.literal(), literal_per) {
        (Some(&max), Some(per)) if per.as_nanos() < u128::from(max) => {
            Err(syn::Error::new(rate.max.span(), RATE_TOO_FAST))
        }
        (Some(_), Some(_)) => Ok(()),
        _ => {
            // Each value is checked where it is used: not here again.
            let max = crate::value::unchecked(&rate.max);
            let per = match per {
                Some(per) => crate::value::unchecked(per),
                None => quote!(::core::time::Duration::from_secs(1)),
            };
            deferred.push(quote!(#private::checked::rate_pace(#max, #per, #RATE_TOO_FAST)));
            Ok(())
        }
    }
}

/// An adaptive limit's `min <= max` and, if given, `min <= initial <= max` (`min` is 1 and
/// `max` 1000 unless given): checked here for literals, else by the compiler.
fn bounds(
    limit: &LimitArgs,
    private: &TokenStream,
    deferred: &mut Vec<TokenStream>,
) -> syn::Result<()> {
    let (min, initial) = (limit.min.as_ref(), limit.initial.as_ref());
    let max = limit.max.as_ref();
    let literal_min = min.map_or(Some(1), |min| min.literal().copied());
    // Unless given, it starts within the bounds.
    let literal_initial = initial.map_or(literal_min, |initial| initial.literal().copied());
    let literal_max = max.map_or(Some(1_000), |max| max.literal().copied());
    match (literal_min, literal_initial, literal_max) {
        (Some(low), Some(start), Some(high)) => {
            let at = |value: Option<&Value<_>>, or: Option<&Value<usize>>| {
                value.map(Value::span).or(or.map(Value::span))
            };
            if low as usize > high {
                let span = at(min, max).unwrap_or_else(proc_macro2::Span::call_site);
                return Err(syn::Error::new(span, ADAPTIVE_MIN));
            }
            if start < low || start as usize > high {
                let span = at(initial, max).unwrap_or_else(proc_macro2::Span::call_site);
                return Err(syn::Error::new(span, ADAPTIVE_INITIAL));
            }
            Ok(())
        }
        _ => {
            let min = min.map_or(quote!(1_u32), crate::value::unchecked);
            let initial = match initial {
                Some(initial) => crate::value::unchecked(initial),
                None => min.clone(),
            };
            let max = max.map_or(quote!(1_000), crate::value::unchecked);
            deferred.push(quote!(#private::checked::adaptive(#min, #initial, #max)));
            Ok(())
        }
    }
}
