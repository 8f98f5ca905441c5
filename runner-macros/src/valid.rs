//! The checks across keys of `#[task(...)]`, made once the whole attribute is read, each
//! reported at the user's token that cannot work with the others. Where a value is a `const`,
//! the check is a `const` item that fails to compile with the same message.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;

use crate::policy::{MAX_COOLDOWN, Policies};
use crate::value::Value;

const MAX_BACKOFF: &str = "`max_backoff` caps the backoff, so it cannot be shorter than `backoff`";

/// `policy = <expr>` is the whole policy; `retry_if`, `retry_delay_from`, `breaker_if` and
/// `cooldown_from` go with it; a retry's `max_backoff` caps its `backoff`, a breaker's `max_cooldown` its
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
        match (backoff.literal(), max_backoff.literal()) {
            (Some(backoff), Some(max)) if max < backoff => {
                return Err(syn::Error::new(max_backoff.span(), MAX_BACKOFF));
            }
            (Some(_), Some(_)) => {}
            _ => {
                let (backoff, max) = (backoff.expr(private), max_backoff.expr(private));
                deferred.push(quote!(#private::checked::backoffs(#backoff, #max, #MAX_BACKOFF)));
            }
        }
    }
    if let Some(breaker) = &policies.breaker
        && let Some(max_cooldown) = &breaker.max_cooldown
    {
        let cooldown = &breaker.cooldown;
        match (cooldown.literal(), max_cooldown.literal()) {
            (Some(cooldown), Some(max)) if max < cooldown => {
                return Err(syn::Error::new(max_cooldown.span(), MAX_COOLDOWN));
            }
            (Some(_), Some(_)) => {}
            _ => {
                let (cooldown, max) = (cooldown.expr(private), max_cooldown.expr(private));
                deferred.push(quote!(#private::checked::cooldowns(#cooldown, #max, #MAX_COOLDOWN)));
            }
        }
    }
    if let (Some(hedge), Some(timeout)) = (&policies.hedge, timeout) {
        match (hedge.after.literal(), timeout.literal()) {
            (Some(after), Some(timeout)) if after >= timeout => {
                return Err(syn::Error::new(
                    hedge.after.span(),
                    format!(
                        "a hedge after {} would never start: the task's timeout of {} ends it first; give a delay below the timeout",
                        humantime::format_duration(*after),
                        humantime::format_duration(*timeout),
                    ),
                ));
            }
            (Some(_), Some(_)) => {}
            _ => {
                let (after, timeout) = (hedge.after.expr(private), timeout.expr(private));
                deferred.push(quote!(#private::checked::hedge_below(#after, #timeout)));
            }
        }
    }
    Ok(quote!(#(const _: () = #deferred;)*))
}
