//! `status`: coverage from the daemon's state file, without touching the network.
//! Readable by an operator in the service's group (the file is mode 0640). Exit status:
//! 0 all covered, 3 partial coverage (or none known now: no validator has answered for a
//! liveness interval, or GitHub rejects the PAT), 4 the agent is not running (or its state
//! is stale), 1 unreadable state (README, "Exit status").
//!
//! Coverage counts only what is known now ([`Known`]): a validator that does not answer is
//! not counted as covered by what it said before, and nothing is covered while GitHub
//! rejects the PAT.
//!
//! On a machine with instances of the template unit (several hotkeys), `status` without
//! `--instance`, `--config` or `--state-dir` shows one line per agent instead, and exits with
//! the worst of their statuses: 4 before 1 before 3 before 0.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::clock::{ago, clock_utc, Clock};
use crate::daemon::state::{AgentProcess, Running, StateFile};
use crate::exit;
use crate::github::PatStanding;
use crate::proc_identity;
use crate::reconcile::tracker::{Coverage, Summary};
use crate::report::{self, short_hotkey};
use crate::settings::{self, instance, Env, Flags, ServicePaths, Settings};

pub async fn run(args: StatusArgs) -> anyhow::Result<u8> {
    if args.config.is_none() && args.state_dir.is_none() && args.instance.is_none() {
        let env = Env::capture(None);
        let instances = instance::configured();
        if env.config_file.is_none() && env.instance.is_none() && !instances.is_empty() {
            return overview(&instances, args.json);
        }
    }
    let flags = Flags {
        config: args.config.clone(),
        state_dir: args.state_dir.clone(),
        instance: args.instance.clone(),
        ..Flags::default()
    };
    let settings = settings::load(&flags)?;
    let unit = settings.service_paths().unit();
    let file = StateFile::in_dir(&settings.daemon.state_dir);
    let state = file.read().map_err(|e| unreadable_state(&file, &unit, e))?;
    let now = Clock::system().now_ms();
    let known = Known::of(&state, now, settings.daemon.liveness_interval.as_millis() as u64);
    let summary = known.summary;
    let running = state.running(now, agent_process_alive);
    let (running_token, running_since) = running_token(running);

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
                "none_reachable_since_ms": known.none_reachable_since,
                "agent": {"state": running_token, "since_ms": running_since, "pid": state.agent.as_ref().map(|a| a.pid)},
                "validators": validators,
            })
        ));
    } else {
        if let Some(headline) = known.headline(now, &settings.service_paths().flag()) {
            report::emit(&format!("{headline}\n"));
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "UID",
            "Validator",
            "Coverage",
            "Latest answer",
            "Note",
        ]);
        for e in state.tracker.validators.values() {
            // The latest fact: after a repair, the broadcast it accepted, not the check before it.
            let check = e.last_check.as_ref().map(|c| (c.at_ms, 0, "check", c.status.label()));
            let sent = e.last_broadcast.as_ref().map(|b| (b.at_ms, 1, "broadcast", b.status.label()));
            let latest = check
                .into_iter()
                .chain(sent)
                .max_by_key(|(at, order, ..)| (*at, *order))
                .map(|(at, _, what, label)| format!("{what}: {label} ({})", ago(now, at)))
                .unwrap_or_default();
            let silent = known.silent(e);
            let note = match (silent, e.coverage) {
                (true, _) => "unreachable".to_owned(),
                (_, Coverage::Held) => "identity locked: re-sending cannot help".to_owned(),
                _ if e.failures > 0 => format!("retry at {}", clock_utc(e.next_check_ms)),
                _ => String::new(),
            };
            let coverage = match e.coverage {
                Coverage::Covered if known.pat_rejected => "PAT rejected".to_owned(),
                Coverage::Covered if silent => "unknown (was covered)".to_owned(),
                other => other.name().to_owned(),
            };
            table.add_row(vec![e.target.uid.to_string(), short_hotkey(&e.target.hotkey), coverage, latest, note]);
        }
        report::emit(&table.to_string());
        let mut line = format!("\n{}/{} validators hold your valid PAT", summary.covered, summary.eligible);
        if known.covered_but_silent > 0 && !known.pat_rejected {
            line.push_str(&format!(" ({} more did when last reachable)", known.covered_but_silent));
        }
        if let Some(pat) = &state.pat {
            line.push_str(&format!(" · PAT {} ({})", pat.masked, pat.verdict.name()));
        }
        if let Some(at) = state.next_sweep_ms {
            line.push_str(&format!(" · next sweep {}", clock_utc(at)));
        }
        line.push_str(&format!(" · state written {}.", ago(now, state.updated_ms)));
        report::emit(&line);
        if let Some(warning) = not_running_warning(running, now, &unit) {
            report::emit(&format!("\n{warning}"));
        }
    }
    Ok(exit_code(running, &summary))
}

