//! The gateway's resilience policies, one per downstream call, read from a TOML file
//! (`--policies FILE`) or the one built in ([`DEFAULT`]), and owned by each gateway.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use runner_core::policy::Coalesce;
use runner_core::{Observer, Policy, PolicyConfig, PolicyError};

use crate::gateway::client::ScratchError;
use crate::model::ScratchCard;
use serde::{Deserialize, Serialize};

/// The policies the gateway runs on without `--policies`: `runner-example/policies.toml`.
pub const DEFAULT: &str = include_str!("../policies.toml");

/// The policies file: a `[wallet]` and a `[scratch_card]` section, each a `PolicyConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// `get_balance`'s policy.
    pub wallet: PolicyConfig,
    /// `get_scratch_card`'s policy.
    pub scratch_card: PolicyConfig,
}

/// Why a policies file cannot be used. Each message names the file and the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoliciesError {
    /// The file cannot be read.
    #[error("the policies file {path} cannot be read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a policies file (TOML syntax, an unknown or missing key, a bad
    /// duration): toml's message names the key and the line.
    #[error("the policies file {path} does not parse: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A setting cannot work, e.g. `wallet.retry.attempts = 0`.
    #[error("the policies file {path}: `{section}.{}`: {}", source.field(), source.message())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `wallet` or `scratch_card`.
        section: &'static str,
        /// The setting, and why.
        #[source]
        source: PolicyError,
    },
}

impl PoliciesConfig {
    /// The built-in policies.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT, Path::new("<built in>")).expect("the built-in policies are valid")
    }

    /// The policies in the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, PoliciesError> {
        let text = std::fs::read_to_string(path).map_err(|source| PoliciesError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The policies in `text`, read from `path`; checked, so that a bad setting is refused
    /// at start-up and not at the first call.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PoliciesError> {
        let config: Self = toml::from_str(text).map_err(|source| PoliciesError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |section, source| PoliciesError::Invalid {
            path: path.to_owned(),
            section,
            source,
        };
        config
            .wallet
            .settings()
            .map_err(|error| invalid("wallet", error))?;
        config
            .scratch_card
            .settings()
            .map_err(|error| invalid("scratch_card", error))?;
        Ok(config)
    }
}

/// A gateway's own policies: its breakers, budgets and limits are its alone, and so are the
/// card calls it coalesces.
#[derive(Debug)]
pub struct GatewayPolicies {
    /// `get_balance`'s.
    pub wallet: Policy,
    /// `get_scratch_card`'s.
    pub scratch_card: Policy,
    /// The card calls in flight, by user: `[scratch_card.coalesce]`'s group, the default one
    /// if the file has none. Its size is set at start-up; a reload keeps it.
    pub scratch_cards: Coalesce<u64, ScratchCard, ScratchError>,
}

impl GatewayPolicies {
    /// The policies `config` describes, each telling `observer` what it does.
    pub fn new(config: &PoliciesConfig, observer: Arc<dyn Observer>) -> Result<Self, PolicyError> {
        let build = |config: &PolicyConfig, name: &'static str| {
            config
                .builder()?
                .name(name)
                .observer(observer.clone())
                .build()
        };
        let scratch_cards = config
            .scratch_card
            .coalesce
            .unwrap_or_default()
            .group()?
            .name("scratch_card")
            .observer(observer.clone());
        Ok(Self {
            wallet: build(&config.wallet, "wallet")?,
            scratch_card: build(&config.scratch_card, "scratch_card")?,
            scratch_cards,
        })
    }

    /// Replaces both policies' settings live (see `Policy::update`): the breakers keep their
    /// state, the calls in flight their settings.
    pub fn update(&self, config: &PoliciesConfig) -> Result<(), PolicyError> {
        let (wallet, scratch_card) = (config.wallet.settings()?, config.scratch_card.settings()?);
        self.wallet.update(wallet)?;
        self.scratch_card.update(scratch_card)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_built_in_policies_are_todays_settings() {
        let config = PoliciesConfig::builtin();
        let wallet = config.wallet.settings().unwrap();
        assert_eq!(wallet.timeout, Some(Duration::from_millis(200)));
        assert!(wallet.retry.is_some() && wallet.breaker.is_some() && wallet.hedge.is_none());
        let retry = config.wallet.retry.as_ref().unwrap();
        assert_eq!(retry.attempt_timeout, Some(Duration::from_millis(80)));
        let card = config.scratch_card.settings().unwrap();
        assert_eq!(card.timeout, Some(Duration::from_millis(150)));
        assert!(card.hedge.is_some() && card.breaker.is_some() && card.retry.is_none());
    }

    #[test]
    fn a_bad_file_names_its_section_and_field() {
        let path = Path::new("policies.toml");
        let text = DEFAULT.replace("attempts = 3", "attempts = 0");
        let error = PoliciesConfig::parse(&text, path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("the policies file policies.toml: `wallet.retry.attempts`: "),
            "{message}"
        );
        let unknown = DEFAULT.replace("[scratch_card.hedge]", "[scratch_card.hedges]");
        let message = PoliciesConfig::parse(&unknown, path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("hedges"), "{message}");
        let missing = PoliciesConfig::parse("[wallet]\n", path)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("scratch_card"), "{missing}");
    }
}
