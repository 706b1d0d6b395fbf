//! `check`: ask every eligible validator whether it holds a valid PAT. Sends no PAT.

use crate::cli::CheckArgs;
use crate::exit;
use crate::probe;
use crate::report;
use crate::synapse::CheckStatus;

pub async fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let prepared = super::prepare(crate::settings::load(&args.common.flags())?).await?;
    let (settings, validators) = (&prepared.settings, &prepared.validators);
    tracing::info!(validators = validators.eligible.len(), source = %validators.source, "checking validators");

    let answers =
        probe::check_all(&prepared.dendrite, &validators.eligible, settings.check_timeout, settings.max_concurrency)
            .await;
    let rows: Vec<_> = validators.eligible.iter().cloned().zip(answers).collect();
    warn_about_our_side(rows.iter().map(|(_, a)| a.status));

    if args.json {
        report::emit(&report::python_json(&report::check_json(&rows, &validators.skipped), true));
    } else {
        report::emit(&report::check_text(&rows, &validators.skipped));
    }
    let covered = rows.iter().all(|(_, a)| a.status == CheckStatus::Valid);
    Ok(if covered { exit::COVERED } else { exit::PARTIAL_COVERAGE })
}

/// Problems on our side explain many validators' refusals at once: say so once, plainly.
pub(crate) fn warn_about_our_side(statuses: impl Iterator<Item = CheckStatus>) {
    let statuses: Vec<_> = statuses.collect();
    let count = |s| statuses.iter().filter(|&&x| x == s).count();
    if count(CheckStatus::ClockSkew) > 0 {
        tracing::error!(
            validators = count(CheckStatus::ClockSkew),
            "validators refuse our requests as too old: this machine's clock is off by more than a few seconds; enable NTP (timedatectl set-ntp true)"
        );
    }
    if count(CheckStatus::Blacklisted) > 0 {
        tracing::warn!(
            validators = count(CheckStatus::Blacklisted),
            "validators do not see this hotkey as registered on the subnet (403); if you registered recently, their metagraph may lag"
        );
    }
    if count(CheckStatus::Refused) > 0 {
        tracing::warn!(validators = count(CheckStatus::Refused), "validators refused our signed request (401/400)");
    }
}
