//! The path generated code reaches runner-core's support module by, resolved once per
//! expansion for both macros: `::runner_core::__private`, or `<crate>::__private` when the
//! attribute's `crate = "..."` names a renamed dependency.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::Path;

/// The support module's path, its tokens spanned at `span`, so that an error from a check
/// made through it points at the user's code rather than at the macro.
pub(crate) fn path(krate: Option<&Path>, span: Span) -> TokenStream {
    match krate {
        Some(krate) => quote_spanned!(span=> #krate::__private),
        None => quote_spanned!(span=> ::runner_core::__private),
    }
}
