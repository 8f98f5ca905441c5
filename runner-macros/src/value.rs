//! A duration or a number in the attribute: a literal, checked here, or the path of a
//! `const`, checked by the compiler (its type at the path, its value in a `const` block that
//! fails to compile with the same message a literal would get).

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{LitStr, Path};

use crate::duration;

/// A value as written.
#[derive(Clone)]
pub(crate) enum Value<T> {
    /// A literal, already checked.
    Literal(T, Span),
    /// A `const`'s path, checked at compile time by `check`, a `const fn` of the support
    /// module (`checked::*`) that takes the value and `message`, and panics with the message
    /// if the value cannot work.
    Const {
        path: Path,
        check: &'static str,
        message: String,
    },
}

impl<T> Value<T> {
    pub(crate) fn literal(&self) -> Option<&T> {
        match self {
            Self::Literal(value, _) => Some(value),
            Self::Const { .. } => None,
        }
    }

    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Literal(_, span) => *span,
            Self::Const { path, .. } => path.span(),
        }
    }

    /// The value's expression: the literal, or the checked `const`, spanned at its path so
    /// that a `const` of the wrong type is reported there.
    pub(crate) fn expr(&self, private: &TokenStream) -> TokenStream
    where
        T: Literal,
    {
        match self {
            Self::Literal(value, _) => value.tokens(),
            Self::Const {
                path,
                check,
                message,
            } => {
                let check = format_ident!("{}", check, span = path.span());
                quote_spanned!(path.span()=> const { #private::checked::#check(#path, #message) })
            }
        }
    }
}

/// A literal value's tokens.
pub(crate) trait Literal {
    fn tokens(&self) -> TokenStream;
}

impl Literal for Duration {
    fn tokens(&self) -> TokenStream {
        duration::to_tokens(*self)
    }
}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl Literal for $ty {
            fn tokens(&self) -> TokenStream {
                let value = *self;
                quote!(#value)
            }
        }
    )*};
}

literal!(u32, usize, f32);

/// `key = "200ms"` or `key = SOME_CONST`: a positive duration. `what` names it in messages.
pub(crate) fn duration(meta: &ParseNestedMeta<'_>, what: &str) -> syn::Result<Value<Duration>> {
    let zero = duration::zero_message(what);
    duration_within(meta, what, "positive", &zero, |value| !value.is_zero())
}

/// `key = "1s"` or `key = SOME_CONST`: a duration that `valid` accepts (else its message,
/// which a `const` gets from `check`).
pub(crate) fn duration_within(
    meta: &ParseNestedMeta<'_>,
    what: &str,
    check: &'static str,
    message: &str,
    valid: impl Fn(Duration) -> bool,
) -> syn::Result<Value<Duration>> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let value = duration::parse_any(&literal, what)?;
        if !valid(value) {
            return Err(syn::Error::new_spanned(&literal, message));
        }
        return Ok(Value::Literal(value, literal.span()));
    }
    constant(meta, DURATION, check, message)
}

/// The value's expression without its check: the literal, or the `const`'s path (for a
/// check across keys, whose values are each checked where they are used).
pub(crate) fn unchecked<T: Literal>(value: &Value<T>) -> TokenStream {
    match value {
        Value::Literal(value, _) => value.tokens(),
        Value::Const { path, .. } => path.to_token_stream(),
    }
}

/// `key = 3` or `key = SOME_CONST`: an integer that `valid` accepts (else its message).
pub(crate) fn integer<T>(
    meta: &ParseNestedMeta<'_>,
    check: &'static str,
    message: &str,
    valid: impl Fn(&T) -> bool,
) -> syn::Result<Value<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let input = meta.value()?;
    if input.peek(syn::LitInt) {
        let literal: syn::LitInt = input.parse()?;
        let value: T = literal.base10_parse()?;
        if !valid(&value) {
            return Err(syn::Error::new_spanned(&literal, message));
        }
        return Ok(Value::Literal(value, literal.span()));
    }
    constant(meta, "an integer, or the path of a `const`", check, message)
}

/// `key = 0.5` or `key = SOME_CONST`: a number that `valid` accepts (else its message).
pub(crate) fn number(
    meta: &ParseNestedMeta<'_>,
    check: &'static str,
    message: &str,
    valid: impl Fn(f32) -> bool,
) -> syn::Result<Value<f32>> {
    let input = meta.value()?;
    if input.peek(syn::Lit) {
        let literal: syn::Lit = input.parse()?;
        let value = crate::parse::number(&literal)?;
        if !valid(value) {
            return Err(syn::Error::new_spanned(&literal, message));
        }
        return Ok(Value::Literal(value, literal.span()));
    }
    constant(
        meta,
        "a number such as `0.5`, or the path of a `const` of type `f32`",
        check,
        message,
    )
}

/// What a duration key takes.
const DURATION: &str = "a duration such as \"200ms\", or the path of a `const` of type `Duration`";

/// A `const`'s path, to be checked by `check` with `message`; or an error saying what the
/// key takes (`expected`).
fn constant<T>(
    meta: &ParseNestedMeta<'_>,
    expected: &str,
    check: &'static str,
    message: &str,
) -> syn::Result<Value<T>> {
    Ok(Value::Const {
        path: parse_path(meta, expected)?,
        check,
        message: message.to_owned(),
    })
}

/// The path of a `const`, or an error saying what the key takes.
fn parse_path(meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<Path> {
    let input = meta.input;
    match input.parse::<Path>() {
        Ok(path) => Ok(path),
        Err(_) => Err(input.error(format!(
            "`{}` takes {expected}",
            meta.path.to_token_stream()
        ))),
    }
}
