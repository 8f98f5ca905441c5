//! Names the elided lifetimes of a task fn's arguments.
//!
//! The task fn returns `Task<impl Future + Captures<...>, C>`. On edition 2021, a return-
//! position `impl Trait` captures only the lifetimes its bounds name, so every lifetime the
//! arguments borrow for must have a name to be listed in `Captures`. (Edition 2024 captures
//! them all anyway; the names change nothing there.)

use proc_macro2::Span;
use syn::visit_mut::{self, VisitMut};
use syn::{
    FnArg, GenericParam, Lifetime, LifetimeParam, ParenthesizedGenericArguments, ReceiverKind,
    Signature, TypeFnPtr, TypeReference,
};

/// Gives each elided lifetime in the inputs a fresh name, declares it, and returns every
/// lifetime parameter of the fn, declared or new.
pub(crate) fn name_elided(sig: &mut Signature) -> Vec<Lifetime> {
    let mut namer = Namer { fresh: Vec::new() };
    for input in &mut sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                if let ReceiverKind::Reference(_, lifetime, _) = &mut receiver.kind {
                    namer.name(lifetime);
                }
            }
            FnArg::Typed(typed) => namer.visit_type_mut(&mut typed.ty),
        }
    }
    for lifetime in &namer.fresh {
        sig.generics
            .params
            .push(GenericParam::Lifetime(LifetimeParam::new(lifetime.clone())));
    }
    sig.generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Lifetime(param) => Some(param.lifetime.clone()),
            _ => None,
        })
        .collect()
}

struct Namer {
    fresh: Vec<Lifetime>,
}

impl Namer {
    fn name(&mut self, lifetime: &mut Option<Lifetime>) {
        match lifetime {
            Some(named) if named.ident != "_" => {}
            _ => *lifetime = Some(self.next()),
        }
    }

    fn next(&mut self) -> Lifetime {
        let lifetime = Lifetime::new(&format!("'__task{}", self.fresh.len()), Span::mixed_site());
        self.fresh.push(lifetime.clone());
        lifetime
    }
}

impl VisitMut for Namer {
    fn visit_type_reference_mut(&mut self, reference: &mut TypeReference) {
        self.name(&mut reference.lifetime);
        visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.next();
        }
    }

    // Elided lifetimes in `fn(&str)` and `Fn(&str)` are higher-ranked: naming them would
    // change the type.
    fn visit_type_fn_ptr_mut(&mut self, _: &mut TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }
}