/// What `status` may vouch for now, from the state file: pure (the file, the time, the
/// liveness interval).
struct Known<'a> {
    state: &'a crate::daemon::state::State,
    /// Coverage counts, `covered` only for validators that answer and while GitHub accepts
    /// the PAT.
    summary: Summary,
    pat_rejected: bool,
    /// Covered at their last answer, silent since.
    covered_but_silent: usize,
    /// Every validator silent for longer than a liveness interval: since when.
    none_reachable_since: Option<u64>,
}

impl<'a> Known<'a> {
    fn of(state: &'a crate::daemon::state::State, now: u64, liveness_ms: u64) -> Self {
        let mut known = Known {
            state,
            summary: state.tracker.summary(),
            pat_rejected: state.tracker.pat == PatStanding::Rejected,
            covered_but_silent: 0,
            none_reachable_since: None,
        };
        let validators = &state.tracker.validators;
        known.covered_but_silent =
            validators.values().filter(|e| e.coverage == Coverage::Covered && known.silent(e)).count();
        if known.pat_rejected {
            known.summary.covered = 0;
        } else {
            known.summary.covered -= known.covered_but_silent;
        }
        if !validators.is_empty() && validators.values().all(|e| known.silent(e)) {
            // Files from before silence was timed know only that the probe failed.
            let since = validators.values().map(|e| known.silent_since(e).unwrap_or(state.updated_ms)).max();
            known.none_reachable_since = since.filter(|&at| now.saturating_sub(at) > liveness_ms);
        }
        known
    }

    fn silent_since(&self, e: &crate::reconcile::tracker::Entry) -> Option<u64> {
        self.state.alerts.silent_since().get(&e.target.uid).copied()
    }

    fn silent(&self, e: &crate::reconcile::tracker::Entry) -> bool {
        !e.reachable || self.silent_since(e).is_some()
    }

    /// What must be read first, before the table.
    /// `flag`: what names this agent to `pat set` (` --instance NAME`, or nothing).
    fn headline(&self, now: u64, flag: &str) -> Option<String> {
        if self.pat_rejected {
            let reason = self.state.pat.as_ref().and_then(|p| p.reason.as_deref()).unwrap_or("no reason given");
            return Some(format!(
                "GITHUB REJECTS THE PAT ({}): no validator holds a valid PAT of yours, and the agent sends nothing until a new one is stored: create one on GitHub, then `sudo gittensor-miner-agent pat set --systemd{flag}`.",
                crate::untrusted::Shown(reason)
            ));
        }
        self.none_reachable_since.map(|since| {
            format!(
                "NO VALIDATOR HAS ANSWERED SINCE {} ({}): what they held before is not known now. Check this machine's network and firewall (outbound TCP to the validators' axon ports): `gittensor-miner-agent check`.",
                clock_utc(since),
                ago(now, since)
            )
        })
    }
}

/// As `check`: 0 when every eligible validator last said it holds our valid PAT, 3 when
/// some did not (or none is known yet); 4 when the agent is not running. (An unreadable state
/// file is an error, 1.) The statuses in `--json` are the tokens of `check`/`post` (README,
/// "JSON for scripts").
fn exit_code(running: Running, summary: &Summary) -> u8 {
    if running != Running::Yes {
        exit::AGENT_NOT_RUNNING
    } else if summary.eligible > 0 && summary.covered == summary.eligible {
        exit::COVERED
    } else {
        exit::PARTIAL_COVERAGE
    }
}

fn running_token(running: Running) -> (&'static str, Option<u64>) {
    match running {
        Running::Yes => ("running", None),
        Running::Stopped { at_ms } => ("stopped", Some(at_ms)),
        Running::Died { last_seen_ms } => ("died", Some(last_seen_ms)),
        Running::Stale { last_seen_ms } => ("stale", Some(last_seen_ms)),
    }
}

/// Why the state file of `unit`'s agent cannot be read, and what to do.
fn unreadable_state(file: &StateFile, unit: &str, e: std::io::Error) -> anyhow::Error {
    let path = file.path().display();
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "you may not read {path}: add yourself to the service's group with `sudo usermod -aG gittensor-miner-agent $USER` and log in again (or run `sudo gittensor-miner-agent status`)"
        ),
        std::io::ErrorKind::NotFound => anyhow::anyhow!(
            "no state at {path}: the agent has not run here yet (`sudo systemctl enable --now {unit}`), or it keeps its state elsewhere (--state-dir, daemon.state_dir)"
        ),
        _ => anyhow::anyhow!("cannot read {path}: {e}"),
    }
}

