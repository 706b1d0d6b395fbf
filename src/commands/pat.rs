//! `pat set | status | delete`: the PAT in the OS keyring. The PAT is read from a hidden
//! prompt or stdin, never from the command line (argv is visible to every local user).

use crate::untrusted::Shown;
use std::io::{IsTerminal, Read};

use anyhow::{bail, Context};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{PatArgs, PatCommand};
use crate::exit;
use crate::github::{GitHub, PatVerdict};
use crate::report;
use crate::secrets::{self, Pat, PatKeyring, ServiceCredential, Stored, StoredForService};
use crate::settings::{self, ServicePaths, Settings};

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

async fn open_keyring(settings: &Settings) -> anyhow::Result<PatKeyring> {
    let (store, account) = (settings.pat_store, settings.pat_account.clone());
    Ok(tokio::task::spawn_blocking(move || PatKeyring::open(store, &account)).await??)
}

async fn set(common: &PatArgs, from_stdin: bool, for_service: bool) -> anyhow::Result<u8> {
    let settings = settings::load_quietly(&common.flags())?;
    let pat = read_pat(from_stdin)?;
    let github = GitHub::new(&settings.github_api_url)?;
    let (login, expires) = match github.validate(&pat).await {
        PatVerdict::Valid { login, expires, .. } => (login, expires),
        PatVerdict::Rejected { reason } => bail!("GitHub rejects this PAT ({}); it was not stored. Create a classic PAT or a fine-grained one with 'Public Repositories (read-only)'", Shown(&reason)),
        PatVerdict::Unavailable { reason, .. } => bail!("cannot validate the PAT with GitHub ({}); it was not stored. Try again when GitHub is reachable", Shown(&reason)),
    };
    if for_service {
        let service = ServicePaths::of(common.instance.as_deref());
        let files = service.credential();
        let (stored, on_disk) = (pat.clone(), files.clone());
        let how = tokio::task::spawn_blocking(move || secrets::store_service_credential(&stored, &on_disk)).await??;
        report::emit(&match how {
            StoredForService::Encrypted { .. } => format!(
                "Stored PAT {} for GitHub user @{login}, encrypted, in {} for the {} service.",
                pat.masked(),
                files.encrypted.display(),
                files.unit
            ),
            StoredForService::Plain { .. } => plain_credential_note(&pat, &login, &files),
        });
        if how.units_changed() {
            if let Some(problem) = reload_units() {
                report::emit(&problem);
            }
        }
        // systemd hands a service its credentials only when it starts: a running (or failed)
        // service is restarted here, so that storing the PAT is all a rotation takes.
        report::emit(&restart_service_for_new_pat(&pat, &service));
    } else {
        let keyring = open_keyring(&settings).await?;
        let source = keyring.source();
        let stored = pat.clone();
        let kept = tokio::task::spawn_blocking(move || keyring.set(&stored)).await??;
        report::emit(&format!("Stored PAT {} for GitHub user @{} in the {source}.", pat.masked(), Shown(&login)));
        if kept == Stored::PersistentOnly {
            report::emit(&persistent_only_note());
        }
    }
    if let Some(expires) = expires {
        report::emit(&format!("GitHub says it expires {expires}."));
    }
    Ok(exit::COVERED)
}

async fn status(common: &PatArgs, json: bool, for_service: bool) -> anyhow::Result<u8> {
    let settings = settings::load_quietly(&common.flags())?;
    let (pat, source) = if for_service {
        let service = ServicePaths::of(common.instance.as_deref());
        let path = service.pat.clone();
        tokio::task::spawn_blocking(move || secrets::read_service_credential_at(&path)).await??.ok_or_else(|| {
            anyhow::anyhow!(
                "no PAT stored for the {} service: run `sudo gittensor-miner-agent pat set --systemd{}`",
                service.unit(),
                service.flag()
            )
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
                report::emit(&format!("GitHub accepts it: user @{}.", Shown(login)));
                report::emit(&format!("Expires: {}.", expires.as_deref().unwrap_or("never (no expiry reported)")));
            }
            PatVerdict::Rejected { reason } => {
                report::emit(&format!("GitHub REJECTS it: {}. Store a new one with `pat set`.", Shown(reason)))
            }
            PatVerdict::Unavailable { reason, .. } => {
                report::emit(&format!("Could not ask GitHub: {}.", Shown(reason)))
            }
        }
    }
    Ok(match verdict {
        PatVerdict::Valid { .. } => exit::COVERED,
        _ => exit::COULD_NOT_RUN,
    })
}

