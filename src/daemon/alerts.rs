//! The alert hook: an operator's command, run on a transition worth waking someone for,
//! with the event in environment variables and as JSON on stdin — so ntfy, e-mail or a chat
//! webhook is a few lines of shell, and we ship none of them.
//!
//! [`Alerting`] decides (pure: it is fed the tracker and the time): an incident fires once
//! when it starts (after a grace period where that applies), again only after `repeat`, and
//! once more when it is over; at most [`MAX_PER_HOUR`] commands run per hour whatever
//! happens. [`run_hook`] runs one command with a deadline, beside the loop, never in it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::github::PatStanding;
use crate::reconcile::tracker::{Coverage, Tracker};
use crate::report::validator_subject;

/// However many incidents there are, no more hook runs than this per hour.
pub const MAX_PER_HOUR: usize = 20;
/// A hook that has not finished by then is killed.
pub const HOOK_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub command: PathBuf,
    /// How long a validator may stay without our PAT before it is an incident: repairs
    /// normally take well under a minute.
    pub grace: Duration,
    /// An incident still open after this is announced again.
    pub repeat: Duration,
}

/// What the hook is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    /// `coverage_lost`, `pat_rejected`, `pat_expiring`, `identity_locked`,
    /// `no_validator_reachable`.
    pub event: &'static str,
    /// `firing` when it starts (or again after `repeat`), `resolved` when it is over.
    pub state: &'static str,
    /// What it is about: `validator 12 (5FHneW46…)`, or `the PAT`, or `the network`.
    pub subject: String,
    pub message: String,
    pub at_ms: u64,
    pub covered: usize,
    pub eligible: usize,
}

/// What an incident is about. Persisted by name in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CoverageLost,
    IdentityLocked,
    PatRejected,
    PatExpiring,
    NoValidatorReachable,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::CoverageLost => "coverage_lost",
            Kind::IdentityLocked => "identity_locked",
            Kind::PatRejected => "pat_rejected",
            Kind::PatExpiring => "pat_expiring",
            Kind::NoValidatorReachable => "no_validator_reachable",
        }
    }

    fn resolved_words(self) -> &'static str {
        match self {
            Kind::CoverageLost => "holds your valid PAT again",
            Kind::IdentityLocked => "no longer holds the identity lock",
            Kind::PatRejected => "is accepted by GitHub again",
            Kind::PatExpiring => "no longer expires soon",
            Kind::NoValidatorReachable => "is reachable again",
        }
    }
}

/// An open incident: announced `firing`, not yet `resolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub event: Kind,
    pub subject: String,
    /// When it was first announced.
    pub first_fired_ms: u64,
    /// When it was last announced (first, or again after `repeat`).
    pub announced_ms: u64,
}

/// The incidents' memory. Kept in the state file, so that a restart (`pat set --systemd`
/// restarts the service) neither forgets to resolve what it announced nor announces again
/// what is still open.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alerting {
    /// Since when each validator has been without our PAT (not covered, not held).
    #[serde(default)]
    uncovered_since: BTreeMap<u16, u64>,
    #[serde(default)]
    open: Vec<Incident>,
    /// When hooks ran in the last hour.
    #[serde(default)]
    recent_runs: Vec<u64>,
}

/// What the daemon knows that the tracker does not.
pub struct Situation<'a> {
    pub tracker: &'a Tracker,
    pub pat: PatStanding,
    pub pat_reason: Option<&'a str>,
    pub days_to_expiry: Option<i64>,
    pub expiry_warning_days: i64,
    pub now_ms: u64,
}

/// An incident's cause, as seen now.
enum Cause {
    /// It is there: open (or keep open) and announce.
    Present(String),
    /// It cannot be told now (GitHub not asked yet about a new PAT; the validator's own
    /// incident while the PAT is rejected): an open incident stays open, unannounced.
    Undecided,
}

impl Alerting {
    pub fn open(&self) -> &[Incident] {
        &self.open
    }

