//! `#[task(...)]`: turns an `async fn` into a fn that builds a `Task`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::attr::TaskArgs;
use crate::{duration, lifetimes};

/// The expansion, or the user's fn unchanged beside the error, so that one mistake gives one
/// error and the rest of the crate still type-checks against the fn.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[task]` goes on an `async fn` returning `Result<T, E>`",
            );
            return with_error(item, error);
        }
    };
    match TaskArgs::parse(args, Span::call_site()).and_then(|args| expand_fn(args, item_fn)) {
        Ok(expanded) => expanded,
        Err(error) => with_error(item, error),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

fn expand_fn(args: TaskArgs, item: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = item;
    let Some(async_token) = sig.asyncness.take() else {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "`#[task]` goes on an `async fn`: the fn's body is the task's future",
        ));
    };
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "a task fn must return `Result<T, E>`, with `E: std::error::Error + Send + Sync + 'static`",
            ));
        }
    };

    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::runner_core), |path| quote!(#path));
    let private = quote!(#krate::__private);
    let criticality = format_ident!("{}", args.criticality.type_name());
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let name = sig.ident.to_string();
            quote!(#name)
        }
    };
    let timeout = match args.timeout {
        Some(timeout) => {
            let timeout = duration::to_tokens(timeout);
            quote!(::core::option::Option::Some(#timeout))
        }
        None => quote!(::core::option::Option::None),
    };

    let lifetimes = lifetimes::name_elided(&mut sig);
    let captures = match lifetimes.is_empty() {
        true => quote!(),
        false => quote!(+ #private::Captures<(#(&#lifetimes (),)*)>),
    };
    let rebinds = rebind_arguments(&mut sig);

    // The checks are spanned at the user's return type, so a wrong one is reported there.
    // Where `E` is written out, it is checked by itself: a check through the `TaskOutput`
    // projection would report a second error when the type is not a `Result` at all.
    let checks = match result_error_type(&ret) {
        Some(error) => {
            let (at_ret, at_error) = (
                private_at(&args, ret.span()),
                private_at(&args, error.span()),
            );
            let output = quote_spanned!(ret.span()=> #at_ret::assert_task_output::<#ret>(););
            let error = quote_spanned!(error.span()=> #at_error::assert_task_error::<#error>(););
            quote!(#output #error)
        }
        None => {
            let at_ret = private_at(&args, ret.span());
            quote_spanned!(ret.span()=> #at_ret::assert_task_output_error::<#ret>();)
        }
    };

    sig.output = syn::parse_quote! {
        -> #private::Task<
            impl ::core::future::Future<Output = #ret> #captures,
            #private::#criticality,
        >
    };
    let fake_return = format_ident!("__task_fake_return", span = Span::mixed_site());
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #checks
            #private::new_task::<#private::#criticality, _>(#name, #timeout, #async_token move {
                #(#rebinds)*
                // Pins the block's output to the declared return type, so that `?` and
                // `return` infer against it and a mismatch is reported at the user's code.
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
                if false {
                    let #fake_return: #ret = loop {};
                    return #fake_return;
                }
                #block
            })
        }
    })
}

/// The path to the support module, with every token spanned at `span`, so that an error from a
/// check made through it points at the user's code rather than at the attribute.
fn private_at(args: &TaskArgs, span: Span) -> TokenStream {
    match &args.krate {
        Some(path) => quote_spanned!(span=> #path::__private),
        None => quote_spanned!(span=> ::runner_core::__private),
    }
}

/// Rewrites the arguments so that the fn takes them by plain names and the future moves them
/// all in, as an `async fn` does (even those the body never uses). Returns the `let`s that
/// bind the user's patterns inside the future.
fn rebind_arguments(sig: &mut syn::Signature) -> Vec<TokenStream> {
    let mut rebinds = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(_) => rebinds.push(quote!(let _ = &self;)),
            FnArg::Typed(typed) => {
                let pattern = (*typed.pat).clone();
                let plain = match &pattern {
                    Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                        Some(ident.ident.clone())
                    }
                    _ => None,
                };
                let name = plain.unwrap_or_else(|| {
                    format_ident!("__task_arg{}", index, span = Span::mixed_site())
                });
                *typed.pat = syn::parse_quote!(#name);
                rebinds.push(quote!(let #pattern = #name;));
            }
        }
    }
    rebinds
}

/// `E` in a return type written `Result<T, E>` (under any path), to point the error check at.
fn result_error_type(ret: &Type) -> Option<&Type> {
    let Type::Path(path) = ret else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().nth(1)? {
        GenericArgument::Type(error) => Some(error),
        _ => None,
    }
}
