//! Helpers for reading `key = value` and `key(...)` arguments, shared by every attribute
//! key: one "set more than once" error, one "unknown key" error, recovery past a wrong value.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;

/// Stores `value` in `slot`, or fails if the key was already given.
pub(crate) fn set_once<T>(
    meta: &ParseNestedMeta<'_>,
    slot: &mut Option<T>,
    value: T,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{}` is set more than once", path_name(meta))));
    }
    *slot = Some(value);
    Ok(())
}

pub(crate) fn path_name(meta: &ParseNestedMeta<'_>) -> String {
    quote::ToTokens::to_token_stream(&meta.path).to_string()
}

pub(crate) fn span_of(meta: &ParseNestedMeta<'_>) -> Span {
    syn::spanned::Spanned::span(&meta.path)
}

/// A number written `0.5` or `1`.
pub(crate) fn number(literal: &syn::Lit) -> syn::Result<f32> {
    match literal {
        syn::Lit::Float(float) => float.base10_parse(),
        syn::Lit::Int(int) => int.base10_parse(),
        _ => Err(syn::Error::new_spanned(
            literal,
            "expected a number such as `0.5`",
        )),
    }
}

/// Parses `key(...)`, reading it whole: a wrong value inside is kept and parsing goes on to
/// the next inner key, so that every mistake in it is reported, and none as a stray token.
pub(crate) fn parse_group(
    meta: &ParseNestedMeta<'_>,
    mut parse: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    meta.parse_nested_meta(|inner| {
        if let Err(error) = parse(&inner) {
            skip_to_boundary(&inner)?;
            match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            }
        }
        Ok(())
    })?;
    errors.map_or(Ok(()), Err)
}

/// Skips what is left of a key's value after an error in it.
pub(crate) fn skip_to_boundary(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !at_boundary(meta) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

/// `true` once a key and its value have been read whole.
pub(crate) fn at_boundary(meta: &ParseNestedMeta<'_>) -> bool {
    meta.input.is_empty() || meta.input.peek(syn::Token![,])
}

pub(crate) fn unknown(meta: &ParseNestedMeta<'_>, within: &str, keys: &str) -> syn::Error {
    meta.error(format!(
        "unknown key `{}` in `{within}(...)`; the keys are {keys}",
        path_name(meta)
    ))
}
