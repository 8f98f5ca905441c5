//! A policy per key (downstream host, tenant, shard) from one template, bounded in memory.

use std::borrow::Cow;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, PoisonError};

use crate::policy::Policy;
use crate::policy::builder::PolicyBuilder;
use crate::policy::error::PolicyError;
use crate::policy::settings::PolicySettings;
use crate::sync::{Mutex, MutexGuard};

/// A [`Policy`] per key, each built from one template on the key's first use: a breaker, a
/// limit and a budget per downstream host, with no map written by the application.
///
/// The map holds at most `capacity` keys; past that, the key least used recently goes
/// (quick_cache's CLOCK-Pro), and with it its state: give a capacity above the keys in use
/// at once. A call that holds an evicted key's policy finishes under it; the key's next call
/// gets a fresh one.
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Breaker, BreakerState, Policy, PolicyMap};
///
/// let hosts = PolicyMap::new(
///     Policy::builder()
///         .name("wallet")
///         .breaker(Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5))),
///     1_000,
/// )
/// .unwrap();
/// let a = hosts.get(&"10.0.0.1");
/// a.force_open();
/// // Another host has a breaker of its own.
/// assert_eq!(hosts.get(&"10.0.0.2").breaker_state(), Some(BreakerState::Closed));
/// assert_eq!(hosts.get(&"10.0.0.1").name(), "wallet/10.0.0.1");
/// ```
pub struct PolicyMap<K> {
    // Held while a key's policy is built, and while the template is replaced: a policy is
    // never built from settings an update has already replaced everywhere.
    template: Mutex<PolicyBuilder>,
    policies: quick_cache::sync::Cache<K, Arc<Policy>>,
}

impl<K> PolicyMap<K>
where
    K: Eq + Hash + Clone + Display,
{
    /// A map of at most `capacity` keys, each given a policy built from `template`, named
    /// `{template's name}/{key}` (or `{key}`). The template's settings are checked now.
    pub fn new(template: PolicyBuilder, capacity: usize) -> Result<Self, PolicyError> {
        template.settings.check()?;
        Ok(Self {
            template: Mutex::new(template),
            policies: quick_cache::sync::Cache::new(capacity.max(1)),
        })
    }

    /// The key's policy, built on its first use.
    pub fn get(&self, key: &K) -> Arc<Policy> {
        if let Some(policy) = self.policies.get(key) {
            return policy;
        }
        let template = self.lock();
        let built = self.policies.get_or_insert_with(key, || {
            let name: Cow<'static, str> = match &*template.name {
                "" => key.to_string().into(),
                name => format!("{name}/{key}").into(),
            };
            let policy = Policy::new(template.clone().name(name));
            Ok::<_, std::convert::Infallible>(Arc::new(policy))
        });
        match built {
            Ok(policy) => policy,
            Err(never) => match never {},
        }
    }

    /// The key's policy if it is in the map, without making one.
    pub fn peek(&self, key: &K) -> Option<Arc<Policy>> {
        self.policies.peek(key)
    }

    /// Replaces the settings of the template and of every key's policy (see
    /// [`Policy::update`]), checked first: on an error, nothing changes.
    pub fn update(&self, settings: PolicySettings) -> Result<(), PolicyError> {
        settings.check()?;
        let mut template = self.lock();
        template.settings = settings;
        for (_, policy) in self.policies.iter() {
            policy.update(settings)?;
        }
        Ok(())
    }

    /// The template's settings.
    pub fn settings(&self) -> PolicySettings {
        self.lock().settings
    }

    /// The keys in the map now, with their policies, in no particular order.
    pub fn entries(&self) -> Vec<(K, Arc<Policy>)> {
        self.policies.iter().collect()
    }

    /// How many keys the map holds.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// `true` if no key has been used (or all were evicted).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, PolicyBuilder> {
        // Nothing panics while holding the lock.
        self.template.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Eq + Hash + Clone> std::fmt::Debug for PolicyMap<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyMap")
            .field("keys", &self.policies.len())
            .field("capacity", &self.policies.capacity())
            .finish()
    }
}
