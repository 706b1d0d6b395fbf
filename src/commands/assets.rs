//! `generate-assets`: the man page and shell completions, from the same clap definitions
//! the program parses (so they never drift). Used by `packaging/build-deb`.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;

pub fn run(out: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let command = Cli::command();
    let mut man = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut man)?;
    std::fs::write(out.join("gittensor-miner-agent.1"), man)?;
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        let mut command = command.clone();
        clap_complete::generate_to(shell, &mut command, "gittensor-miner-agent", out)?;
    }
    Ok(exit::COVERED)
}
