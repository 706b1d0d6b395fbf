//! Command-line definitions (clap). Kept apart so the man page and shell completions are
//! generated from the same definitions, at packaging time (`xtask/`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::settings::Flags;

#[derive(Debug, Parser)]
#[command(
    name = "gittensor-miner-agent",
    version,
    about = "Keeps a gittensor miner's GitHub PAT registered with every eligible validator"
)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask every eligible validator whether it holds a valid PAT for this miner (sends no PAT).
    ///
    /// Exit status: 0 every eligible validator holds a valid PAT; 3 some do not;
    /// 1 the check could not run.
    Check(CheckArgs),
    /// Send the PAT to the validators that lack a valid one (checks first; `--all` sends to every eligible validator).
    ///
    /// Exit status: 0 full coverage reached; 3 some validators still lack the PAT; 1 could not run.
    Post(PostArgs),
    /// Run as a daemon: keep the PAT registered with every eligible validator, report to systemd.
    ///
    /// Exit status: 0 after SIGTERM/SIGINT; 78 could not start (config, hotkey, no PAT), which systemd does not restart.
    Run(RunArgs),
    /// Show coverage from the daemon's state file, without touching the network (on a machine with instances of the template unit, and without --instance, --config or --state-dir: every agent, one line each, and the worst exit status).
    Status(StatusArgs),
    /// Store, inspect or delete the PAT in the OS keyring.
    Pat {
        #[command(subcommand)]
        command: PatCommand,
    },
}

/// Flags shared by every command that reads the configuration.
/// They follow `gitt miner check` and override the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Config file (default: $GITTENSOR_MINER_AGENT_CONFIG, ~/.config/gittensor-miner-agent/config.toml, /etc/gittensor-miner-agent/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Bittensor wallet name.
    #[arg(long)]
    pub wallet: Option<String>,
    /// Bittensor hotkey name.
    #[arg(long)]
    pub hotkey: Option<String>,
    /// Directory holding the wallets (default ~/.bittensor/wallets).
    #[arg(long, value_name = "DIR")]
    pub wallets_dir: Option<String>,
    /// Explicit hotkey keyfile (instead of --wallets-dir/--wallet/--hotkey).
    #[arg(long, value_name = "PATH")]
    pub hotkey_file: Option<String>,
    /// Network name (finney, test, local) or a ws(s):// URL.
    #[arg(long)]
    pub network: Option<String>,
    /// Subtensor RPC endpoint URL (overrides --network).
    #[arg(long, value_name = "URL")]
    pub rpc_url: Option<String>,
    /// Subnet UID.
    #[arg(long)]
    pub netuid: Option<u16>,
    /// Minimum validator_trust to probe (default 0.25).
    #[arg(long)]
    pub min_vtrust: Option<f64>,
    /// Minimum validator stake in α (default 15000).
    #[arg(long)]
    pub min_stake: Option<f64>,
    /// GitHub API base URL (default https://api.github.com).
    #[arg(long, value_name = "URL", hide = true)]
    pub github_api_url: Option<String>,
    /// Use the files of the template unit's instance NAME (gittensor-miner-agent@NAME): its config /etc/gittensor-miner-agent/NAME.toml and hotkey copy /etc/gittensor-miner-agent/NAME.hotkey.
    #[arg(long, value_name = "NAME", value_parser = instance_name, conflicts_with = "config")]
    pub instance: Option<String>,
}

/// `--instance`: a name the template unit's paths can carry (letters, digits, `_`, `-`).
fn instance_name(name: &str) -> Result<String, String> {
    crate::settings::instance::validate(name).map(|()| name.to_owned())
}

impl CommonArgs {
    /// What these flags say, for settings resolution.
    pub fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            wallet: self.wallet.clone(),
            hotkey: self.hotkey.clone(),
            wallets_dir: self.wallets_dir.clone(),
            hotkey_file: self.hotkey_file.clone(),
            network: self.network.clone(),
            rpc_url: self.rpc_url.clone(),
            netuid: self.netuid,
            min_vtrust: self.min_vtrust,
            min_stake: self.min_stake,
            github_api_url: self.github_api_url.clone(),
            retry_budget_secs: None,
            state_dir: None,
            instance: self.instance.clone(),
        }
    }
}

