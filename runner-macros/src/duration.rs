//! Duration literals, checked at compile time with humantime's syntax.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

/// Parses `"200ms"`, `"1s 500ms"`, ... into a non-zero duration, or an error at the literal.
pub(crate) fn parse(literal: &LitStr, what: &str) -> syn::Result<Duration> {
    let duration = parse_any(literal, what)?;
    if duration.is_zero() {
        return Err(syn::Error::new_spanned(literal, zero_message(what)));
    }
    Ok(duration)
}

/// Parses `"200ms"`, `"0s"`, ... into a duration, or an error at the literal.
pub(crate) fn parse_any(literal: &LitStr, what: &str) -> syn::Result<Duration> {
    let text = literal.value();
    humantime::parse_duration(&text).map_err(|error| {
        syn::Error::new_spanned(
            literal,
            format!("invalid {what} `{text}`: {error}; write a duration such as \"200ms\" or \"1s 500ms\""),
        )
    })
}

/// What a duration of zero gets.
pub(crate) fn zero_message(what: &str) -> String {
    format!("a {what} of zero would end every call before it starts; give a positive duration")
}

/// A `Duration` expression for a duration known at compile time.
pub(crate) fn to_tokens(duration: Duration) -> TokenStream {
    let (secs, nanos) = (duration.as_secs(), duration.subsec_nanos());
    quote!(::core::time::Duration::new(#secs, #nanos))
}
