//! `#[task(...)]`: turns an `async fn` into a fn that builds a `Task`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{AttrStyle, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::attr::{Criticality, TaskArgs};
use crate::private;

/// The expansion, with the errors beside it.
///
/// A mistake in the attribute's arguments still expands the fn (as a critical task without a
/// timeout), so that its callers, `fan_out!` included, see a task and raise no second error.
/// A fn that cannot be a task is kept as written, for the same reason.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = not_a_fn(&item);
            return with_error(item, error);
        }
    };
    let (args, args_error) = match TaskArgs::parse(args.clone(), Span::call_site()) {
        Ok((args, policy_error)) => (args, policy_error),
        Err(error) => (TaskArgs::fallback(&args), Some(error)),
    };
    let mut item_fn = item_fn;
    // `const` is refused, and the fn expanded without it: `const async` would be rustc's
    // second error.
    let const_error = item_fn.sig.constness.take().map(|constness| {
        syn::Error::new_spanned(
            constness,
            "a task fn cannot be `const`: it builds a task at run time",
        )
    });
    let errors = args_error
        .into_iter()
        .chain(const_error)
        .map(|error| error.to_compile_error());
    match expand_fn(&args, item_fn) {
        Ok(expanded) => quote!(#expanded #(#errors)*),
        Err(error) => with_error(item, error),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// The error for an item that is not a fn with a body.
fn not_a_fn(item: &TokenStream) -> syn::Error {
    match syn::parse2::<syn::TraitItemFn>(item.clone()) {
        Ok(declaration) => syn::Error::new_spanned(
            &declaration.sig,
            "`#[task]` needs the fn's body; in a trait, declare the fn as returning \
             `runner_core::Task<impl Future<Output = Result<T, E>> + Send, runner_core::Critical>` \
             (or `BestEffort`), or `runner_core::BoxTask<'_, T, E, runner_core::Critical>` for a \
             trait used as `dyn`, and put `#[task(...)]` on the impl's fn (with `boxed` for a `BoxTask`)",
        ),
        Err(_) => syn::Error::new(
            Span::call_site(),
            "`#[task]` goes on an `async fn` returning `Result<T, E>`",
        ),
    }
}

fn expand_fn(args: &TaskArgs, item: ItemFn) -> syn::Result<TokenStream> {
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
            return Err(syn::Error::new_spanned(
                &sig.ident,
                "a task fn must return `Result<T, E>`, with `E: std::error::Error + Send + Sync + 'static`",
            ));
        }
    };

    let private = private_at(args, Span::call_site());
    let criticality = format_ident!("{}", args.criticality.type_name());
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let name = sig.ident.unraw().to_string();
            quote!(#name)
        }
    };
    let timeout = match &args.timeout {
        Some(timeout) => {
            let timeout = timeout.expr(&private);
            quote!(::core::option::Option::Some(#timeout))
        }
        None => quote!(::core::option::Option::None),
    };
    let repeat_error = match args.policies.repeats() {
        true => check_receiver(&sig),
        false => None,
    };
    let (rebinds, names) = rebind_arguments(&mut sig);
    // An `impl Trait` in the return type can name no `let`'s type: such a fn goes without the
    // checks and the inference pin below, as a plain `async fn` would.
    let (checks, pin_output) = match contains_impl_trait(&ret) {
        true => (quote!(), quote!()),
        false => (checks(args, &ret), pin_output(&ret)),
    };
    if let Some(instrument) = attrs.iter().find(|attr| is_instrument(attr)) {
        return Err(syn::Error::new_spanned(
            instrument,
            "put `#[tracing::instrument]` above `#[task]`: below it, it would instrument the fn \
             that builds the task, and its span would close before the task runs",
        ));
    }
    // Inner attributes (`#![allow(..)]` in the body) apply to the whole fn: they move to it.
    let (inner, outer): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let inner = inner.into_iter().map(|mut attr| {
        attr.style = AttrStyle::Outer;
        attr
    });

    // The `impl` token below is spanned by this crate, whose edition (2024) makes the
    // `impl Future` capture every lifetime of the arguments even when the caller is on 2021.
    // Keep this crate on edition 2024.
    sig.output = match args.boxed {
        // The box borrows what the arguments borrow: `'_` is their one lifetime (or `self`'s).
        true => {
            let lifetime = box_lifetime(&sig)?;
            syn::parse_quote! {
                -> #private::BoxTaskOf<#lifetime, #ret, #private::#criticality>
            }
        }
        false => syn::parse_quote! {
            -> #private::Task<impl ::core::future::Future<Output = #ret>, #private::#criticality>
        },
    };
    let stmts = &block.stmts;
    let body = quote! {
        #async_token move {
            #(#rebinds)*
            #pin_output
            #(#stmts)*
        }
    };
    let build = match args.policies.is_empty() || repeat_error.is_some() {
        true => quote! {
            #private::new_task::<#private::#criticality, _>(#name, #timeout, #body)
        },
        false => policy_task(
            args,
            &criticality,
            &name,
            &timeout,
            &names,
            body,
            (!contains_impl_trait(&ret)).then_some(&ret),
        ),
    };
    // The key and the label are read before the arguments move into the task's future.
    let (key, build) = match &args.coalesce {
        // Its own group's types are the result's, which must be written out to be named.
        Some(coalesce) if coalesce.per_fn() && contains_impl_trait(&ret) => {
            let error = syn::Error::new_spanned(
                &ret,
                "a fn coalesced in its own group names its result's type for the group: write it out rather than `impl Trait`, or give a group with `coalesce(..., group = ...)`",
            );
            (error.to_compile_error(), build)
        }
        Some(coalesce) => {
            let arguments: Vec<&syn::Ident> = names.iter().map(|argument| &argument.name).collect();
            let private_at = |span| private_at(args, span);
            (
                coalesce.read_key(private_at),
                coalesce.wrap(private_at, build, &ret, &arguments),
            )
        }
        None => (quote!(), build),
    };
    let (label, build) = match &args.label {
        Some(expr) => {
            let at = private_at(args, expr.span());
            let name = format_ident!("__task_label", span = Span::mixed_site());
            let read = quote_spanned! {expr.span()=>
                let #name = #at::label_of(&(#expr));
            };
            (read, quote!(#private::Task::label(#build, #name)))
        }
        None => (quote!(), build),
    };
    let build = match args.boxed {
        true => quote!(#private::Task::boxed(#build)),
        false => build,
    };
    let repeat_error = repeat_error.map(|error| error.to_compile_error());
    let deferred = &args.deferred;
    Ok(quote! {
        #(#outer)*
        #(#inner)*
        #vis #sig {
            #checks
            #deferred
            #key
            #label
            #build
        }
        #repeat_error
    })
}

/// The task of a fn with policies: the policy its `policy = <expr>` gives, or its per-fn
/// default; and either the body as the one attempt or, with retries or hedges (or a policy
/// given at run time, which may have them), a closure that starts the body anew for each
/// attempt, with its own copy of the arguments.
fn policy_task(
    args: &TaskArgs,
    criticality: &syn::Ident,
    name: &TokenStream,
    timeout: &TokenStream,
    names: &[Argument],
    body: TokenStream,
    ret: Option<&Type>,
) -> TokenStream {
    let private = &private_at(args, Span::call_site());
    let policies = &args.policies;
    let arguments: Vec<&syn::Ident> = names.iter().map(|argument| &argument.name).collect();
    let policy = policies.source(private, name, &arguments);
    let options = policies.options(private, ret);
    if !policies.repeats() {
        return quote! {
            #private::policy_task_once::<_, #private::#criticality, _, _, _, _>(
                #name, #timeout, #policy, #options, #body,
            )
        };
    }
    let copies = names.iter().map(|Argument { attrs, name, ty }| {
        let at = private_at(args, ty.span());
        if contains_impl_trait(ty) {
            quote_spanned! {name.span()=>
                #(#attrs)* let #name = #at::copy_for_attempt(&#name);
            }
        } else {
            quote_spanned! {ty.span()=>
                #(#attrs)* let #name = <#ty as #at::AttemptArg>::for_attempt(&#name);
            }
        }
    });

    quote! {
        #private::policy_task::<_, #private::#criticality, _, _, _, _, _>(
            #name, #timeout, #policy, #options,
            move || {
                #(#copies)*
                #body
            },
        )
    }
}