/// What to tell an operator looking at a state file whose agent (`unit`) no longer runs.
fn not_running_warning(running: Running, now: u64, unit: &str) -> Option<String> {
    let fix = format!("start it with `sudo systemctl start {unit}`; why it stopped: `journalctl -u {unit}`");
    Some(match running {
        Running::Yes => return None,
        Running::Stopped { at_ms } => format!(
            "THE AGENT IS NOT RUNNING: it stopped at {} ({}); the figures above are from then. To resume, {fix}.",
            clock_utc(at_ms),
            ago(now, at_ms)
        ),
        Running::Died { last_seen_ms } => format!(
            "THE AGENT IS NOT RUNNING: its process is gone without a clean stop (last seen {}); the figures above are from then. To resume, {fix}.",
            ago(now, last_seen_ms)
        ),
        Running::Stale { last_seen_ms } => format!(
            "THE AGENT LOOKS DOWN OR HUNG: its state was last written {} (a running agent writes it every minute); the figures above are from then. Check `systemctl status {unit}`; to resume, {fix}.",
            ago(now, last_seen_ms)
        ),
    })
}

/// One agent of the overview: the plain unit's or an instance's.
struct Agent {
    paths: ServicePaths,
    seen: Seen,
}

enum Seen {
    /// Its state file: the agent, and what it last knew.
    State { running: Running, summary: Summary, pat: Option<String>, updated_ms: u64 },
    /// An instance that is set up (its config exists) but has written no state yet.
    NeverRan,
    /// Its config or state cannot be read.
    Unreadable(String),
}

impl Agent {
    fn exit(&self) -> u8 {
        match &self.seen {
            Seen::State { running, summary, .. } => exit_code(*running, summary),
            Seen::NeverRan => exit::AGENT_NOT_RUNNING,
            Seen::Unreadable(_) => exit::COULD_NOT_RUN,
        }
    }
}

/// Looks at one agent; `None` for the plain unit's when it never ran (a machine that runs only
/// instances).
fn look(paths: ServicePaths, now: u64) -> Option<Agent> {
    let flags = Flags { instance: paths.instance.clone(), ..Flags::default() };
    let settings: Settings = match settings::load_quietly(&flags) {
        Ok(settings) => settings,
        Err(e) => return Some(Agent { paths, seen: Seen::Unreadable(e.to_string()) }),
    };
    let file = StateFile::in_dir(&settings.daemon.state_dir);
    let seen = match file.read() {
        Ok(state) => Seen::State {
            running: state.running(now, agent_process_alive),
            summary: Known::of(&state, now, settings.daemon.liveness_interval.as_millis() as u64).summary,
            pat: state.pat.as_ref().map(|p| format!("{} ({})", p.masked, p.verdict.name())),
            updated_ms: state.updated_ms,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && paths.instance.is_none() => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Seen::NeverRan,
        Err(e) => Seen::Unreadable(format!("{:#}", unreadable_state(&file, &paths.unit(), e))),
    };
    Some(Agent { paths, seen })
}

/// `status` on a machine with instances: every agent, one line each; the worst exit status.
fn overview(instances: &[String], json: bool) -> anyhow::Result<u8> {
    let now = Clock::system().now_ms();
    let agents: Vec<Agent> = std::iter::once(ServicePaths::of(None))
        .chain(instances.iter().map(|name| ServicePaths::of(Some(name))))
        .filter_map(|paths| look(paths, now))
        .collect();
    let code = worst(agents.iter().map(Agent::exit));
    if json {
        let list: Vec<_> = agents
            .iter()
            .map(|a| {
                let mut entry =
                    json!({"agent": a.paths.name(), "unit": format!("{}.service", a.paths.unit()), "exit": a.exit()});
                match &a.seen {
                    Seen::State { running, summary, pat, updated_ms } => {
                        let (token, since) = running_token(*running);
                        entry["state"] = json!(token);
                        entry["since_ms"] = json!(since);
                        entry["summary"] = json!(summary);
                        entry["pat"] = json!(pat);
                        entry["updated_ms"] = json!(updated_ms);
                    }
                    Seen::NeverRan => entry["state"] = json!("never_ran"),
                    Seen::Unreadable(why) => {
                        entry["state"] = json!("unreadable");
                        entry["error"] = json!(why);
                    }
                }
                entry
            })
            .collect();
        report::emit(&format!("{:#}", json!({"success": code == exit::COVERED, "agents": list})));
        return Ok(code);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Agent",
        "Unit",
        "Covered",
        "PAT",
        "Running",
        "State written",
    ]);
    let mut notes = Vec::new();
    for a in &agents {
        let unit = a.paths.unit();
        let row = match &a.seen {
            Seen::State { running, summary, pat, updated_ms } => {
                if let Some(warning) = not_running_warning(*running, now, &unit) {
                    notes.push(format!("{}: {warning}", a.paths.name()));
                }
                let (token, _) = running_token(*running);
                vec![
                    format!("{}/{}", summary.covered, summary.eligible),
                    pat.clone().unwrap_or_default(),
                    token.to_owned(),
                    ago(now, *updated_ms),
                ]
            }
            Seen::NeverRan => {
                notes.push(format!(
                    "{}: THE AGENT HAS NOT RUN YET: start it with `sudo systemctl enable --now {unit}` (README, \"Several hotkeys on one machine\").",
                    a.paths.name()
                ));
                vec![String::new(), String::new(), "never ran".into(), String::new()]
            }
            Seen::Unreadable(why) => {
                notes.push(format!("{}: {why}", a.paths.name()));
                vec![String::new(), String::new(), "unreadable".into(), String::new()]
            }
        };
        let mut cells = vec![a.paths.name().to_owned(), unit];
        cells.extend(row);
        table.add_row(cells);
    }
    report::emit(&table.to_string());
    for note in notes {
        report::emit(&format!("\n{note}"));
    }
    report::emit("\nEach agent's validators: `gittensor-miner-agent status --instance NAME` (the plain unit's: `--config /etc/gittensor-miner-agent/config.toml`).");
    Ok(code)
}

