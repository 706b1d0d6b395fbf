//! Which validators to talk to: the eligible set, and the high-vtrust uids skipped with
//! the reason (the reference CLI's "Skipped Validators"). From the chain, or from the
//! static list in the config.

use serde::Serialize;
use thiserror::Error;

use crate::chain::eligibility::{alpha_amount, Addresses};
use crate::chain::{self, ChainError, ChainReader};
use crate::settings::Settings;
use crate::transport::Target;

/// A high-vtrust uid that is not probed, and why: the reference's `skipped` entry, key for
/// key (`vtrust` and `stake` as its float32 metagraph holds them).
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
    /// Every high-vtrust uid failed the axon or stake rule. The reference's message, word for
    /// word, and its error type (`no_validators_eligible`) with the `skipped` list.
    #[error("No validators passed --min-vtrust={} / --min-stake={} α; all {} candidate(s) excluded.", python_g(*.min_vtrust), alpha_amount(*.min_stake), .skipped.len())]
    NoneEligible { min_vtrust: f64, min_stake: f64, skipped: Vec<Skipped> },
    /// No uid has `validator_trust` above the threshold: the reference's message.
    #[error("No reachable validator axons found on the network.")]
    NoValidators,
}

impl DiscoverError {
    /// The reference's `error.type` under `--json`.
    pub fn json_type(&self) -> &'static str {
        match self {
            DiscoverError::NoneEligible { .. } => "no_validators_eligible",
            _ => "cli_error",
        }
    }
}

/// Python's `f"{x:g}"`: six significant digits, trailing zeros dropped, exponent form
/// below 1e-4 and from 1e6 (`0.25`, `1e-05`, `1.5e+06`).
pub fn python_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x.is_infinite() {
            (if x > 0.0 { "inf" } else { "-inf" }).into()
        } else {
            "0".into()
        };
    }
    let scientific = format!("{x:.5e}"); // d.ddddde±x, rounded to 6 significant digits
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is a number");
    let trim = |s: &str| s.trim_end_matches('0').trim_end_matches('.').to_owned();
    if (-4..6).contains(&exponent) {
        let decimals = usize::try_from(5 - exponent).unwrap_or(0);
        trim(&format!("{x:.decimals$}"))
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.abs())
    }
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
    let addresses = if settings.chain.local { Addresses::Any } else { Addresses::PublicOnly };
    let mut set = chain::select(&snapshot.neurons, settings.min_vtrust, settings.min_stake, addresses);
    set.source = format!("chain {} at block {}", snapshot.endpoint, snapshot.block);
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_g_formats_like_python() {
        // Expected values are Python 3's own `format(x, "g")`.
        for (x, expected) in [
            (0.25, "0.25"),
            (0.3, "0.3"),
            (0.0, "0"),
            (1.0, "1"),
            (0.123456789, "0.123457"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (15000.0, "15000"),
        ] {
            assert_eq!(python_g(x), expected, "{x}");
        }
    }

    #[test]
    fn the_none_eligible_message_is_the_references() {
        let skipped = Skipped { uid: 3, vtrust: 0.5, stake: 100.0, reasons: vec!["not serving an axon".into()] };
        let e = DiscoverError::NoneEligible {
            min_vtrust: 0.25,
            min_stake: 100_000.0,
            skipped: vec![skipped.clone(), skipped],
        };
        assert_eq!(
            e.to_string(),
            "No validators passed --min-vtrust=0.25 / --min-stake=100,000 α; all 2 candidate(s) excluded."
        );
        assert_eq!(e.json_type(), "no_validators_eligible");
        assert_eq!(DiscoverError::NoValidators.json_type(), "cli_error");
    }
}