async fn delete(common: &PatArgs, for_service: bool) -> anyhow::Result<u8> {
    if for_service {
        let service = ServicePaths::of(common.instance.as_deref());
        let files = service.credential();
        let (removed, dropin) = secrets::delete_service_credential(&files)?;
        if removed.is_empty() {
            report::emit(&format!("No PAT was stored for the {} service.", service.unit()));
        }
        for path in &removed {
            report::emit(&format!("Deleted {}.", path.display()));
        }
        if dropin {
            report::emit(&format!("Deleted {}.", files.dropin.display()));
            if let Some(problem) = reload_units() {
                report::emit(&problem);
            }
        }
        return Ok(exit::COVERED);
    }
    let keyring = open_keyring(&settings::load_quietly(&common.flags())?).await?;
    let source = keyring.source();
    if tokio::task::spawn_blocking(move || keyring.delete()).await?? {
        report::emit(&format!("Deleted the PAT from the {source}."));
    } else {
        report::emit(&format!("No PAT was stored in the {source}."));
    }
    Ok(exit::COVERED)
}

/// After a store that only the persistent keyring took (a `sudo` or `su` shell): how long
/// it lasts there, and what lasts longer.
fn persistent_only_note() -> String {
    let days = std::fs::read_to_string("/proc/sys/kernel/keys/persistent_keyring_expiry")
        .ok()
        .and_then(|secs| secs.trim().parse::<u64>().ok())
        .map_or_else(|| "a few days".to_owned(), |secs| format!("{} days", secs.div_ceil(86_400)));
    format!(
        "This shell has no keyring session of its own (as under sudo or su), so the PAT is kept only in this user's persistent kernel keyring, which the kernel empties after {days} without use (each run that reads it starts the count again). For the service, store it with `sudo gittensor-miner-agent pat set --systemd`."
    )
}

/// What `pat set --systemd` says, once, where there is no `systemd-creds`: where the PAT is,
/// that it is not encrypted at rest and why, and how that changes.
fn plain_credential_note(pat: &Pat, login: &str, files: &ServiceCredential) -> String {
    format!(
        "Stored PAT {} for GitHub user @{login} in {} for the {} service, NOT ENCRYPTED at rest: this systemd has no systemd-creds (it came with systemd {}), so the file is guarded by its permissions alone (root only, mode 0600) and is handed to the service with LoadCredential= ({}). Root, and anyone with a copy of the disk, can read it. After an upgrade to systemd {} or newer, run `sudo gittensor-miner-agent pat set --systemd{}` again to encrypt it.",
        pat.masked(),
        files.plain.display(),
        files.unit,
        secrets::SYSTEMD_CREDS_SINCE,
        files.dropin.display(),
        secrets::SYSTEMD_CREDS_SINCE,
        files.unit.split_once('@').map(|(_, name)| format!(" --instance {name}")).unwrap_or_default(),
    )
}

/// `systemctl daemon-reload` after a drop-in was written or removed; `Some(what to do)` when
/// systemd did not reload (not running here, or refused).
fn reload_units() -> Option<String> {
    let problem = match std::process::Command::new("systemctl").arg("daemon-reload").output() {
        Ok(out) if out.status.success() => return None,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    Some(format!(
        "systemd did not reload its unit files ({problem}): run `sudo systemctl daemon-reload` before the service starts, so that it sees the changed drop-in."
    ))
}

/// Restarts the service after `pat set --systemd` when it runs or has failed, and says what
/// happened; a service that was never started (or was stopped) is left alone.
fn restart_service_for_new_pat(pat: &Pat, service: &ServicePaths) -> String {
    let unit = service.unit();
    let state = std::process::Command::new("systemctl")
        .args(["is-active", &unit])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match state.as_deref() {
        Ok("active" | "activating" | "reloading" | "failed") => {
            match std::process::Command::new("systemctl").args(["restart", &unit]).output() {
                Ok(out) if out.status.success() => format!(
                    "Restarted {unit}: it now uses PAT {} and sends it to every validator (`journalctl -u {unit} -f` shows it).",
                    pat.masked()
                ),
                Ok(out) => format!(
                    "The PAT is stored, but restarting the service failed ({}): run `sudo systemctl restart {unit}` and see `systemctl status {unit}`.",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => format!("The PAT is stored, but systemctl could not be run ({e}): restart the service to use it."),
            }
        }
        Ok(_) => format!("Start the service with `sudo systemctl enable --now {unit}`."),
        Err(_) => format!(
            "Start (or restart) the {unit} service to use it: systemd hands a service its PAT only when it starts."
        ),
    }
}
