//! `pat set | status | delete`: the PAT in the OS keyring. The PAT is read from a hidden
//! prompt or stdin, never from the command line (argv is visible to every local user).

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{CommonArgs, PatCommand};
use crate::exit;
use crate::github::{GitHub, PatVerdict};
use crate::report;
use crate::secrets::{self, Pat, PatKeyring};
use crate::settings;

pub async fn run(command: PatCommand) -> anyhow::Result<u8> {
    match command {
        PatCommand::Set { common, stdin, systemd } => set(&common, stdin, systemd).await,
        PatCommand::Status { common, json, systemd } => status(&common, json, systemd).await,
        PatCommand::Delete { common, systemd } => delete(&common, systemd).await,
    }
}

fn read_pat(from_stdin: bool) -> anyhow::Result<Pat> {
    let raw = if from_stdin {
        let mut raw = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut raw).context("cannot read the PAT from standard input")?;
        raw
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to prompt on: pipe the PAT in with `pat set --stdin`");
        }
        Zeroizing::new(
            rpassword::prompt_password("GitHub personal access token (input hidden): ")
                .context("cannot read the PAT from the terminal")?,
        )
    };
    Ok(Pat::new(&raw)?)
}

async fn open_keyring(common: &CommonArgs) -> anyhow::Result<PatKeyring> {
    let settings = settings::load(&common.flags())?;
    let (store, account) = (settings.pat_store, settings.pat_account);
    Ok(tokio::task::spawn_blocking(move || PatKeyring::open(store, &account)).await??)
}

async fn set(common: &CommonArgs, from_stdin: bool, for_service: bool) -> anyhow::Result<u8> {
    let settings = settings::load(&common.flags())?;
    let pat = read_pat(from_stdin)?;
    let github = GitHub::new(&settings.github_api_url)?;
    let (login, expires) = match github.validate(&pat).await {
        PatVerdict::Valid { login, expires, .. } => (login, expires),
        PatVerdict::Rejected { reason } => bail!("GitHub rejects this PAT ({reason}); it was not stored. Create a classic PAT or a fine-grained one with 'Public Repositories (read-only)'"),
        PatVerdict::Unavailable { reason, .. } => bail!("cannot validate the PAT with GitHub ({reason}); it was not stored. Try again when GitHub is reachable"),
    };
    if for_service {
        let stored = pat.clone();
        tokio::task::spawn_blocking(move || secrets::store_service_credential(&stored)).await??;
        report::emit(&format!(
            "Stored PAT {} for GitHub user @{login}, encrypted, in {} for the gittensor-miner-agent service.",
            pat.masked(),
            secrets::SERVICE_CREDENTIAL
        ));
        report::emit("Start it with `sudo systemctl enable --now gittensor-miner-agent` (or `sudo systemctl restart gittensor-miner-agent` if it runs: systemd hands over credentials only at start).");
    } else {
        let keyring = open_keyring(common).await?;
        let source = keyring.source();
        let stored = pat.clone();
        tokio::task::spawn_blocking(move || keyring.set(&stored)).await??;
        report::emit(&format!("Stored PAT {} for GitHub user @{login} in the {source}.", pat.masked()));
    }
    if let Some(expires) = expires {
        report::emit(&format!("GitHub says it expires {expires}."));
    }
    Ok(exit::COVERED)
}

async fn status(common: &CommonArgs, json: bool, for_service: bool) -> anyhow::Result<u8> {
    let settings = settings::load(&common.flags())?;
    let (pat, source) = if for_service {
        tokio::task::spawn_blocking(secrets::read_service_credential).await??.ok_or_else(|| {
            anyhow::anyhow!("no PAT stored for the service: run `sudo gittensor-miner-agent pat set --systemd`")
        })?
    } else {
        super::load_pat(&settings).await?
    };
    let verdict = GitHub::new(&settings.github_api_url)?.validate(&pat).await;
    if json {
        report::emit(&format!("{:#}", json!({ "source": source.to_string(), "pat": pat.masked(), "github": verdict })));
    } else {
        report::emit(&format!("PAT {} found in the {source}.", pat.masked()));
        match &verdict {
            PatVerdict::Valid { login, expires, .. } => {
                report::emit(&format!("GitHub accepts it: user @{login}."));
                report::emit(&format!("Expires: {}.", expires.as_deref().unwrap_or("never (no expiry reported)")));
            }
            PatVerdict::Rejected { reason } => {
                report::emit(&format!("GitHub REJECTS it: {reason}. Store a new one with `pat set`."))
            }
            PatVerdict::Unavailable { reason, .. } => report::emit(&format!("Could not ask GitHub: {reason}.")),
        }
    }
    Ok(match verdict {
        PatVerdict::Valid { .. } => exit::COVERED,
        _ => exit::COULD_NOT_RUN,
    })
}

async fn delete(common: &CommonArgs, for_service: bool) -> anyhow::Result<u8> {
    if for_service {
        match std::fs::remove_file(secrets::SERVICE_CREDENTIAL) {
            Ok(()) => report::emit(&format!("Deleted {}.", secrets::SERVICE_CREDENTIAL)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => report::emit("No PAT was stored for the service."),
            Err(e) => anyhow::bail!("cannot delete {}: {e} (run as root: sudo)", secrets::SERVICE_CREDENTIAL),
        }
        return Ok(exit::COVERED);
    }
    let keyring = open_keyring(common).await?;
    let source = keyring.source();
    if tokio::task::spawn_blocking(move || keyring.delete()).await?? {
        report::emit(&format!("Deleted the PAT from the {source}."));
    } else {
        report::emit(&format!("No PAT was stored in the {source}."));
    }
    Ok(exit::COVERED)
}
