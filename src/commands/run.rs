//! `run`: the daemon. Start-up problems (no PAT, bad config, unreadable hotkey) end it at
//! once with one clear line and exit status 78, so systemd does not spin restarting it.

use std::sync::Arc;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::config;
use crate::exit;
use crate::github::GitHub;
use crate::reconcile::engine::{now_ms, Engine, PatLoader};
use crate::state::{Loaded, State, StateFile};
use crate::transport::axon_v10::Dendrite;
use crate::wallet::Hotkey;

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let mut common = args.common.clone();
    common.state_dir = args.state_dir.clone();
    let engine = match start(common).await {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            return Ok(exit::NOT_CONFIGURED);
        }
    };
    engine.run().await?;
    Ok(exit::COVERED)
}

async fn start(common: crate::cli::CommonArgs) -> anyhow::Result<Engine<Dendrite>> {
    let settings = config::load(&common)?;
    let hotkey = Hotkey::load(&settings.hotkey_file).map_err(|e| {
        let service = std::env::var_os("GITTENSOR_MINER_AGENT_HOTKEY_CREDENTIAL").is_some();
        let hint = if service {
            " (for the service: sudo install -m 0600 <your hotkey file> /etc/gittensor-miner-agent/hotkey)"
        } else {
            ""
        };
        anyhow::anyhow!("{e}{hint}")
    })?;
    let pat = super::load_pat(&settings)
        .await
        .context("the agent needs the PAT: store it with `sudo gittensor-miner-agent pat set`")?;

    let dir = &settings.daemon.state_dir;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the state directory {}: set daemon.state_dir (or --state-dir) to a writable directory",
            dir.display()
        )
    })?;
    let state_file = StateFile::in_dir(dir);
    let state = match state_file.load(now_ms()) {
        Loaded::Fresh => State::default(),
        Loaded::Resumed(state) => {
            tracing::info!(validators = state.tracker.validators.len(), path = %state_file.path().display(), "resuming from the state file");
            *state
        }
        Loaded::Rebuilt { reason, moved_to } => {
            let moved = moved_to.map(|p| p.display().to_string()).unwrap_or_else(|| "not moved".into());
            tracing::warn!(reason = %reason, moved_to = %moved, "state file unusable: starting afresh");
            State::default()
        }
    };

    let miner = hotkey.ss58().to_owned();
    let dendrite = Dendrite::new(Arc::new(hotkey)).context("cannot set up the HTTP client")?;
    let github = GitHub::new(&settings.github_api_url).context("cannot set up the GitHub client")?;
    let load_pat: PatLoader = Box::new(|settings| Box::pin(async move { super::load_pat(&settings).await }));
    Ok(Engine::new(settings, common, miner, dendrite, github, state_file, state, pat, load_pat))
}
