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
    meta.parse_nested_meta(|inner| recover(&mut errors, parse(&inner), &inner))?;
    errors.map_or(Ok(()), Err)
}

/// Parses `key(...)` as [`parse_group`] does, and an unnamed integer first if there is one
/// (`rate(100, per = "1s")`), which it returns.
pub(crate) fn parse_group_after(
    meta: &ParseNestedMeta<'_>,
    mut parse: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) -> syn::Result<Option<syn::LitInt>> {
    let ahead = meta.input.fork();
    let peek;
    syn::parenthesized!(peek in ahead);
    if !peek.peek(syn::LitInt) {
        return parse_group(meta, parse).map(|()| None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let literal: syn::LitInt = content.parse()?;
    let mut errors = None;
    if !content.is_empty() {
        content.parse::<syn::Token![,]>()?;
    }
    let rest: proc_macro2::TokenStream = content.parse()?;
    let parser = syn::meta::parser(|inner| recover(&mut errors, parse(&inner), &inner));
    syn::parse::Parser::parse2(parser, rest)?;
    errors.map_or(Ok(Some(literal)), Err)
}

/// Keeps `result`'s error with those before it, and skips past the rest of the key.
fn recover(
    errors: &mut Option<syn::Error>,
    result: syn::Result<()>,
    inner: &ParseNestedMeta<'_>,
) -> syn::Result<()> {
    if let Err(error) = result {
        skip_to_boundary(inner)?;
        match errors {
            Some(errors) => errors.combine(error),
            None => *errors = Some(error),
        }
    }
    Ok(())
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
