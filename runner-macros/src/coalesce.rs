//! `coalesce(key = <expr>, capacity = N)` or `coalesce(key = <expr>, group = <expr>)`: calls
//! with the same key share one run while it is in flight, in the fn's own group or in one
//! the application owns.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Type};

use crate::parse::{parse_group, set_once, unknown};
use crate::value::{self, Value};

/// Held word for word to runner-core's `Coalesce::with_capacity` message.
pub(crate) const CAPACITY_ZERO: &str =
    "a coalescing group holds at least one key: `capacity` must be at least 1";

pub(crate) struct CoalesceArgs {
    key: Expr,
    capacity: Option<Value<usize>>,
    group: Option<Expr>,
}

/// Where a call's group comes from.
enum Group<'a> {
    /// The fn's own, of `capacity` keys (the default if `None`).
    PerFn(Option<&'a Value<usize>>),
    /// The expression given.
    Given(&'a Expr),
}

impl CoalesceArgs {
    /// Parses `coalesce(...)`.
    pub(crate) fn parse(meta: &ParseNestedMeta<'_>) -> syn::Result<Self> {
        const KEYS: &str = "`key = <expr>`, `capacity = 10000`, `group = <expr>`";
        let (mut key, mut capacity, mut group) = (None, None, None);
        parse_group(meta, |inner| {
            let name = inner.path.get_ident().map(ToString::to_string);
            match name.as_deref().unwrap_or_default() {
                "key" => set_once(inner, &mut key, inner.value()?.parse::<Expr>()?),
                "capacity" => set_once(
                    inner,
                    &mut capacity,
                    value::integer(inner, "capacity", CAPACITY_ZERO, |n: &usize| *n > 0)?,
                ),
                "group" => set_once(inner, &mut group, inner.value()?.parse::<Expr>()?),
                _ => Err(unknown(inner, "coalesce", KEYS)),
            }
        })?;
        let Some(key) = key else {
            return Err(syn::Error::new(
                meta.path.span(),
                "`coalesce` needs the key that makes calls alike: write `coalesce(key = user_id)`",
            ));
        };
        if let (Some(capacity), Some(_)) = (&capacity, &group) {
            return Err(syn::Error::new(
                capacity.span(),
                "`capacity` sizes the fn's own group; a group given with `group = ...` has its own (`Coalesce::with_capacity`)",
            ));
        }
        Ok(Self {
            key,
            capacity,
            group,
        })
    }

    /// `true` if the calls coalesce in the fn's own group.
    pub(crate) fn per_fn(&self) -> bool {
        self.group.is_none()
    }

    fn group(&self) -> Group<'_> {
        match &self.group {
            Some(group) => Group::Given(group),
            None => Group::PerFn(self.capacity.as_ref()),
        }
    }

    /// The key's read, made when the fn is called, before the body takes the arguments.
    pub(crate) fn read_key(&self, private_at: impl Fn(Span) -> TokenStream) -> TokenStream {
        let key = &self.key;
        let at_key = private_at(key.span());
        let name = key_name(key);
        let owned = quote_spanned! {key.span()=>
            {
                use #at_key::CoalesceKeyOf as _;
                (#key).__coalesce_key()
            }
        };
        match self.group() {
            // The fn's own group checks the key's type here, at the key.
            Group::PerFn(_) => quote_spanned! {key.span()=>
                let #name = #at_key::coalesce_key(#owned);
            },
            Group::Given(_) => quote_spanned! {key.span()=>
                let #name = #owned;
            },
        }
    }

    /// `task`, coalesced by the key [`read_key`](Self::read_key) read. `ret` is the fn's
    /// return type, which the fn's own group checks its result by.
    pub(crate) fn wrap(
        &self,
        private_at: impl Fn(Span) -> TokenStream,
        task: TokenStream,
        ret: &Type,
        arguments: &[&syn::Ident],
    ) -> TokenStream {
        let name = key_name(&self.key);
        match self.group() {
            Group::PerFn(capacity) => {
                let private = private_at(Span::call_site());
                let capacity = match capacity {
                    Some(capacity) => capacity.expr(&private),
                    None => quote!(#private::COALESCE_CAPACITY),
                };
                let group = format_ident!("__TASK_GROUP", span = Span::mixed_site());
                // Spanned at the return type, where a result that is not `Clone` is
                // reported.
                let at_ret = private_at(ret.span());
                quote_spanned! {ret.span()=>
                    #at_ret::coalesce_per_fn::<#ret, _, _, _, _>(
                        #task,
                        {
                            static #group: #private::FnGroup = #private::FnGroup::new();
                            &#group
                        },
                        #capacity,
                        #name,
                    )
                }
            }
            Group::Given(group) => {
                let span = group.span();
                let at = private_at(span);
                let group = crate::policy::borrowed(group, arguments);
                quote_spanned!(span=> #at::coalesce(#task, #group, #name))
            }
        }
    }
}

/// The key's name, where the key is written: a key of the wrong type for a group given is
/// reported there.
fn key_name(key: &Expr) -> syn::Ident {
    syn::Ident::new("__task_key", Span::mixed_site().located_at(key.span()))
}
