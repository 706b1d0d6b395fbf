//! `run`: the daemon. Wires the real network, chain, GitHub, keyring and systemd into the
//! daemon shell ([`crate::daemon`]). Start-up problems (no PAT, bad config, unreadable
//! hotkey) end it at once with one clear line and exit status 78, so systemd does not spin
//! restarting it; a stop during start-up is honoured at once.

use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::cli::RunArgs;
use crate::clock::Clock;
use crate::daemon::health::Health;
use crate::daemon::shutdown;
use crate::daemon::state::{Loaded, State, StateFile};
use crate::daemon::{Daemon, Parts, Reloaded, World};
use crate::exit;
use crate::github::GitHub;
use crate::settings::{self, Flags, Settings};
use crate::transport::axon_v10::Dendrite;
use crate::validators::{self, DiscoverError, ValidatorSet};
use crate::wallet::Hotkey;

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let flags = Flags { state_dir: args.state_dir.clone(), ..args.common.flags() };
    if args.check_config {
        return Ok(check_config(&flags));
    }
    let (mut shutdown, reloads) = shutdown::from_signals().context("cannot install the signal handlers")?;
    let parts = match shutdown.race(start(flags)).await {
        Err(why) => {
            Health::from_env().stopping();
            tracing::info!(signal = why, "stopping ({why}) during start-up");
            return Ok(exit::COVERED);
        }
        Ok(Err(e)) => {
            tracing::error!("cannot start: {e:#}");
            return Ok(exit::NOT_CONFIGURED);
        }
        Ok(Ok(parts)) => parts,
    };
    Daemon::new(parts).run(shutdown, reloads).await?;
    Ok(exit::COVERED)
}

/// `run --check-config`: the reload's first step. Stderr is what `systemctl status` and the
/// journal show when a reload is refused.
fn check_config(flags: &Flags) -> u8 {
    match settings::check_config(flags) {
        Ok(settings) => {
            let path =
                settings.config_file.map_or_else(|| "no config file; defaults".to_owned(), |p| p.display().to_string());
            crate::report::emit(&format!("config OK: {path}"));
            exit::COVERED
        }
        Err(e) => {
            eprintln!("the new config is invalid, so the running agent keeps its current one: {e:#}");
            exit::NOT_CONFIGURED
        }
    }
}

/// The chain and the config files, as the daemon sees them.
struct RealWorld {
    flags: Flags,
    miner_hotkey: String,
}

impl World for RealWorld {
    fn discover(&self, settings: &Settings) -> BoxFuture<'static, Result<ValidatorSet, DiscoverError>> {
        let (settings, miner) = (settings.clone(), self.miner_hotkey.clone());
        async move { validators::discover(&settings, &miner).await }.boxed()
    }

    fn reload(&self, current: &Settings) -> BoxFuture<'static, Reloaded> {
        let loaded = settings::load(&self.flags).map_err(|e| e.to_string());
        let pat_settings = loaded.as_ref().unwrap_or(current).clone();
        async move {
            let pat = super::load_pat(&pat_settings).await.map_err(|e| format!("{e:#}"));
            Reloaded { settings: loaded, pat }
        }
        .boxed()
    }
}

async fn start(flags: Flags) -> anyhow::Result<Parts<Dendrite, GitHub, RealWorld>> {
    let settings = settings::load(&flags)?;
    let hotkey = Hotkey::load(&settings.hotkey_file).map_err(|e| {
        if settings.service {
            let service = settings.service_paths();
            anyhow::anyhow!(
                "the service has no usable hotkey: copy the miner's hotkey file for it with `sudo install -m 0600 ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey> {}`, then `sudo systemctl restart {}` ({e})",
                service.hotkey.display(),
                service.unit()
            )
        } else {
            anyhow::anyhow!("{e}")
        }
    })?;
    let (pat, pat_source) = super::load_pat(&settings).await.context("the agent cannot run without the PAT")?;

    let dir = &settings.daemon.state_dir;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the state directory {}: set daemon.state_dir (or --state-dir) to a writable directory",
            dir.display()
        )
    })?;
    let clock = Clock::system();
    let state_file = StateFile::in_dir(dir);
    let state = match state_file.load(clock.now_ms()) {
        Loaded::Fresh => State::default(),
        Loaded::Resumed(state) => {
            tracing::info!(validators = state.tracker.validators.len(), path = %state_file.path().display(), "resuming from the state file");
            *state
        }
        Loaded::Rebuilt { reason, moved_to } => {
            let moved = moved_to.map(|p| p.display().to_string()).unwrap_or_else(|| "not moved".into());
            tracing::warn!(reason = %reason, moved_to = %moved, "the state file is unusable ({reason}; moved to {moved}): starting afresh, every validator is checked again");
            State::default()
        }
    };

    let miner_hotkey = hotkey.ss58().to_owned();
    let transport = Dendrite::new(Arc::new(hotkey));
    let github = GitHub::new(&settings.github_api_url).context("cannot set up the GitHub client")?;
    Ok(Parts {
        world: Arc::new(RealWorld { flags, miner_hotkey }),
        settings,
        transport: Arc::new(transport),
        github: Arc::new(github),
        health: Health::from_env(),
        state_file,
        state,
        pat,
        pat_source,
        clock,
        seed: rand::random(),
    })
}
