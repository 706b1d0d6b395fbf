//! `status`: coverage from the daemon's state file, without touching the network.
//! Readable by an operator in the service's group (the file is mode 0640). Exit status:
//! 0 all covered, 3 partial coverage, 4 the agent is not running (or its state is stale),
//! 1 unreadable state (README, "Exit status").

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::clock::{ago, clock_utc, Clock};
use crate::daemon::state::{Running, StateFile};
use crate::exit;
use crate::github::PatStanding;
use crate::reconcile::tracker::Coverage;
use crate::report::{self, short_hotkey};
use crate::settings::{self, Flags};

pub async fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let flags = Flags { config: args.config.clone(), state_dir: args.state_dir.clone(), ..Flags::default() };
    let settings = settings::load(&flags)?;
    let file = StateFile::in_dir(&settings.daemon.state_dir);
    let state = file.read().map_err(|e| {
        let path = file.path().display();
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
                "you may not read {path}: add yourself to the service's group with `sudo usermod -aG gittensor-miner-agent $USER` and log in again (or run `sudo gittensor-miner-agent status`)"
            ),
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "no state at {path}: the agent has not run here yet (`sudo systemctl enable --now gittensor-miner-agent`), or it keeps its state elsewhere (--state-dir, daemon.state_dir)"
            ),
            _ => anyhow::anyhow!("cannot read {path}: {e}"),
        }
    })?;
    let summary = state.tracker.summary();
    let now = Clock::system().now_ms();
    let running = state.running(now, agent_process_alive);
    let (running_token, running_since) = match running {
        Running::Yes => ("running", None),
        Running::Stopped { at_ms } => ("stopped", Some(at_ms)),
        Running::Died { last_seen_ms } => ("died", Some(last_seen_ms)),
        Running::Stale { last_seen_ms } => ("stale", Some(last_seen_ms)),
    };

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
                "source": state.source, "updated_ms": state.updated_ms,
                "agent": {"state": running_token, "since_ms": running_since, "pid": state.agent.as_ref().map(|a| a.pid)},
                "validators": validators,
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
        line.push_str(&format!(" · state written {}.", ago(now, state.updated_ms)));
        report::emit(&line);
        if let Some(warning) = not_running_warning(running, now) {
            report::emit(&warning);
        }
    }
    if running != Running::Yes {
        return Ok(exit::AGENT_NOT_RUNNING);
    }
    // As `check`: 0 when every eligible validator last said it holds our valid PAT, 3 when
    // some did not (or none is known yet); an unreadable state file is an error (1). The
    // statuses in `--json` are the tokens of `check`/`post` (README, "JSON for scripts").
    Ok(if summary.eligible > 0 && summary.covered == summary.eligible { exit::COVERED } else { exit::PARTIAL_COVERAGE })
}

/// What to tell an operator looking at a state file whose agent no longer runs.
fn not_running_warning(running: Running, now: u64) -> Option<String> {
    let fix = "start it with `sudo systemctl start gittensor-miner-agent`; why it stopped: `journalctl -u gittensor-miner-agent`";
    Some(match running {
        Running::Yes => return None,
        Running::Stopped { at_ms } => format!(
            "\nTHE AGENT IS NOT RUNNING: it stopped at {} ({}); the figures above are from then. To resume, {fix}.",
            clock_utc(at_ms),
            ago(now, at_ms)
        ),
        Running::Died { last_seen_ms } => format!(
            "\nTHE AGENT IS NOT RUNNING: its process is gone without a clean stop (last seen {}); the figures above are from then. To resume, {fix}.",
            ago(now, last_seen_ms)
        ),
        Running::Stale { last_seen_ms } => format!(
            "\nTHE AGENT LOOKS DOWN OR HUNG: its state was last written {} (a running agent writes it every minute); the figures above are from then. Check `systemctl status gittensor-miner-agent`; to resume, {fix}.",
            ago(now, last_seen_ms)
        ),
    })
}

/// Whether `pid` is a live gittensor-miner-agent process, when this user can see it:
/// `None` where /proc hides other users' processes (hidepid), so only the file's age speaks.
fn agent_process_alive(pid: u32) -> Option<bool> {
    if std::fs::metadata("/proc/1").is_err() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        // The kernel keeps the first 15 bytes of the name.
        Ok(comm) => Some(comm.trim_end().starts_with("gittensor-miner")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}
