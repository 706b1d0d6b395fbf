//! gittensor-miner-agent: keeps a gittensor miner's GitHub PAT registered with every
//! eligible validator. `main.rs` only parses the CLI and hands off to [`commands`].

pub mod chain;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod github;
pub mod health;
pub mod probe;
pub mod reconcile;
pub mod report;
pub mod secrets;
pub mod state;
pub mod synapse;
pub mod telemetry;
pub mod transport;
pub mod validators;
pub mod wallet;
