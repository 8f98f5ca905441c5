//! The group of a `#[task(coalesce(key = ...))]` fn: one per fn, made at its first call.
//!
//! A `static` cannot name the group's type (the key's type is the key expression's, and a
//! generic fn's value types are its caller's), so the fn's `static` holds the group as
//! `dyn Any`, made for the types of the first call; a call of another instantiation (a
//! generic fn's, with other types) finds its own group in a table beside it. Either way a
//! group is made once and lives as long as the program, as the fn's `static`s do.

use std::any::{Any, TypeId};
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

use crate::policy::coalesce::Coalesce;

/// A group as the fn's `static` holds it.
type Erased = &'static (dyn Any + Send + Sync);

/// The slot of a fn's group.
#[derive(Debug)]
pub struct FnGroup {
    first: OnceLock<Erased>,
}

/// The groups of instantiations other than each fn's first: by the fn's slot and the types.
static OTHERS: Mutex<Vec<(usize, TypeId, Erased)>> = Mutex::new(Vec::new());

impl FnGroup {
    /// An empty slot, for a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self {
            first: OnceLock::new(),
        }
    }

    /// The fn's group for calls with keys `K` and results `Result<T, E>`, of up to `capacity`
    /// keys (checked at compile time), named `task` in its events.
    pub fn get<K, T, E>(
        &'static self,
        task: &'static str,
        capacity: usize,
    ) -> &'static Coalesce<K, T, E>
    where
        K: Hash + Eq + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let make =
            || -> Erased { Box::leak(Box::new(Coalesce::<K, T, E>::build(capacity).name(task))) };
        let first = *self.first.get_or_init(make);
        if let Some(group) = first.downcast_ref() {
            return group;
        }
        self.other(make)
    }

    #[cold]
    #[inline(never)]
    fn other<G: Any>(&'static self, make: impl FnOnce() -> Erased) -> &'static G {
        let at = self as *const Self as usize;
        let mut others = OTHERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = others
            .iter()
            .find(|(slot, types, _)| *slot == at && *types == TypeId::of::<G>())
            .map(|(_, _, group)| *group);
        let group = found.unwrap_or_else(|| {
            let group = make();
            others.push((at, TypeId::of::<G>(), group));
            group
        });
        match group.downcast_ref() {
            Some(group) => group,
            None => unreachable!("a group is found by its type"),
        }
    }
}