    /// The events to announce now; call after anything changed (cheap).
    pub fn events(&mut self, settings: &AlertSettings, now: &Situation) -> Vec<AlertEvent> {
        let t = now.tracker;
        let summary = t.summary();
        let mut seen: Vec<(Kind, String, Cause)> = Vec::new();

        // Validators without our PAT past the grace period. Not while GitHub rejects the PAT:
        // that is one incident of its own, not one per validator.
        self.uncovered_since.retain(|uid, _| t.validators.get(uid).is_some_and(|e| uncovered(e.coverage)));
        for (uid, e) in &t.validators {
            if uncovered(e.coverage) {
                let since = *self.uncovered_since.entry(*uid).or_insert(now.now_ms);
                let subject = validator_subject(*uid, &e.target.hotkey);
                if now.pat == PatStanding::Rejected {
                    seen.push((Kind::CoverageLost, subject, Cause::Undecided));
                } else if now.now_ms.saturating_sub(since) >= settings.grace.as_millis() as u64 {
                    let minutes = (now.now_ms - since) / 60_000;
                    let message = format!(
                        "{subject} has been without your valid PAT for {minutes} min ({}); the agent keeps retrying",
                        e.coverage.name()
                    );
                    seen.push((Kind::CoverageLost, subject, Cause::Present(message)));
                }
            }
            if e.coverage == Coverage::Held {
                let subject = validator_subject(*uid, &e.target.hotkey);
                let message = format!(
                    "{subject} pinned another GitHub account to your hotkey: re-sending cannot help; the validator's operator must release it, or re-register the hotkey"
                );
                seen.push((Kind::IdentityLocked, subject, Cause::Present(message)));
            }
        }
        match now.pat {
            PatStanding::Rejected => seen.push((
                Kind::PatRejected,
                "the PAT".into(),
                Cause::Present(format!(
                    "GitHub rejects the PAT ({}): nothing is sent until a new one is stored",
                    now.pat_reason.unwrap_or("no reason given")
                )),
            )),
            // A new PAT GitHub has not judged yet, or GitHub out of reach: not over yet.
            PatStanding::Unknown | PatStanding::Unavailable => {
                seen.push((Kind::PatRejected, "the PAT".into(), Cause::Undecided))
            }
            PatStanding::Valid => {}
        }
        if let Some(days) = now.days_to_expiry.filter(|&d| d <= now.expiry_warning_days) {
            seen.push((
                Kind::PatExpiring,
                "the PAT".into(),
                Cause::Present(format!("the PAT expires in {days} days: create a new one and store it")),
            ));
        }
        if summary.eligible > 0 && summary.unreachable == summary.eligible {
            seen.push((
                Kind::NoValidatorReachable,
                "the network".into(),
                Cause::Present(format!(
                    "none of the {} eligible validators can be reached: check this machine's network",
                    summary.eligible
                )),
            ));
        }

        let mut events = Vec::new();
        let event = |event: Kind, state, subject: &str, message: String| AlertEvent {
            event: event.name(),
            state,
            subject: subject.to_owned(),
            message,
            at_ms: now.now_ms,
            covered: summary.covered,
            eligible: summary.eligible,
        };
        let repeat = settings.repeat.as_millis() as u64;
        for (kind, subject, cause) in &seen {
            let Cause::Present(message) = cause else { continue };
            match self.open.iter_mut().find(|i| i.event == *kind && i.subject == *subject) {
                Some(open) if now.now_ms.saturating_sub(open.announced_ms) < repeat => {}
                Some(open) => {
                    open.announced_ms = now.now_ms;
                    events.push(event(*kind, "firing", subject, message.clone()));
                }
                None => {
                    self.open.push(Incident {
                        event: *kind,
                        subject: subject.clone(),
                        first_fired_ms: now.now_ms,
                        announced_ms: now.now_ms,
                    });
                    events.push(event(*kind, "firing", subject, message.clone()));
                }
            }
        }
        let mut still_open = Vec::new();
        for incident in std::mem::take(&mut self.open) {
            if seen.iter().any(|(kind, subject, _)| *kind == incident.event && *subject == incident.subject) {
                still_open.push(incident);
            } else {
                let minutes = now.now_ms.saturating_sub(incident.first_fired_ms) / 60_000;
                let message =
                    format!("over after {minutes} min: {} {}", incident.subject, incident.event.resolved_words());
                events.push(event(incident.event, "resolved", &incident.subject, message));
            }
        }
        self.open = still_open;

        // The hourly cap: what does not fit is dropped (and said in the journal by the caller).
        self.recent_runs.retain(|&at| now.now_ms.saturating_sub(at) < 3_600_000);
        let room = MAX_PER_HOUR.saturating_sub(self.recent_runs.len());
        events.truncate(room);
        self.recent_runs.extend(std::iter::repeat_n(now.now_ms, events.len()));
        events
    }
}

