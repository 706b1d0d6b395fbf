//! `status`: coverage from the daemon's state file, without touching the network.
//! Readable by an operator in the service's group (the file is mode 0640). Exit status as
//! `check`'s: 0 all covered, 3 partial coverage, 1 unreadable state (README, "Exit status").

use anyhow::Context;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::clock::{ago, clock_utc, Clock};
use crate::daemon::state::StateFile;
use crate::exit;
use crate::github::PatStanding;
use crate::reconcile::tracker::Coverage;
use crate::report::{self, short_hotkey};
use crate::settings::{self, Flags};

pub async fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let flags = Flags { config: args.config.clone(), state_dir: args.state_dir.clone(), ..Flags::default() };
    let settings = settings::load(&flags)?;
    let file = StateFile::in_dir(&settings.daemon.state_dir);
    let state = file.read().with_context(|| {
        format!("cannot read {}: is the agent running (`systemctl status gittensor-miner-agent`), and are you in its group?", file.path().display())
    })?;
    let summary = state.tracker.summary();
    let now = Clock::system().now_ms();

    if args.json {
        let validators: Vec<_> = state
            .tracker
            .validators
            .values()
            .map(|e| {
                json!({
                    "uid": e.target.uid, "hotkey": e.target.hotkey, "axon": e.target.addr().to_string(),
                    "coverage": e.coverage, "reachable": e.reachable, "axon_uuid": e.axon_uuid,
                    "last_check": e.last_check, "last_broadcast": e.last_broadcast,
                    "failures": e.failures, "next_check_ms": e.next_check_ms, "hold": e.hold,
                })
            })
            .collect();
        let pat = state.pat.as_ref().map(|p| {
            json!({
                "masked": p.masked, "github_login": p.github_login, "expires": p.expires,
                "verdict": p.verdict, "reason": p.reason, "validated_ms": p.validated_ms,
            })
        });
        report::emit(&format!(
            "{:#}",
            json!({
                "success": summary.eligible > 0 && summary.covered == summary.eligible,
                "summary": summary, "pat": pat, "pat_rejected": state.tracker.pat == PatStanding::Rejected,
                "last_sweep_ms": state.last_sweep_ms, "next_sweep_ms": state.next_sweep_ms,
                "source": state.source, "updated_ms": state.updated_ms, "validators": validators,
            })
        ));
    } else {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "UID",
            "Validator",
            "Coverage",
            "Last check",
            "Last broadcast",
            "Note",
        ]);
        for e in state.tracker.validators.values() {
            let check = e
                .last_check
                .as_ref()
                .map(|c| format!("{} ({})", c.status.label(), ago(now, c.at_ms)))
                .unwrap_or_default();
            let sent = e
                .last_broadcast
                .as_ref()
                .map(|b| format!("{} ({})", b.status.label(), ago(now, b.at_ms)))
                .unwrap_or_default();
            let note = match (e.reachable, e.coverage) {
                (false, _) => "unreachable".to_owned(),
                (_, Coverage::Held) => "identity locked: re-sending cannot help".to_owned(),
                _ if e.failures > 0 => format!("retry at {}", clock_utc(e.next_check_ms)),
                _ => String::new(),
            };
            table.add_row(vec![
                e.target.uid.to_string(),
                short_hotkey(&e.target.hotkey),
                e.coverage.name().to_owned(),
                check,
                sent,
                note,
            ]);
        }
        report::emit(&table.to_string());
        let mut line = format!("\n{}/{} validators hold your valid PAT", summary.covered, summary.eligible);
        if let Some(pat) = &state.pat {
            line.push_str(&format!(" · PAT {} ({})", pat.masked, pat.verdict.name()));
        }
        if let Some(at) = state.next_sweep_ms {
            line.push_str(&format!(" · next sweep {}", clock_utc(at)));
        }
        line.push_str(&format!(" · state last changed {}.", ago(now, state.updated_ms)));
        report::emit(&line);
    }
    // As `check`: 0 when every eligible validator last said it holds our valid PAT, 3 when
    // some did not (or none is known yet); an unreadable state file is an error (1). The
    // statuses in `--json` are the tokens of `check`/`post` (README, "JSON for scripts").
    Ok(if summary.eligible > 0 && summary.covered == summary.eligible { exit::COVERED } else { exit::PARTIAL_COVERAGE })
}
