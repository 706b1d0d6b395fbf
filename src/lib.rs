//! gittensor-miner-agent: keeps a gittensor miner's GitHub PAT registered with every
//! eligible validator. `main.rs` only parses the CLI and hands off to [`commands`].

pub mod chain;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod daemon;
pub mod exit;
pub mod files;
pub mod github;
pub mod harden;
pub mod probe;
pub mod proc_identity;
pub mod reconcile;
pub mod report;
pub mod scrub;
pub mod secrets;
pub mod settings;
pub mod synapse;
pub mod telemetry;
pub mod transport;
pub mod untrusted;
pub mod validators;
pub mod wallet;

/// The innermost cause of an error: HTTP clients wrap the useful part ("connection
/// refused") in generic text ("error sending request").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