/// The overview's exit status: the worst of its agents' (see [`severity`]); covered when none.
fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max_by_key(|code| severity(*code)).unwrap_or(exit::COVERED)
}

/// Which exit status wins in the overview: not running, then unreadable, then partial.
fn severity(code: u8) -> u8 {
    match code {
        exit::AGENT_NOT_RUNNING => 3,
        exit::COULD_NOT_RUN => 2,
        exit::PARTIAL_COVERAGE => 1,
        _ => 0,
    }
}

/// Whether the agent that wrote the state still runs, when this user can see it: `None`
/// where /proc hides other users' processes (hidepid), so only the file's age speaks.
/// Judged by the process's identity (pid, boot, start time), never by its name: a wrapper or
/// a renamed copy is still the agent, a later process that got its pid is not.
fn agent_process_alive(agent: &AgentProcess) -> Option<bool> {
    if std::fs::metadata("/proc/1").is_err() {
        return None;
    }
    // Another boot: whatever has that pid now is not it. (Where the agent could not read its
    // boot id, a reboot is caught by the file's age: no write for three heartbeats.)
    if let (Some(then), Some(now)) = (&agent.boot_id, proc_identity::boot_id()) {
        if *then != now {
            return Some(false);
        }
    }
    match proc_identity::start_ticks(agent.pid) {
        Ok(ticks) => match agent.start_ticks {
            Some(recorded) => Some(ticks == recorded),
            // A file from before start times were recorded: the name is all there is. The
            // kernel keeps the first 15 bytes of it.
            None => std::fs::read_to_string(format!("/proc/{}/comm", agent.pid))
                .ok()
                .map(|comm| comm.trim_end().starts_with("gittensor-miner")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overview_exits_with_the_worst_agents_status() {
        assert_eq!(worst([]), exit::COVERED);
        assert_eq!(worst([exit::COVERED, exit::COVERED]), exit::COVERED);
        assert_eq!(worst([exit::COVERED, exit::PARTIAL_COVERAGE]), exit::PARTIAL_COVERAGE);
        assert_eq!(worst([exit::PARTIAL_COVERAGE, exit::COULD_NOT_RUN]), exit::COULD_NOT_RUN);
        assert_eq!(worst([exit::AGENT_NOT_RUNNING, exit::COULD_NOT_RUN, exit::COVERED]), exit::AGENT_NOT_RUNNING);
        let never_ran = Agent { paths: ServicePaths::of(Some("carol")), seen: Seen::NeverRan };
        assert_eq!(never_ran.exit(), exit::AGENT_NOT_RUNNING, "an instance set up but never started is not running");
    }
}
