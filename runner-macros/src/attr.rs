//! The arguments of `#[task(...)]`.

use std::time::Duration;

use proc_macro2::Span;
use syn::{LitStr, Path};

use crate::coalesce::CoalesceArgs;
use crate::parse::{path_name, set_once, span_of};
use crate::policy::Policies;
use crate::value::{self, Value};
use crate::{private, valid};

/// Every key `#[task(...)]` accepts, for the "unknown key" message.
const KEYS: &str = "`critical`, `best_effort`, `timeout = \"200ms\"`, `name = \"...\"`, `crate = \"...\"`, \
     `policy = <expr>`, `retry(attempts = 3, ...)`, `hedge = \"50ms\"`, `breaker(window = \"10s\", cooldown = \"5s\", ...)`, \
     `limit = 32`, `rate_limit(max = 100, per = \"1s\", ...)` (or `rate(100, ...)`), `fallback = path::to_fn`, `retry_if = path::to_fn`, `retry_if_value = path::to_fn`, `retry_delay_from = path::to_fn`, `breaker_if = path::to_fn`, \
     `cooldown_from = path::to_fn`, `coalesce(key = <expr>, ...)`, `boxed`, `label = <expr>`";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criticality {
    Critical,
    BestEffort,
}

impl Criticality {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Self::Critical => "Critical",
            Self::BestEffort => "BestEffort",
        }
    }
}

/// The parsed arguments.
pub(crate) struct TaskArgs {
    pub(crate) criticality: Criticality,
    pub(crate) timeout: Option<Value<Duration>>,
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<Path>,
    pub(crate) policies: Policies,
    /// `boxed`: the fn returns a `BoxTask`, for a trait object's method.
    pub(crate) boxed: bool,
    /// `label = <expr>`: each call's label, from the fn's arguments.
    pub(crate) label: Option<syn::Expr>,
    /// `coalesce(key = <expr>, ...)`: calls with the same key share one run.
    pub(crate) coalesce: Option<CoalesceArgs>,
    /// The checks of `const` values, left to the compiler.
    pub(crate) deferred: proc_macro2::TokenStream,
}

impl TaskArgs {
    /// Parses the attribute's arguments; `attr_span` is where a missing key is reported.
    ///
    /// A policy key with a wrong value is returned beside the arguments rather than instead
    /// of them: the fn then expands without its policies but with its criticality, timeout
    /// and name, so that its callers see the slot types they expect and raise no second error.
    pub(crate) fn parse(
        args: proc_macro2::TokenStream,
        attr_span: Span,
    ) -> syn::Result<(Self, Option<syn::Error>)> {
        let mut criticality: Option<(Criticality, Span)> = None;
        let mut timeout = None;
        let mut name = None;
        let mut krate = None;
        let mut policies = Policies::default();
        let mut boxed = None;
        let mut label = None;
        let mut coalesce = None;
        let mut policy_errors: Vec<syn::Error> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("critical") || meta.path.is_ident("best_effort") {
                let kind = match meta.path.is_ident("critical") {
                    true => Criticality::Critical,
                    false => Criticality::BestEffort,
                };
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error(format!("`{}` takes no value", path_name(&meta))));
                }
                if let Some((previous, _)) = criticality {
                    let message = match previous == kind {
                        true => format!("`{}` is set more than once", path_name(&meta)),
                        false => {
                            "a task is either `critical` or `best_effort`, not both".to_owned()
                        }
                    };
                    return Err(meta.error(message));
                }
                criticality = Some((kind, span_of(&meta)));
                Ok(())
            } else if meta.path.is_ident("timeout") {
                set_once(&meta, &mut timeout, value::duration(&meta, "timeout")?)
            } else if meta.path.is_ident("name") {
                let literal: LitStr = meta.value()?.parse()?;
                if literal.value().is_empty() {
                    return Err(syn::Error::new_spanned(
                        &literal,
                        "a task's name cannot be empty",
                    ));
                }
                set_once(&meta, &mut name, literal)
            } else if meta.path.is_ident("boxed") {
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error("`boxed` takes no value"));
                }
                set_once(&meta, &mut boxed, ())
            } else if meta.path.is_ident("label") {
                let expr: syn::Expr = meta.value()?.parse()?;
                set_once(&meta, &mut label, expr)
            } else if meta.path.is_ident("coalesce") {
                // Parsing goes on past a wrong `coalesce(...)`, as past a wrong policy key.
                match CoalesceArgs::parse(&meta) {
                    Ok(args) => set_once(&meta, &mut coalesce, args),
                    Err(error) => {
                        crate::parse::skip_to_boundary(&meta)?;
                        policy_errors.push(error);
                        Ok(())
                    }
                }
            } else if meta.path.is_ident("crate") {
                let literal: LitStr = meta.value()?.parse()?;
                set_once(&meta, &mut krate, literal.parse::<Path>()?)
            } else {
                match policies.parse_key(&meta) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(meta.error(format!(
                        "unknown key `{}`; the keys are {KEYS}",
                        path_name(&meta)
                    ))),
                    // Parsing goes on past a wrong policy key.
                    Err(error) => {
                        crate::parse::skip_to_boundary(&meta)?;
                        policy_errors.push(error);
                        Ok(())
                    }
                }
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        let Some((criticality, _)) = criticality else {
            return Err(syn::Error::new(
                attr_span,
                "a task needs its criticality: write `#[task(critical)]` or `#[task(best_effort)]`",
            ));
        };
        let private = private::path(krate.as_ref(), Span::call_site());
        let deferred = match valid::check(&policies, timeout.as_ref(), &private) {
            Ok(deferred) => deferred,
            Err(error) => {
                policy_errors.push(error);
                Default::default()
            }
        };
        let policy_error = policy_errors.into_iter().reduce(|mut all, error| {
            all.combine(error);
            all
        });
        if policy_error.is_some() {
            policies = Policies::default();
            coalesce = None;
        }
        let args = Self {
            criticality,
            timeout,
            name,
            krate,
            policies,
            boxed: boxed.is_some(),
            label,
            coalesce,
            deferred,
        };
        Ok((args, policy_error))
    }
}
