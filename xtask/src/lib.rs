//! Packaging-time tools of gittensor-miner-agent: the man page and the shell completions,
//! generated from the agent's own CLI definition (`src/cli.rs`) so they cannot drift from
//! it, and kept out of the runtime binary. `packaging/build-deb` runs `xtask assets`.

pub mod completions;
pub mod man;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

/// The program's name: the command a user types, the man page, the completions' key.
pub const BIN: &str = "gittensor-miner-agent";
/// The agent's command tree, as it parses its own arguments.
pub fn command() -> clap::Command {
    gittensor_miner_agent::cli::Cli::command().bin_name(BIN)
}

/// The agent's version, as `--version` prints it.
pub fn version() -> String {
    command().get_version().unwrap_or("unknown").to_owned()
}

/// Writes `gittensor-miner-agent.1` (roff, not yet gzipped) and the bash, zsh and fish
/// completions into `out`; returns the files written.
pub fn write_assets(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut files = vec![(format!("{BIN}.1"), man::render()?)];
    for shell in completions::SHELLS {
        let (script, name) = completions::generate(shell)?;
        files.push((name, script));
    }
    let mut written = Vec::new();
    for (name, content) in files {
        let path = out.join(name);
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
