//! `fan_out!(...)`: a `FanOut` over the given tasks, each slot typed by its criticality.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Path, Token};

use crate::duration;
use crate::private;

/// The static engine runs tuples of at most this many tasks.
const MAX_TASKS: usize = 16;

const OPTIONS: &str = "`deadline = \"300ms\"`, `deadline = <Duration>`, `cancel = <CancellationToken>`, `report`, `crate = \"...\"`";

#[derive(Default)]
struct Options {
    deadline: Option<TokenStream>,
    cancel: Option<Expr>,
    report: Option<Span>,
    krate: Option<Path>,
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match expand_inner(input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn expand_inner(input: TokenStream) -> syn::Result<TokenStream> {
    let (options, tasks) = split_options(input);
    let options = match options {
        Some(options) => parse_options.parse2(options)?,
        None => Options::default(),
    };
    let tasks = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tasks)?;
    if options_without_semicolon(&options, &tasks) {
        return Err(syn::Error::new_spanned(
            &tasks[0],
            "options go before the tasks, separated from them by `;`, as in \
             `fan_out!(deadline = \"300ms\"; get_balance(id), get_scratch_card(id))`",
        ));
    }
    if tasks.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`fan_out!` needs at least one task, as in `fan_out!(get_balance(id), get_scratch_card(id))`",
        ));
    }
    if let Some(extra) = tasks.iter().nth(MAX_TASKS) {
        return Err(syn::Error::new_spanned(
            extra,
            format!(
                "`fan_out!` takes at most {MAX_TASKS} tasks; use `runner_core::TaskRunner` for more"
            ),
        ));
    }

    let private = private::path(options.krate.as_ref(), Span::call_site());
    // Spanned at each task, so "is not a task" points at the user's expression.
    let tasks = tasks
        .iter()
        .map(|task| quote_spanned!(task.span()=> #private::into_task(#task),));
    let deadline = options
        .deadline
        .map(|deadline| quote!(.deadline(#deadline)));
    let cancel = options
        .cancel
        .map(|cancel| quote_spanned!(cancel.span()=> .cancel_on(#private::cancel_token(&#cancel))));
    let report = options.report.map(|_| quote!(.with_report()));
    Ok(quote! {
        #private::FanOut::new((#(#tasks)*)) #deadline #cancel #report
    })
}

/// Whether the first "task" is an option written without the `;` that ends the options.
fn options_without_semicolon(options: &Options, tasks: &Punctuated<Expr, Token![,]>) -> bool {
    let is_option = |expr: &Expr, names: &[&str]| match expr {
        Expr::Path(path) => path
            .path
            .get_ident()
            .is_some_and(|ident| names.iter().any(|name| ident == name)),
        _ => false,
    };
    let no_options =
        options.deadline.is_none() && options.cancel.is_none() && options.report.is_none();
    no_options
        && tasks.first().is_some_and(|first| match first {
            Expr::Assign(assign) => is_option(&assign.left, &["deadline", "cancel", "crate"]),
            other => is_option(other, &["report"]),
        })
}

/// Splits `options; tasks` at its top-level `;`, if it has one (a `;` inside a block or
/// closure is inside a group, so never at the top level).
fn split_options(input: TokenStream) -> (Option<TokenStream>, TokenStream) {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let semicolon = tokens
        .iter()
        .position(|token| matches!(token, TokenTree::Punct(punct) if punct.as_char() == ';'));
    match semicolon {
        Some(at) => (
            Some(tokens[..at].iter().cloned().collect()),
            tokens[at + 1..].iter().cloned().collect(),
        ),
        None => (None, tokens.into_iter().collect()),
    }
}

fn parse_options(input: ParseStream<'_>) -> syn::Result<Options> {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    while !input.is_empty() {
        let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let name = key.to_string();
        if seen.contains(&name) {
            return Err(syn::Error::new_spanned(
                &key,
                format!("`{name}` is set more than once"),
            ));
        }
        match name.as_str() {
            "deadline" => {
                input.parse::<Token![=]>()?;
                let value: Expr = input.parse()?;
                options.deadline = Some(match &value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(literal),
                        ..
                    }) => duration::to_tokens(duration::parse(literal, "deadline")?),
                    _ => quote_spanned!(value.span()=> #value),
                });
            }
            "cancel" => {
                input.parse::<Token![=]>()?;
                options.cancel = Some(input.parse()?);
            }
            "report" => {
                if input.peek(Token![=]) {
                    return Err(syn::Error::new_spanned(&key, "`report` takes no value"));
                }
                options.report = Some(key.span());
            }
            "crate" => {
                input.parse::<Token![=]>()?;
                let literal: LitStr = input.parse()?;
                options.krate = Some(literal.parse()?);
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("unknown option `{name}`; the options are {OPTIONS}"),
                ));
            }
        }
        seen.push(name);
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(options)
}
