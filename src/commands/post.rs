//! `post`: send the PAT where it is missing. The same reconcile core as `run`, run until
//! every validator is settled or the retry budget (a hard deadline) is spent: each
//! validator is checked, sent the PAT the moment it says it lacks it, and retried on its
//! own backoff — a silent validator delays nobody else. `--all` owes the PAT to every
//! validator once, as a PAT change would.

use crate::untrusted::Shown;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use tokio::time::Instant;

use crate::cli::PostArgs;
use crate::clock::Clock;
use crate::exit;
use crate::github::{GitHub, PatStanding, PatVerdict};
use crate::reconcile::core::{Core, Finish, Happening, Knobs};
use crate::reconcile::tracker::{Change, Tracker};
use crate::report::{self, PostOutcome};
use crate::secrets::{self, Pat, PatSource, SecretError};
use crate::settings::{self, Flags, Settings};
use crate::synapse::{CheckAnswer, CheckStatus};
use crate::transport::Target;

pub async fn run(args: PostArgs) -> anyhow::Result<u8> {
    let flags = Flags { retry_budget_secs: args.retry_budget, ..args.common.flags() };
    // The budget bounds the whole command: the chain read and GitHub's verdict included.
    let loaded = settings::load(&flags)?;
    let budget = loaded.post_budget;
    let deadline = Instant::now() + budget;
    let out_of_time = |what: &str| {
        anyhow::anyhow!(
            "{what} took longer than the retry budget ({:.0} s); nothing was sent. Raise it with --retry-budget or retry.post_budget_secs",
            budget.as_secs_f64()
        )
    };
    let prepared = tokio::time::timeout_at(deadline, super::prepare(loaded))
        .await
        .map_err(|_| out_of_time("reading the validator set"))??;
    let (settings, validators) = (&prepared.settings, &prepared.validators);

    let (pat, source) = load_pat(settings).await?;
    let github = GitHub::new(&settings.github_api_url).context("cannot set up the GitHub client")?;
    let verdict = tokio::time::timeout_at(deadline, github.validate(&pat))
        .await
        .map_err(|_| out_of_time("asking GitHub about the PAT"))?;
    let login = match verdict {
        PatVerdict::Valid { login, expires, .. } => {
            tracing::info!(pat = %pat.masked(), github_login = %Shown(&login), expires = expires.as_deref().unwrap_or("never"), source = %source, "PAT is valid");
            login
        }
        PatVerdict::Rejected { reason } => anyhow::bail!(
            "GitHub rejects the PAT {} ({}); nothing was sent. Create a new PAT and store it with `gittensor-miner-agent pat set`",
            pat.masked(),
            Shown(&reason)
        ),
        PatVerdict::Unavailable { reason, .. } => {
            anyhow::bail!("cannot validate the PAT with GitHub ({}); nothing was sent. Try again later", Shown(&reason))
        }
    };

    let targets = &validators.eligible;
    let mut core = Core::new(
        Tracker::default(),
        Arc::new(prepared.dendrite),
        Arc::new(github),
        pat,
        Knobs::new(settings),
        Clock::system(),
        rand::random(),
    );
    core.sync_targets(targets);
    core.assume_verdict(PatStanding::Valid);
    if args.all {
        core.resend_to_all();
    }

    let mut outcomes: BTreeMap<u16, PostOutcome> = BTreeMap::new();
    let masked = core.pat().masked();
    let finish = core
        .run_until(deadline, |happening| match happening {
            Happening::Checked { target, answer } => {
                if answer_is_retried(answer.status) {
                    tracing::info!(
                        validator_uid = target.uid, outcome = ?answer.status,
                        "validator {} gave no usable answer ({}): retrying it on its own backoff",
                        target.uid, Shown(answer.detail().or(answer.reference_rejection_reason()).unwrap_or(answer.status.label()))
                    );
                }
                outcomes.entry(target.uid).or_default().record_check(answer.clone())
            }
            Happening::Broadcast { target, answer } => {
                outcomes.entry(target.uid).or_default().record_broadcast(answer.clone())
            }
            Happening::Sending { target } => {
                tracing::info!(validator_uid = target.uid, pat = %masked, "sending the PAT to validator {}", target.uid);
                outcomes.entry(target.uid).or_default().record_sending()
            }
            Happening::Change(Change::Alert { uid, alert }) => {
                tracing::warn!(validator_uid = uid, outcome = alert.token(), "validator {uid} {}", alert.advice())
            }
            Happening::Change(_) | Happening::Verdict(_) | Happening::Probed { .. } => {}
        })
        .await;
    let unsettled = core.tracker.validators.values().filter(|e| !e.settled()).count();
    match finish {
        Finish::Settled => {}
        Finish::Deadline | Finish::NothingMoreInTime => tracing::warn!(
            validators = unsettled,
            budget_secs = settings.post_budget.as_secs_f64(),
            "{unsettled} validator(s) gave no usable answer within the retry budget of {:.0} s (raise it with --retry-budget or retry.post_budget_secs)",
            settings.post_budget.as_secs_f64()
        ),
    }

    let rows: Vec<(Target, PostOutcome)> = targets
        .iter()
        .map(|target| {
            let outcome =
                outcomes.remove(&target.uid).unwrap_or_else(|| unanswered(settings.post_budget.as_secs_f64()));
            (target.clone(), outcome)
        })
        .collect();
    super::check::warn_about_our_side(rows.iter().filter_map(|(_, o)| o.check.as_ref().map(|c| c.status)));
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    if args.json {
        report::emit(&report::python_json(&report::post_json(&rows, &validators.skipped, &login), true));
    } else {
        report::emit(&report::post_text(&rows, &validators.skipped));
    }
    if covered == rows.len() {
        Ok(exit::COVERED)
    } else {
        if let (true, Some(next)) = (args.json, report::post_next_step(&rows)) {
            // The text output ends with it; under --json it goes to stderr.
            tracing::warn!(covered, eligible = rows.len(), "not every eligible validator holds your PAT. {next}");
        }
        Ok(exit::PARTIAL_COVERAGE)
    }
}

