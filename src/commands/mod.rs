//! One module per subcommand. Each returns an exit code or an error; [`run`] turns errors
//! into one plain line on stderr (and the reference's error object under `--json`).

pub mod check;
pub mod pat;
pub mod post;
pub mod run;
pub mod status;

use std::sync::Arc;

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::exit;
use crate::report;
use crate::secrets::{self, Pat, PatSource};
use crate::settings::Settings;
use crate::transport::axon_v10::Dendrite;
use crate::validators::{self, ValidatorSet};
use crate::wallet::Hotkey;

pub async fn run(cli: Cli) -> u8 {
    let json = match &cli.command {
        Command::Check(a) => a.json,
        Command::Post(a) => a.json,
        Command::Status(a) => a.json,
        Command::Run(_) => false,
        Command::Pat { command: crate::cli::PatCommand::Status { json, .. } } => *json,
        Command::Pat { .. } => false,
    };
    let result = match cli.command {
        Command::Check(args) => check::run(args).await,
        Command::Post(args) => post::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Pat { command } => pat::run(command).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e, json);
            exit::COULD_NOT_RUN
        }
    }
}

/// One plain line on stderr; under `--json` also the reference's error object on stdout
/// (`emit_error_json`: one line, `cli_error` unless the reference names the error).
/// Without `--json`, "no validator eligible" first prints the Skipped Validators table,
/// as the reference does.
fn report_error(e: &anyhow::Error, json: bool) {
    let (stdout, stderr) = error_output(e, json);
    if let Some(stdout) = stdout {
        report::emit(&stdout);
    }
    eprintln!("{stderr}");
}

/// What [`report_error`] prints: (stdout, stderr). Pure, for the snapshot tests.
pub fn error_output(e: &anyhow::Error, json: bool) -> (Option<String>, String) {
    let discover = e.downcast_ref::<validators::DiscoverError>();
    let skipped = match discover {
        Some(validators::DiscoverError::NoneEligible { skipped, .. }) => Some(skipped),
        _ => None,
    };
    let stdout = if json {
        let mut extra = serde_json::Map::new();
        if let Some(skipped) = skipped {
            extra.insert("skipped".into(), serde_json::to_value(skipped).unwrap_or_default());
        }
        let error_type = discover.map_or("cli_error", validators::DiscoverError::json_type);
        Some(report::python_json(&report::error_json(error_type, &format!("{e:#}"), extra), false))
    } else {
        skipped.and_then(|s| report::skipped_table(s))
    };
    (stdout, format!("error: {e:#}"))
}

/// What `check` and `post` need before talking to validators.
pub(crate) struct Prepared {
    pub settings: Settings,
    pub dendrite: Dendrite,
    pub validators: ValidatorSet,
}

pub(crate) async fn prepare(settings: Settings) -> anyhow::Result<Prepared> {
    let hotkey = Hotkey::load(&settings.hotkey_file)?;
    tracing::debug!(hotkey = hotkey.ss58(), wallet = %settings.wallet_label, "hotkey loaded");
    let validators = validators::discover(&settings, hotkey.ss58()).await?;
    if validators.eligible.is_empty() {
        anyhow::bail!(if validators.skipped.is_empty() {
            validators::DiscoverError::NoValidators
        } else {
            validators::DiscoverError::NoneEligible {
                min_vtrust: settings.min_vtrust,
                min_stake: settings.min_stake,
                skipped: validators.skipped,
            }
        });
    }
    let dendrite = Dendrite::new(Arc::new(hotkey));
    Ok(Prepared { settings, dendrite, validators })
}

/// The keyring, then the environment. Keyring calls block (D-Bus, syscalls).
pub(crate) async fn load_pat(settings: &Settings) -> anyhow::Result<(Pat, PatSource)> {
    let (store, account, credential) =
        (settings.pat_store, settings.pat_account.clone(), settings.pat_credential.clone());
    let found = tokio::task::spawn_blocking(move || secrets::find_pat(store, &account, &credential))
        .await
        .context("keyring lookup was interrupted")??;
    tracing::debug!(pat = %found.0.masked(), source = %found.1, "PAT found");
    Ok(found)
}