/// Flags of the `pat` commands: they read only the config (which keyring, GitHub's URL),
/// none of the chain's or the wallet's.
#[derive(Debug, Clone, Default, Args)]
pub struct PatArgs {
    /// Config file, for `[pat]` (default: $GITTENSOR_MINER_AGENT_CONFIG, ~/.config/gittensor-miner-agent/config.toml, /etc/gittensor-miner-agent/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// GitHub API base URL (default https://api.github.com).
    #[arg(long, value_name = "URL", hide = true)]
    pub github_api_url: Option<String>,
    /// The PAT of the template unit's instance NAME (gittensor-miner-agent@NAME), in /etc/gittensor-miner-agent/credentials/NAME.github-pat.cred; with --systemd.
    #[arg(long, value_name = "NAME", value_parser = instance_name, requires = "systemd", conflicts_with = "config")]
    pub instance: Option<String>,
}

impl PatArgs {
    /// What these flags say, for settings resolution.
    pub fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            github_api_url: self.github_api_url.clone(),
            instance: self.instance.clone(),
            ..Flags::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print the result as JSON (the object `gitt miner check --json` prints, plus our fields).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PostArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print the result as JSON (the object `gitt miner post --json` prints, plus our fields).
    #[arg(long)]
    pub json: bool,
    /// Send the PAT to every eligible validator, even those that already hold a valid one.
    #[arg(long)]
    pub all: bool,
    /// Seconds `post` may take at most: validators still silent by then are reported as not answering (default: config, 120).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub retry_budget: Option<f64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory for the state file (default: daemon.state_dir, $STATE_DIRECTORY, /var/lib/gittensor-miner-agent).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Only read and check the config, say what is wrong, and exit (0 good, 78 not); the
    /// unit's reload runs this first, so a broken config fails `systemctl reload`.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Config file (for daemon.state_dir).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The agent of the template unit's instance NAME (gittensor-miner-agent@NAME): its config /etc/gittensor-miner-agent/NAME.toml, its state in /var/lib/gittensor-miner-agent/NAME.
    #[arg(long, value_name = "NAME", value_parser = instance_name, conflicts_with = "config")]
    pub instance: Option<String>,
    /// Directory of the state file.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Print the coverage as JSON: `success`, `summary`, the PAT (masked) and each validator's `coverage`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PatCommand {
    /// Read the PAT from a hidden prompt (or stdin), validate it with GitHub, store it.
    Set {
        #[command(flatten)]
        common: PatArgs,
        /// Read the PAT from standard input instead of prompting (for scripts; never pass it as an argument).
        #[arg(long)]
        stdin: bool,
        /// Store it for the systemd service instead of the keyring: encrypted with
        /// `systemd-creds` into /etc/gittensor-miner-agent/credentials/github-pat.cred (run as root).
        /// A systemd before 250 has no `systemd-creds`: there it is a root-only file,
        /// credentials/github-pat.plain, not encrypted at rest, loaded by a drop-in it writes.
        #[arg(long)]
        systemd: bool,
    },
    /// Say where the PAT is stored, which GitHub account it belongs to and when it expires.
    Status {
        #[command(flatten)]
        common: PatArgs,
        /// Print it as JSON: `source`, `pat` (masked) and GitHub's verdict (`github`).
        #[arg(long)]
        json: bool,
        /// Look at the systemd service's credential instead of the keyring (run as root).
        #[arg(long)]
        systemd: bool,
    },
    /// Remove the PAT from the keyring.
    Delete {
        #[command(flatten)]
        common: PatArgs,
        /// Remove the systemd service's credential instead (run as root), and the drop-in a
        /// systemd before 250 needed for it.
        #[arg(long)]
        systemd: bool,
    },
}
