//! `post`: send the PAT where it is missing. Checks first (unless `--all`), broadcasts only
//! to validators that lack a valid PAT, retries the silent ones with backoff within a
//! bounded time, and reports full coverage only when it was reached.

use std::time::Instant;

use anyhow::Context;

use crate::cli::PostArgs;
use crate::exit;
use crate::github::{GitHub, PatVerdict};
use crate::probe;
use crate::reconcile::decide::{self, Action, Alert};
use crate::report::{self, PostOutcome};
use crate::transport::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Check,
    Broadcast,
    Done,
}

pub async fn run(args: PostArgs) -> anyhow::Result<u8> {
    let mut common = args.common.clone();
    common.retry_budget_secs = args.retry_budget;
    let prepared = super::prepare(&common).await?;
    let (settings, validators, dendrite) = (&prepared.settings, &prepared.validators, &prepared.dendrite);

    let (pat, source) = super::load_pat(settings).await?;
    let github = GitHub::new(&settings.github_api_url).context("cannot set up the GitHub client")?;
    let login = match github.validate(&pat).await {
        PatVerdict::Valid { login, expires, .. } => {
            tracing::info!(pat = %pat.masked(), github_login = %login, expires = expires.as_deref().unwrap_or("never"), source = %source, "PAT is valid");
            login
        }
        PatVerdict::Rejected { reason } => anyhow::bail!(
            "GitHub rejects the PAT {} ({reason}); nothing was sent. Create a new PAT and store it with `gittensor-miner-agent pat set`",
            pat.masked()
        ),
        PatVerdict::Unavailable { reason, .. } => {
            anyhow::bail!("cannot validate the PAT with GitHub ({reason}); nothing was sent. Try again later")
        }
    };

    let targets = &validators.eligible;
    let mut outcomes = vec![PostOutcome::default(); targets.len()];
    let first = if args.all { Step::Broadcast } else { Step::Check };
    let mut steps = vec![first; targets.len()];
    let deadline = Instant::now() + settings.post_budget;
    let mut attempt = 0;

    loop {
        let checking = indices(&steps, Step::Check);
        if !checking.is_empty() {
            let answers =
                probe::check_all(dendrite, &pick(targets, &checking), settings.check_timeout, settings.max_concurrency)
                    .await;
            for (&i, answer) in checking.iter().zip(answers) {
                steps[i] = match decide::after_check(answer.status) {
                    Action::Covered { .. } => Step::Done,
                    // The PAT was validated with GitHub above: a validator holding a bad one
                    // holds an older one, so it gets the current one.
                    Action::Broadcast | Action::ValidatePatLocally => Step::Broadcast,
                    Action::RetryCheck(_) => Step::Check,
                    Action::Hold(alert) | Action::AlertAndRetry(alert) => {
                        alert_once(&targets[i], alert);
                        Step::Done
                    }
                };
                outcomes[i].record_check(answer);
            }
        }

        let sending = indices(&steps, Step::Broadcast);
        if !sending.is_empty() {
            tracing::info!(validators = sending.len(), pat = %pat.masked(), "sending the PAT");
            let answers = probe::broadcast_all(
                dendrite,
                &pick(targets, &sending),
                &pat,
                settings.broadcast_timeout,
                settings.max_concurrency,
            )
            .await;
            for (&i, answer) in sending.iter().zip(answers) {
                steps[i] = match decide::after_broadcast(answer.status) {
                    Action::Covered { .. } => Step::Done,
                    Action::RetryCheck(_) if args.all => Step::Broadcast,
                    Action::RetryCheck(_) => Step::Check,
                    // GitHub accepted the PAT above; the validator's own reason is reported.
                    Action::ValidatePatLocally | Action::Broadcast => Step::Done,
                    Action::Hold(alert) | Action::AlertAndRetry(alert) => {
                        alert_once(&targets[i], alert);
                        Step::Done
                    }
                };
                outcomes[i].record_broadcast(answer);
            }
        }

        let pending = steps.iter().filter(|s| **s != Step::Done).count();
        if pending == 0 {
            break;
        }
        let delay = settings.retry.delay_random(attempt);
        attempt += 1;
        if Instant::now() + delay > deadline {
            tracing::warn!(
                validators = pending,
                "retry time is used up (raise it with --retry-budget or retry.post_budget_secs)"
            );
            break;
        }
        tracing::info!(
            validators = pending,
            retry_in_secs = delay.as_secs_f64(),
            attempt,
            "retrying validators that gave no usable answer"
        );
        tokio::time::sleep(delay).await;
    }

    let rows: Vec<(Target, PostOutcome)> = targets.iter().cloned().zip(outcomes).collect();
    super::check::warn_about_our_side(rows.iter().filter_map(|(_, o)| o.check.as_ref().map(|c| c.status)));
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    if args.json {
        report::emit(&format!("{:#}", report::post_json(&rows, &validators.skipped, &login)));
    } else {
        report::emit(&report::post_table(&rows));
        report::emit(&format!("\n{}", report::post_summary(&rows)));
        if let Some(skipped) = report::skipped_table(&validators.skipped) {
            report::emit(&format!("\n{skipped}"));
        }
    }
    if covered == rows.len() {
        Ok(exit::COVERED)
    } else {
        tracing::warn!(covered, eligible = rows.len(), "not every eligible validator holds your PAT: run `post` again later, or run the agent as a service to keep retrying");
        Ok(exit::PARTIAL_COVERAGE)
    }
}

fn indices(steps: &[Step], wanted: Step) -> Vec<usize> {
    steps.iter().enumerate().filter(|(_, s)| **s == wanted).map(|(i, _)| i).collect()
}

fn pick(targets: &[Target], indices: &[usize]) -> Vec<Target> {
    indices.iter().map(|&i| targets[i].clone()).collect()
}

fn alert_once(target: &Target, alert: Alert) {
    match alert {
        Alert::IdentityLocked => tracing::error!(
            uid = target.uid, hotkey = %target.hotkey,
            "validator has pinned another GitHub account to this hotkey: re-sending cannot fix it; use the PAT of the GitHub account first registered, or deregister and re-register the hotkey"
        ),
        Alert::ClockSkew => {
            tracing::error!(uid = target.uid, hotkey = %target.hotkey, "validator refuses our requests as too old: fix this machine's clock (NTP)")
        }
        Alert::Refused => {
            tracing::warn!(uid = target.uid, hotkey = %target.hotkey, "validator refused our signed request")
        }
        Alert::PatRejected => {
            tracing::error!(uid = target.uid, hotkey = %target.hotkey, "GitHub rejects the PAT: store a new one with `pat set`")
        }
    }
}