/// The PAT from the keyring or the environment; as root on a server, when neither has one,
/// the service's (decrypted with `systemd-creds`), said on stderr.
async fn load_pat(settings: &Settings) -> anyhow::Result<(Pat, PatSource)> {
    let e = match super::load_pat(settings).await {
        Ok(found) => return Ok(found),
        Err(e) => e,
    };
    let none_of_ours = matches!(
        e.downcast_ref::<SecretError>(),
        Some(
            SecretError::NotFound
                | SecretError::NoStore
                | SecretError::StoreUnavailable { .. }
                | SecretError::Keyring { .. }
                | SecretError::KernelKeyringRefused { .. }
        )
    );
    match &settings.service_pat {
        Some(credential) if none_of_ours => {
            let path = credential.clone();
            let found = tokio::task::spawn_blocking(move || secrets::read_service_credential_at(&path))
                .await
                .context("reading the service's PAT was interrupted")??
                .ok_or_else(|| anyhow::anyhow!("{} disappeared while being read", credential.display()))?;
            eprintln!(
                "note: running as root, with no PAT in root's keyring or {}: using the service's, {}",
                secrets::PAT_ENV,
                credential.display()
            );
            Ok(found)
        }
        None if none_of_ours && settings.root => {
            let flag = settings.service_paths().flag();
            Err(anyhow::anyhow!(
                "{e:#}; as root on a server, `sudo gittensor-miner-agent pat set --systemd{flag}` stores it for the service, and `sudo gittensor-miner-agent post{flag}` then uses that one too"
            ))
        }
        _ => Err(e),
    }
}

fn answer_is_retried(status: CheckStatus) -> bool {
    matches!(
        crate::reconcile::policy::after_check(status),
        crate::reconcile::policy::Action::RetryCheck(_) | crate::reconcile::policy::Action::AlertAndRetry(_)
    )
}

/// A validator whose first request was still in flight when the budget ran out: reported
/// as bittensor reports a request that timed out (408, no reason of the validator's).
fn unanswered(budget_secs: f64) -> PostOutcome {
    let mut outcome = PostOutcome::default();
    outcome.record_check(CheckAnswer {
        status: CheckStatus::NoResponse,
        has_pat: None,
        pat_valid: None,
        rejection_reason: Some(format!("no answer within the retry budget ({budget_secs:.0} s)")),
        status_code: 408,
        axon_uuid: None,
    });
    outcome
}
