//! The checks across keys of `#[task(...)]`, made once the whole attribute is read, each
//! reported at the user's token that cannot work with the others.

use std::time::Duration;

use crate::policy::Policies;

/// A retry's `max_backoff` caps its `backoff`; a hedge must start before the task's timeout
/// ends it.
pub(crate) fn check(policies: &Policies, timeout: Option<Duration>) -> syn::Result<()> {
    if let Some(retry) = &policies.retry
        && let (Some(backoff), Some((max_backoff, literal))) = (retry.backoff, &retry.max_backoff)
        && *max_backoff < backoff
    {
        return Err(syn::Error::new_spanned(
            literal,
            "`max_backoff` caps the backoff, so it cannot be shorter than `backoff`",
        ));
    }
    if let (Some(hedge), Some(timeout)) = (&policies.hedge, timeout)
        && hedge.after >= timeout
    {
        return Err(syn::Error::new_spanned(
            &hedge.after_literal,
            format!(
                "a hedge after {} would never start: the task's timeout of {} ends it first; give a delay below the timeout",
                humantime::format_duration(hedge.after),
                humantime::format_duration(timeout),
            ),
        ));
    }
    Ok(())
}