/// Retries and hedges run the body once per attempt, and hedges run attempts at once: the
/// receiver must be a shared reference that every attempt can hold.
fn check_receiver(sig: &syn::Signature) -> Option<syn::Error> {
    let receiver = sig.receiver()?;
    let shared = match &receiver.kind {
        syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_none(),
        syn::ReceiverKind::Typed(_, ty) => {
            matches!(&**ty, Type::Reference(reference) if reference.mutability.is_none())
        }
        _ => false,
    };
    if shared {
        return None;
    }
    Some(syn::Error::new_spanned(
        receiver,
        "`retry` and `hedge` run the body once per attempt, and hedged attempts run at once: a task fn with them, or with `policy = ...` (which may have them), takes `&self`",
    ))
}

/// The checks of the return type, spanned at the user's tokens so that a wrong type is
/// reported there. Where `E` is written out it is checked by itself: a check through the
/// `TaskOutput` projection would report a second error when the type is no `Result` at all.
fn checks(args: &TaskArgs, ret: &Type) -> TokenStream {
    let at_ret = private_at(args, ret.span());
    match result_error_type(ret) {
        Some(error) => {
            let at_error = private_at(args, error.span());
            let output = quote_spanned!(ret.span()=> #at_ret::assert_task_output::<#ret>(););
            let error = quote_spanned!(error.span()=> #at_error::assert_task_error::<#error>(););
            quote!(#output #error)
        }
        None => quote_spanned!(ret.span()=> #at_ret::assert_task_output_error::<#ret>();),
    }
}

/// Pins the future's output to the declared return type, so that `?` and `return` infer
/// against it and a mismatch is reported at the user's code (tracing-attributes' fake
/// return edge).
fn pin_output(ret: &Type) -> TokenStream {
    let fake_return = format_ident!("__task_fake_return", span = Span::mixed_site());
    quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
        if false {
            let #fake_return: #ret = loop {};
            return #fake_return;
        }
    }
}

/// The path to the support module, spanned at `span` (see [`private::path`]).
fn private_at(args: &TaskArgs, span: Span) -> TokenStream {
    private::path(args.krate.as_ref(), span)
}

/// A typed argument under the plain name the fn takes it by.
struct Argument {
    attrs: Vec<syn::Attribute>,
    name: syn::Ident,
    ty: Type,
}

/// Rewrites the arguments so that the fn takes them by plain names, and returns the `let`s
/// that move them all into the future, as an `async fn` does: an argument the body never uses,
/// or the `_` part of a pattern, is dropped when the task ends, not when the fn is called.
fn rebind_arguments(sig: &mut syn::Signature) -> (Vec<TokenStream>, Vec<Argument>) {
    let mut rebinds = Vec::new();
    let mut names = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(_) => rebinds.push(quote!(let _ = &self;)),
            FnArg::Typed(typed) => {
                let pattern = (*typed.pat).clone();
                let attrs = &typed.attrs;
                match &pattern {
                    Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                        let name = &ident.ident;
                        *typed.pat = syn::parse_quote!(#name);
                        rebinds.push(quote!(#(#attrs)* let #pattern = #name;));
                        names.push(Argument {
                            attrs: attrs.clone(),
                            name: name.clone(),
                            ty: (*typed.ty).clone(),
                        });
                    }
                    _ => {
                        let name = format_ident!("__task_arg{}", index, span = Span::mixed_site());
                        *typed.pat = syn::parse_quote!(#name);
                        rebinds.push(quote! {
                            #(#attrs)* let #name = #name;
                            #(#attrs)* let #pattern = #name;
                        });
                        names.push(Argument {
                            attrs: attrs.clone(),
                            name,
                            ty: (*typed.ty).clone(),
                        });
                    }
                }
            }
        }
    }
    (rebinds, names)
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

/// `true` for `#[instrument]`, `#[tracing::instrument]` or
/// `#[tracing_attributes::instrument]`, left for after `#[task]`.
fn is_instrument(attr: &syn::Attribute) -> bool {
    let path: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    matches!(
        path.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ["instrument"] | ["tracing", "instrument"] | ["tracing_attributes", "instrument"]
    )
}

/// The lifetime of a boxed task's future: what the arguments borrow, which must be one
/// lifetime (`'static` if they borrow nothing). A fn type's or an `Fn(..)` bound's own
/// lifetimes are not the signature's, and `'static` borrows nothing.
fn box_lifetime(sig: &syn::Signature) -> syn::Result<TokenStream> {
    #[derive(Default)]
    struct Finder {
        elided: usize,
        named: Vec<syn::Ident>,
    }
    impl Visit<'_> for Finder {
        fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
            match lifetime.ident.to_string().as_str() {
                "static" => {}
                "_" => self.elided += 1,
                _ if self.named.contains(&lifetime.ident) => {}
                _ => self.named.push(lifetime.ident.clone()),
            }
        }
        fn visit_type_reference(&mut self, reference: &syn::TypeReference) {
            if reference.lifetime.is_none() {
                self.elided += 1;
            }
            syn::visit::visit_type_reference(self, reference);
        }
        fn visit_receiver(&mut self, receiver: &syn::Receiver) {
            // A named one is visited below.
            if let syn::ReceiverKind::Reference(_, None, _) = &receiver.kind {
                self.elided += 1;
            }
            syn::visit::visit_receiver(self, receiver);
        }
        fn visit_type_fn_ptr(&mut self, _: &syn::TypeFnPtr) {}
        fn visit_parenthesized_generic_arguments(
            &mut self,
            _: &syn::ParenthesizedGenericArguments,
        ) {
        }
    }
    let mut finder = Finder::default();
    for input in &sig.inputs {
        finder.visit_fn_arg(input);
    }
    match (finder.elided, finder.named.as_slice()) {
        (0, []) => Ok(quote!('static)),
        (1, []) => Ok(quote!('_)),
        (0, [one]) => {
            let lifetime = syn::Lifetime {
                apostrophe: one.span(),
                ident: one.clone(),
            };
            Ok(quote!(#lifetime))
        }
        _ => Err(syn::Error::new_spanned(
            &sig.ident,
            "a boxed task borrows its arguments for one lifetime: name it on each borrowed \
             argument, e.g. `fn get<'a>(&'a self, key: &'a str)`, and return \
             `BoxTask<'a, T, E, Critical>` in the trait",
        )),
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

impl TaskArgs {
    /// What a fn with broken arguments expands as, beside the error: what its bare keys
    /// (`best_effort`, `boxed`) still say, so that its callers and a trait it implements see
    /// the types they expect and raise no second error.
    fn fallback(args: &TokenStream) -> Self {
        let mut bare = Vec::new();
        let mut tokens = args.clone().into_iter().peekable();
        while let Some(token) = tokens.next() {
            let ends = tokens.peek().is_none_or(
                |next| matches!(next, proc_macro2::TokenTree::Punct(p) if p.as_char() == ','),
            );
            if let (proc_macro2::TokenTree::Ident(ident), true) = (&token, ends) {
                bare.push(ident.to_string());
            }
            // Skip to the next key.
            while tokens
                .next_if(
                    |next| !matches!(next, proc_macro2::TokenTree::Punct(p) if p.as_char() == ','),
                )
                .is_some()
            {}
            tokens.next();
        }
        let has = |key: &str| bare.iter().any(|found| found == key);
        Self {
            criticality: match has("best_effort") && !has("critical") {
                true => Criticality::BestEffort,
                false => Criticality::Critical,
            },
            timeout: None,
            name: None,
            krate: None,
            policies: Default::default(),
            boxed: has("boxed"),
            label: None,
            coalesce: None,
            deferred: Default::default(),
        }
    }
}
