//! Which validators to talk to: the eligible set, and the high-vtrust uids skipped with
//! the reason (the reference CLI's "Skipped Validators").

use serde::Serialize;
use thiserror::Error;

use crate::config::Settings;
use crate::transport::Target;

/// A high-vtrust uid that is not probed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub uid: u16,
    pub vtrust: f64,
    pub stake: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ValidatorSet {
    pub eligible: Vec<Target>,
    pub skipped: Vec<Skipped>,
    /// Where the set came from, for messages ("static list in …", "chain …").
    pub source: String,
}

#[derive(Debug, Error)]
pub enum DiscoverError {
    #[error("no validators configured: add [[validators]] tables (uid, hotkey, ip, port) to the config; reading them from the chain ({endpoint}) is not built yet")]
    NoSource { endpoint: String },
    #[error("no validator passed min_vtrust={min_vtrust} / min_stake={min_stake} α ({skipped} high-vtrust uid(s) skipped); lower the thresholds or check the network")]
    NoneEligible {
        min_vtrust: f64,
        min_stake: f64,
        skipped: usize,
    },
}

pub async fn discover(settings: &Settings) -> Result<ValidatorSet, DiscoverError> {
    match &settings.static_validators {
        Some(list) => {
            let origin = settings
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Ok(ValidatorSet {
                eligible: list.clone(),
                skipped: vec![],
                source: format!("static list in {origin}"),
            })
        }
        None => Err(DiscoverError::NoSource {
            endpoint: settings.chain.endpoint.clone(),
        }),
    }
}
