//! Which validators to talk to: the eligible set, and the high-vtrust uids skipped with
//! the reason (the reference CLI's "Skipped Validators"). From the chain, or from the
//! static list in the config.

use serde::Serialize;
use thiserror::Error;

use crate::chain::{self, ChainError, ChainReader};
use crate::settings::Settings;
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
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("hotkey {hotkey} is not registered on subnet {netuid} ({endpoint}): register it (`btcli subnets register --netuid {netuid}`) or check `wallet`/`hotkey`/`network`; nothing was sent")]
    NotRegistered { hotkey: String, netuid: u16, endpoint: String },
    #[error("no validator passed min_vtrust={min_vtrust} / min_stake={min_stake} α ({skipped} high-vtrust uid(s) skipped); lower the thresholds or check the network")]
    NoneEligible { min_vtrust: f64, min_stake: f64, skipped: usize },
}

/// The validators to probe for the miner `miner_hotkey`. From the chain, the miner must be
/// registered on the subnet: validators blacklist unknown hotkeys, so nothing is sent otherwise.
pub async fn discover(settings: &Settings, miner_hotkey: &str) -> Result<ValidatorSet, DiscoverError> {
    if let Some(list) = &settings.static_validators {
        let origin = settings.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        return Ok(ValidatorSet {
            eligible: list.clone(),
            skipped: vec![],
            source: format!("static list in {origin}"),
        });
    }
    let reader =
        ChainReader::new(settings.chain.endpoints.clone(), settings.chain.connect_timeout, settings.chain.call_timeout);
    let snapshot = reader.read(settings.netuid).await?;
    tracing::debug!(
        endpoint = %snapshot.endpoint, block = snapshot.block, neurons = snapshot.neurons.len(),
        stake_source = snapshot.stake_source, "read the subnet from the chain"
    );
    if !snapshot.neurons.iter().any(|n| n.hotkey == miner_hotkey) {
        return Err(DiscoverError::NotRegistered {
            hotkey: miner_hotkey.into(),
            netuid: settings.netuid,
            endpoint: snapshot.endpoint,
        });
    }
    let mut set = chain::select(&snapshot.neurons, settings.min_vtrust, settings.min_stake);
    set.source = format!("chain {} at block {}", snapshot.endpoint, snapshot.block);
    Ok(set)
}