fn uncovered(coverage: Coverage) -> bool {
    matches!(coverage, Coverage::Missing | Coverage::Failing)
}

/// The `PATH` a hook gets when the agent itself has none (systemd's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs the hook for one event: `GMA_*` variables and the event as JSON on stdin. Killed
/// after [`HOOK_DEADLINE`]; its failures are logged, never retried.
pub async fn run_hook(command: PathBuf, agent: String, event: AlertEvent) {
    let json = serde_json::to_string(&event).unwrap_or_default();
    let mut command_line = tokio::process::Command::new(&command);
    // The hook is the operator's script, often a chat webhook: it gets what it needs and
    // nothing of ours — not `GITTENSOR_MINER_PAT`, not `CREDENTIALS_DIRECTORY`.
    command_line.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()));
    if let Some(lang) = std::env::var_os("LANG") {
        command_line.env("LANG", lang);
    }
    let mut child = match command_line
        .env("GMA_EVENT", event.event)
        .env("GMA_STATE", event.state)
        .env("GMA_SUBJECT", &event.subject)
        .env("GMA_MESSAGE", &event.message)
        .env("GMA_AGENT", &agent)
        .env("GMA_COVERED", event.covered.to_string())
        .env("GMA_ELIGIBLE", event.eligible.to_string())
        .env("GMA_AT", (event.at_ms / 1000).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(command = %command.display(), error = %e, "cannot run the alert hook {} ({e}): check alerts.command", command.display());
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(json.as_bytes()).await;
    }
    match tokio::time::timeout(HOOK_DEADLINE, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => {
            tracing::info!(
                event = event.event,
                state = event.state,
                "alert hook ran for {} {} ({})",
                event.event,
                event.state,
                event.subject
            )
        }
        Ok(Ok(out)) => tracing::warn!(
            command = %command.display(), event = event.event,
            "the alert hook {} failed for {} ({}): {}",
            command.display(), event.event, out.status, String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(Err(e)) => {
            tracing::warn!(command = %command.display(), error = %e, "the alert hook {} failed: {e}", command.display())
        }
        Err(_) => tracing::warn!(
            command = %command.display(),
            "the alert hook {} did not finish within {} s: killed", command.display(), HOOK_DEADLINE.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tracker::Entry;
    use crate::transport::Target;

    const MIN: u64 = 60_000;

    fn settings() -> AlertSettings {
        AlertSettings {
            command: "/bin/true".into(),
            grace: Duration::from_secs(600),
            repeat: Duration::from_secs(6 * 3600),
        }
    }

    fn tracker(coverages: &[Coverage]) -> Tracker {
        let mut t = Tracker::default();
        for (uid, coverage) in coverages.iter().enumerate() {
            let target = Target {
                uid: uid as u16,
                hotkey: format!("5Hotkey{uid}xxxxxxxxxxxxxx"),
                ip: "127.0.0.1".parse().unwrap(),
                port: 8091,
            };
            let mut e = Entry::new(target, 0);
            e.coverage = *coverage;
            e.reachable = true;
            t.validators.insert(uid as u16, e);
        }
        t
    }

    fn at<'a>(t: &'a Tracker, now_ms: u64) -> Situation<'a> {
        Situation {
            tracker: t,
            pat: PatStanding::Valid,
            pat_reason: None,
            days_to_expiry: None,
            expiry_warning_days: 14,
            now_ms,
        }
    }

    fn names(events: &[AlertEvent]) -> Vec<(&str, &str, &str)> {
        events.iter().map(|e| (e.event, e.state, e.subject.as_str())).collect()
    }

    #[test]
    fn a_lost_validator_fires_once_after_the_grace_period_and_resolves_once() {
        let mut a = Alerting::default();
        let lost = tracker(&[Coverage::Covered, Coverage::Missing]);
        assert!(a.events(&settings(), &at(&lost, 0)).is_empty());
        assert!(a.events(&settings(), &at(&lost, 9 * MIN)).is_empty(), "a repair in progress is no incident");
        let fired = a.events(&settings(), &at(&lost, 10 * MIN));
        assert_eq!(names(&fired), [("coverage_lost", "firing", "validator 1 (5Hotkey1xxxxxxxx...)")]);
        assert!(fired[0].message.contains("for 10 min"), "{}", fired[0].message);
        assert!(a.events(&settings(), &at(&lost, 30 * MIN)).is_empty(), "once per incident");
        let back = tracker(&[Coverage::Covered, Coverage::Covered]);
        assert_eq!(
            names(&a.events(&settings(), &at(&back, 31 * MIN))),
            [("coverage_lost", "resolved", "validator 1 (5Hotkey1xxxxxxxx...)")]
        );
        assert!(a.events(&settings(), &at(&back, 32 * MIN)).is_empty());
    }

    #[test]
    fn a_quick_repair_is_never_an_incident() {
        let mut a = Alerting::default();
        a.events(&settings(), &at(&tracker(&[Coverage::Missing]), 0));
        a.events(&settings(), &at(&tracker(&[Coverage::Covered]), 2 * MIN));
        assert!(a.events(&settings(), &at(&tracker(&[Coverage::Missing]), 5 * MIN)).is_empty());
        assert!(a.events(&settings(), &at(&tracker(&[Coverage::Missing]), 14 * MIN)).is_empty(), "the clock restarted");
        assert_eq!(a.events(&settings(), &at(&tracker(&[Coverage::Missing]), 15 * MIN)).len(), 1);
    }

    #[test]
    fn an_open_incident_is_announced_again_after_repeat() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Held]);
        assert_eq!(names(&a.events(&settings(), &at(&t, 0)))[0].0, "identity_locked");
        assert!(a.events(&settings(), &at(&t, 5 * 60 * MIN)).is_empty());
        assert_eq!(a.events(&settings(), &at(&t, 6 * 60 * MIN)).len(), 1);
    }

    #[test]
    fn a_rejected_pat_is_one_incident_not_one_per_validator() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Missing, Coverage::Missing, Coverage::Missing]);
        a.events(&settings(), &at(&t, 0));
        let rejected =
            Situation { pat: PatStanding::Rejected, pat_reason: Some("Bad credentials"), ..at(&t, 20 * MIN) };
        let fired = a.events(&settings(), &rejected);
        assert_eq!(names(&fired), [("pat_rejected", "firing", "the PAT")]);
        assert!(fired[0].message.contains("Bad credentials"));
    }

    #[test]
    fn no_more_than_the_hourly_cap_whatever_happens() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Held; 50]);
        assert_eq!(a.events(&settings(), &at(&t, 0)).len(), MAX_PER_HOUR);
        assert!(a.events(&settings(), &at(&t, 30 * MIN)).is_empty());
    }

    #[test]
    fn every_validator_unreachable_is_one_network_incident() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered, Coverage::Covered]);
        for e in t.validators.values_mut() {
            e.reachable = false;
        }
        assert_eq!(names(&a.events(&settings(), &at(&t, 0))), [("no_validator_reachable", "firing", "the network")]);
    }

    /// What a restart keeps: the state file's JSON, read back.
    fn restarted(a: &Alerting) -> Alerting {
        serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap()
    }

    #[test]
    fn a_rejected_pat_announced_before_a_restart_is_resolved_after_it_once_github_accepts_the_new_one() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Covered]);
        let rejected =
            |now_ms| Situation { pat: PatStanding::Rejected, pat_reason: Some("Bad credentials"), ..at(&t, now_ms) };
        assert_eq!(names(&a.events(&settings(), &rejected(0))), [("pat_rejected", "firing", "the PAT")]);

        // `pat set --systemd` stores a new PAT and restarts: GitHub has not judged it yet.
        let mut a = restarted(&a);
        let new_pat = |now_ms| Situation { pat: PatStanding::Unknown, ..at(&t, now_ms) };
        assert!(a.events(&settings(), &new_pat(MIN)).is_empty(), "not over until GitHub accepts the new PAT");
        let unavailable = Situation { pat: PatStanding::Unavailable, ..at(&t, 2 * MIN) };
        assert!(a.events(&settings(), &unavailable).is_empty(), "GitHub out of reach says nothing");
        let over = a.events(&settings(), &at(&t, 12 * MIN));
        assert_eq!(names(&over), [("pat_rejected", "resolved", "the PAT")]);
        assert_eq!(over[0].message, "over after 12 min: the PAT is accepted by GitHub again");
        let mut a = restarted(&a);
        assert!(a.events(&settings(), &at(&t, 13 * MIN)).is_empty(), "resolved once");
        assert!(a.open().is_empty());
    }

    #[test]
    fn an_incident_still_open_after_a_restart_is_announced_again_only_after_repeat() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Covered, Coverage::Missing]);
        a.events(&settings(), &at(&t, 0));
        assert_eq!(names(&a.events(&settings(), &at(&t, 10 * MIN)))[0].0, "coverage_lost");
        for restart in 1..=5 {
            a = restarted(&a);
            assert!(a.events(&settings(), &at(&t, 10 * MIN + restart * MIN)).is_empty(), "restart {restart}");
        }
        let mut a = restarted(&a);
        assert_eq!(a.open()[0].first_fired_ms, 10 * MIN);
        assert!(a.events(&settings(), &at(&t, 6 * 60 * MIN + 9 * MIN)).is_empty());
        assert_eq!(
            names(&a.events(&settings(), &at(&t, 6 * 60 * MIN + 10 * MIN)))[0],
            ("coverage_lost", "firing", "validator 1 (5Hotkey1xxxxxxxx...)")
        );
        assert_eq!(a.open()[0].first_fired_ms, 10 * MIN, "a repeat is the same incident");
    }

    #[test]
    fn a_restart_mid_grace_keeps_the_clock_running() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Missing]);
        a.events(&settings(), &at(&t, 0));
        let mut a = restarted(&a);
        assert_eq!(a.events(&settings(), &at(&t, 10 * MIN)).len(), 1, "the grace began before the restart");
    }

    #[tokio::test]
    async fn the_hook_gets_the_event_in_its_environment_and_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let hook = dir.path().join("hook.sh");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\n{{ echo \"$GMA_EVENT $GMA_STATE $GMA_COVERED/$GMA_ELIGIBLE\"; cat; }} > {}\n",
                out.display()
            ),
        )
        .unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&hook).unwrap().permissions(), 0o755);
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let event = AlertEvent {
            event: "pat_rejected",
            state: "firing",
            subject: "the PAT".into(),
            message: "m".into(),
            at_ms: 1_000,
            covered: 2,
            eligible: 3,
        };
        run_hook(hook, "default".into(), event).await;
        let said = std::fs::read_to_string(out).unwrap();
        assert!(said.starts_with("pat_rejected firing 2/3\n{\"event\":\"pat_rejected\""), "{said}");
    }
}
