//! The alert hook: an operator's command, run on a transition worth waking someone for,
//! with the event in environment variables and as JSON on stdin — so ntfy, e-mail or a chat
//! webhook is a few lines of shell, and we ship none of them.
//!
//! [`Alerting`] decides (pure: it is fed the tracker and the time): an incident fires once
//! when it starts (after a grace period where that applies), again only after `repeat`, and
//! once more when it is over; at most [`MAX_PER_HOUR`] announcements run per hour whatever
//! happens (a resolution is never held back). [`run_hook`] runs one command with a deadline, beside the loop, never in it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::github::PatStanding;
use crate::reconcile::tracker::{Coverage, Entry, Tracker};
use crate::report::validator_subject;
use crate::synapse::{BroadcastStatus, CheckStatus};

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
    /// How long a validator may be silent (down, hung, its port closed) before it is an
    /// incident of its own, `validator_unreachable`; zero: never. Much longer than `grace`:
    /// a validator's own outage is its operator's to fix, and it keeps what it stored.
    pub unreachable_grace: Duration,
}

/// What the hook is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    /// `coverage_lost`, `validator_unreachable`, `pat_rejected`, `pat_expiring`,
    /// `identity_locked`, `no_validator_reachable`.
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
    ValidatorUnreachable,
    IdentityLocked,
    PatRejected,
    PatExpiring,
    NoValidatorReachable,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::CoverageLost => "coverage_lost",
            Kind::ValidatorUnreachable => "validator_unreachable",
            Kind::IdentityLocked => "identity_locked",
            Kind::PatRejected => "pat_rejected",
            Kind::PatExpiring => "pat_expiring",
            Kind::NoValidatorReachable => "no_validator_reachable",
        }
    }

    fn resolved_words(self) -> &'static str {
        match self {
            Kind::CoverageLost => "holds your valid PAT again",
            Kind::ValidatorUnreachable => "answers again",
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
    /// Validators whose answer said they lack our valid PAT, since the first such answer.
    #[serde(default)]
    lacking: BTreeMap<u16, Lacking>,
    /// Validators that do not answer, since this agent first saw it.
    #[serde(default)]
    silent_since: BTreeMap<u16, u64>,
    /// No validator answered at the last look.
    #[serde(default)]
    network_out: bool,
    #[serde(default)]
    open: Vec<Incident>,
    /// When hooks ran in the last hour.
    #[serde(default)]
    recent_runs: Vec<u64>,
}

/// A validator that answered without our valid PAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lacking {
    /// When it first said so.
    pub since_ms: u64,
    /// What it said then (`no PAT`, `invalid PAT`).
    pub seen: String,
}

/// What a validator's latest answer tells about our PAT there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// It holds it (or just took it).
    Holds,
    /// It said it holds none, or a PAT that is not valid.
    Lacks(&'static str, u64),
    /// It did not answer.
    Silent,
    /// It answered without telling (a refusal, an unreadable store, a broadcast it could not
    /// take): what was known stays known.
    Nothing,
}

fn told(e: &Entry) -> Told {
    let check = e.last_check.as_ref().map(|c| (c.at_ms, 0, Some(c.status), None));
    let sent = e.last_broadcast.as_ref().map(|b| (b.at_ms, 1, None, Some(b.status)));
    // The later answer; a broadcast follows its check even within one millisecond.
    match check.into_iter().chain(sent).max_by_key(|(at, order, ..)| (*at, *order)) {
        None => Told::Nothing,
        Some((at, _, Some(check), _)) => match check {
            CheckStatus::Valid | CheckStatus::Inconclusive => Told::Holds,
            CheckStatus::NoPat | CheckStatus::InvalidPat => Told::Lacks(check.label(), at),
            CheckStatus::NoResponse | CheckStatus::Malformed => Told::Silent,
            _ => Told::Nothing,
        },
        Some((_, _, _, Some(sent))) => match sent {
            BroadcastStatus::Accepted => Told::Holds,
            BroadcastStatus::NoResponse | BroadcastStatus::Malformed => Told::Silent,
            _ => Told::Nothing,
        },
        Some(_) => Told::Nothing,
    }
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
    /// It cannot be told now (GitHub not asked yet about a new PAT; a validator's own
    /// incident while the PAT is rejected or no validator can be reached): an open incident
    /// stays open, unannounced.
    Undecided,
}

impl Alerting {
    pub fn open(&self) -> &[Incident] {
        &self.open
    }

    /// Since when each validator has said it lacks our valid PAT (for the metrics).
    pub fn lacking(&self) -> &BTreeMap<u16, Lacking> {
        &self.lacking
    }

    /// Since when each validator has not answered (for the metrics).
    pub fn silent_since(&self) -> &BTreeMap<u16, u64> {
        &self.silent_since
    }

    /// Brings what is known of each validator up to date with the tracker: who lacks our
    /// PAT since when, who is silent since when. Called on every pass, hook or not, since
    /// the metrics show it too.
    pub fn observe(&mut self, t: &Tracker, now_ms: u64) {
        self.lacking.retain(|uid, _| t.validators.contains_key(uid));
        self.silent_since.retain(|uid, _| t.validators.contains_key(uid));
        for (uid, e) in &t.validators {
            let told = told(e);
            match told {
                _ if e.coverage == Coverage::Held || e.hold.is_some() => {
                    self.lacking.remove(uid); // identity_locked is its incident
                }
                Told::Holds => {
                    self.lacking.remove(uid);
                }
                Told::Lacks(seen, at_ms) => {
                    self.lacking.entry(*uid).or_insert(Lacking { since_ms: at_ms, seen: seen.to_owned() });
                }
                Told::Silent | Told::Nothing => {}
            }
            if !e.reachable || told == Told::Silent {
                self.silent_since.entry(*uid).or_insert(now_ms);
            } else {
                self.silent_since.remove(uid);
            }
        }
    }

    /// The events to announce now; call after anything changed (cheap).
    pub fn events(&mut self, settings: &AlertSettings, now: &Situation) -> Vec<AlertEvent> {
        let t = now.tracker;
        self.observe(t, now.now_ms);
        let summary = t.summary();
        let mut seen: Vec<(Kind, String, Cause)> = Vec::new();
        // One outage, one incident: while nothing answers, the network is the incident, and
        // a validator's own silence counts only from when the others answer again.
        let none_reachable = !t.validators.is_empty() && self.silent_since.len() == t.validators.len();
        if std::mem::replace(&mut self.network_out, none_reachable) && !none_reachable {
            self.silent_since.values_mut().for_each(|since| *since = now.now_ms);
        }
        let minutes = |since: u64| now.now_ms.saturating_sub(since) / 60_000;

        for (uid, e) in &t.validators {
            let subject = || validator_subject(*uid, &e.target.hotkey);
            if let Some(lacking) = self.lacking.get(uid) {
                // Not while GitHub rejects the PAT: that is one incident of its own.
                if now.pat == PatStanding::Rejected || none_reachable {
                    seen.push((Kind::CoverageLost, subject(), Cause::Undecided));
                } else if now.now_ms.saturating_sub(lacking.since_ms) >= settings.grace.as_millis() as u64 {
                    let silent = if self.silent_since.contains_key(uid) { ", and does not answer now" } else { "" };
                    let message = format!(
                        "{} has been without your valid PAT for {} min: it answered \"{}\" at {}{silent}; the agent keeps re-sending it",
                        subject(),
                        minutes(lacking.since_ms),
                        lacking.seen,
                        crate::clock::clock_utc(lacking.since_ms),
                    );
                    seen.push((Kind::CoverageLost, subject(), Cause::Present(message)));
                }
            } else if let Some(&since) = self.silent_since.get(uid) {
                let grace = settings.unreachable_grace.as_millis() as u64;
                if none_reachable {
                    seen.push((Kind::ValidatorUnreachable, subject(), Cause::Undecided));
                } else if grace > 0 && now.now_ms.saturating_sub(since) >= grace {
                    let message = format!(
                        "{} has not answered for {} min ({}); it keeps the PAT it stored, and the agent checks it again when it is back",
                        subject(),
                        minutes(since),
                        e.target.addr(),
                    );
                    seen.push((Kind::ValidatorUnreachable, subject(), Cause::Present(message)));
                }
            }
            if e.hold.is_none() && e.coverage == Coverage::Held {
                // A new PAT lifted the lock and has not been answered yet: not over yet.
                seen.push((Kind::IdentityLocked, subject(), Cause::Undecided));
            } else if e.hold.is_some() {
                // The hold, not the coverage: a locked validator that is down a while is
                // still locked, not a new incident when it answers again.
                let message = format!(
                    "{} pinned another GitHub account to your hotkey: re-sending cannot help; the validator's operator must release it, or re-register the hotkey",
                    subject()
                );
                seen.push((Kind::IdentityLocked, subject(), Cause::Present(message)));
            }
        }
        match now.pat {
            PatStanding::Rejected => seen.push((
                Kind::PatRejected,
                "the PAT".into(),
                Cause::Present(format!(
                    "GitHub rejects the PAT ({}): nothing is sent until a new one is stored",
                    crate::untrusted::Shown(now.pat_reason.unwrap_or("no reason given"))
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
        if none_reachable {
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
        // What is over is said first, and always: a dropped resolution leaves a page firing
        // forever.
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

        // New and repeated announcements, within the hourly cap: what does not fit is not
        // announced (the caller says so in the journal), so it stays due, not open.
        self.recent_runs.retain(|&at| now.now_ms.saturating_sub(at) < 3_600_000);
        let mut room = MAX_PER_HOUR.saturating_sub(self.recent_runs.len());
        let repeat = settings.repeat.as_millis() as u64;
        for (kind, subject, cause) in &seen {
            let Cause::Present(message) = cause else { continue };
            let open = self.open.iter_mut().find(|i| i.event == *kind && i.subject == *subject);
            if open.as_ref().is_some_and(|open| now.now_ms.saturating_sub(open.announced_ms) < repeat) {
                continue;
            }
            if room == 0 {
                break;
            }
            room -= 1;
            self.recent_runs.push(now.now_ms);
            match open {
                Some(open) => open.announced_ms = now.now_ms,
                None => self.open.push(Incident {
                    event: *kind,
                    subject: subject.clone(),
                    first_fired_ms: now.now_ms,
                    announced_ms: now.now_ms,
                }),
            }
            events.push(event(*kind, "firing", subject, message.clone()));
        }
        events
    }
}

/// A hook's stderr in a log line: its own words, maybe quoting a peer's, escaped and cut to
/// what a line can carry.
fn hook_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text: String = text.trim().chars().take(crate::synapse::REASON_MAX_CHARS).collect();
    crate::untrusted::shown(&text)
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
            command.display(), event.event, out.status, hook_stderr(&out.stderr)
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
    use crate::reconcile::tracker::Seen;
    use crate::transport::Target;

    const MIN: u64 = 60_000;

    fn settings() -> AlertSettings {
        AlertSettings {
            command: "/bin/true".into(),
            grace: Duration::from_secs(600),
            repeat: Duration::from_secs(6 * 3600),
            unreachable_grace: Duration::from_secs(1800),
        }
    }

    fn tracker(coverages: &[Coverage]) -> Tracker {
        tracker_at(coverages, 0)
    }

    /// Validators whose last answer, at `answered_ms`, put them where `coverages` says:
    /// covered said "valid", missing "no PAT", failing did not answer.
    fn tracker_at(coverages: &[Coverage], answered_ms: u64) -> Tracker {
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
            let status = match coverage {
                Coverage::Covered => Some(CheckStatus::Valid),
                Coverage::Unconfirmed => Some(CheckStatus::Inconclusive),
                Coverage::Missing | Coverage::Held => Some(CheckStatus::NoPat),
                Coverage::Failing => Some(CheckStatus::NoResponse),
                Coverage::Unknown => None,
            };
            e.last_check = status.map(|status| Seen { status, reason: None, at_ms: answered_ms });
            e.hold = (*coverage == Coverage::Held).then_some(crate::reconcile::tracker::HoldReason::IdentityLocked);
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
        a.events(&settings(), &at(&tracker_at(&[Coverage::Covered], 2 * MIN), 2 * MIN));
        let lost_again = tracker_at(&[Coverage::Missing], 5 * MIN);
        assert!(a.events(&settings(), &at(&lost_again, 5 * MIN)).is_empty());
        assert!(a.events(&settings(), &at(&lost_again, 14 * MIN)).is_empty(), "the clock restarted");
        assert_eq!(a.events(&settings(), &at(&lost_again, 15 * MIN)).len(), 1);
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
    fn a_locked_validator_that_goes_down_and_comes_back_is_still_one_incident() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered, Coverage::Held]);
        assert_eq!(names(&a.events(&settings(), &at(&t, 0)))[0].0, "identity_locked");
        t.validators.get_mut(&1).unwrap().coverage = Coverage::Failing;
        assert!(a.events(&settings(), &at(&t, MIN)).is_empty(), "still locked while it does not answer");
        // A new PAT lifts the hold; until the validator answers it, nothing is over.
        let e = t.validators.get_mut(&1).unwrap();
        (e.coverage, e.hold) = (Coverage::Held, None);
        assert!(a.events(&settings(), &at(&t, 2 * MIN)).is_empty());
        t.validators.get_mut(&1).unwrap().coverage = Coverage::Covered;
        assert_eq!(
            names(&a.events(&settings(), &at(&t, 3 * MIN)))[0],
            ("identity_locked", "resolved", "validator 1 (5Hotkey1xxxxxxxx...)")
        );
    }

    #[test]
    fn no_more_than_the_hourly_cap_whatever_happens() {
        let mut a = Alerting::default();
        let t = tracker(&[Coverage::Held; 50]);
        assert_eq!(a.events(&settings(), &at(&t, 0)).len(), MAX_PER_HOUR);
        assert!(a.events(&settings(), &at(&t, 30 * MIN)).is_empty());
        assert_eq!(a.open().len(), MAX_PER_HOUR, "what was not announced is not open");
        assert_eq!(a.events(&settings(), &at(&t, 60 * MIN)).len(), MAX_PER_HOUR, "the next ones, an hour later");
        // All over at once: every resolution is said, whatever the cap, and only for what was announced.
        let over = a.events(&settings(), &at(&tracker(&[Coverage::Covered; 50]), 61 * MIN));
        assert_eq!(over.len(), 2 * MAX_PER_HOUR);
        assert!(over.iter().all(|e| e.state == "resolved"));
    }

    #[test]
    fn after_a_network_outage_a_validator_still_silent_gets_its_grace_from_the_outage_end() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered; 3]);
        down(&mut t, &[0, 1, 2], 0);
        assert_eq!(names(&a.events(&settings(), &at(&t, MIN)))[0].0, "no_validator_reachable");
        // An hour later the network is back, validator 2 still down.
        let mut back = tracker_at(&[Coverage::Covered; 3], 60 * MIN);
        down(&mut back, &[2], 10 * MIN);
        assert_eq!(
            names(&a.events(&settings(), &at(&back, 60 * MIN))),
            [("no_validator_reachable", "resolved", "the network")]
        );
        assert!(a.events(&settings(), &at(&back, 89 * MIN)).is_empty());
        assert_eq!(names(&a.events(&settings(), &at(&back, 90 * MIN)))[0].0, "validator_unreachable");
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

    fn down(t: &mut Tracker, uids: &[u16], at_ms: u64) {
        for uid in uids {
            let e = t.validators.get_mut(uid).unwrap();
            e.reachable = false;
            e.coverage = Coverage::Failing;
            e.last_check = Some(Seen { status: CheckStatus::NoResponse, reason: None, at_ms });
        }
    }

    /// The measured outage: four validators down gave one `no_validator_reachable` and then
    /// four `coverage_lost` about validators that were down, not missing the PAT.
    #[test]
    fn every_validator_down_for_an_hour_is_one_incident_and_one_resolution() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered; 4]);
        assert!(a.events(&settings(), &at(&t, 0)).is_empty());
        down(&mut t, &[0, 1, 2, 3], MIN);
        let mut heard = Vec::new();
        for minute in 1..=60 {
            heard.extend(a.events(&settings(), &at(&t, minute * MIN)));
        }
        assert_eq!(names(&heard), [("no_validator_reachable", "firing", "the network")]);
        let back = tracker_at(&[Coverage::Covered; 4], 61 * MIN);
        assert_eq!(
            names(&a.events(&settings(), &at(&back, 61 * MIN))),
            [("no_validator_reachable", "resolved", "the network")]
        );
        assert!(a.events(&settings(), &at(&back, 62 * MIN)).is_empty());
    }

    #[test]
    fn a_validator_merely_down_is_validator_unreachable_after_its_own_grace_never_coverage_lost() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered, Coverage::Covered]);
        a.events(&settings(), &at(&t, 0));
        down(&mut t, &[1], MIN);
        for minute in 1..31 {
            assert!(a.events(&settings(), &at(&t, minute * MIN)).is_empty(), "minute {minute}");
        }
        let fired = a.events(&settings(), &at(&t, 31 * MIN));
        assert_eq!(names(&fired), [("validator_unreachable", "firing", "validator 1 (5Hotkey1xxxxxxxx...)")]);
        assert_eq!(
            fired[0].message,
            "validator 1 (5Hotkey1xxxxxxxx...) has not answered for 30 min (127.0.0.1:8091); it keeps the PAT it stored, and the agent checks it again when it is back"
        );
        let back = tracker_at(&[Coverage::Covered, Coverage::Covered], 40 * MIN);
        let over = a.events(&settings(), &at(&back, 40 * MIN));
        assert_eq!(names(&over), [("validator_unreachable", "resolved", "validator 1 (5Hotkey1xxxxxxxx...)")]);
        assert_eq!(over[0].message, "over after 9 min: validator 1 (5Hotkey1xxxxxxxx...) answers again");

        let quiet = AlertSettings { unreachable_grace: Duration::ZERO, ..settings() };
        let mut a = Alerting::default();
        assert!(a.events(&quiet, &at(&t, 0)).is_empty());
        assert!(a.events(&quiet, &at(&t, 30 * 24 * 60 * MIN)).is_empty(), "unreachable_grace_secs = 0: never");
    }

    #[test]
    fn coverage_lost_counts_from_the_first_answer_without_the_pat_and_says_what_was_seen() {
        let mut a = Alerting::default();
        // It said "no PAT" at minute 3; the agent first looks at minute 5.
        let mut t = tracker_at(&[Coverage::Covered, Coverage::Missing], 3 * MIN);
        assert!(a.events(&settings(), &at(&t, 5 * MIN)).is_empty());
        let fired = a.events(&settings(), &at(&t, 13 * MIN));
        assert_eq!(names(&fired), [("coverage_lost", "firing", "validator 1 (5Hotkey1xxxxxxxx...)")]);
        assert_eq!(
            fired[0].message,
            "validator 1 (5Hotkey1xxxxxxxx...) has been without your valid PAT for 10 min: it answered \"no PAT\" at 00:03 UTC; the agent keeps re-sending it"
        );
        // The re-sent PAT gets no answer: still without it, not over, not a second incident.
        t.validators.get_mut(&1).unwrap().last_broadcast =
            Some(Seen { status: BroadcastStatus::NoResponse, reason: None, at_ms: 14 * MIN });
        assert!(a.events(&settings(), &at(&t, 14 * MIN)).is_empty());
        t.validators.get_mut(&1).unwrap().last_broadcast =
            Some(Seen { status: BroadcastStatus::Accepted, reason: None, at_ms: 15 * MIN });
        let over = a.events(&settings(), &at(&t, 15 * MIN));
        assert_eq!(names(&over), [("coverage_lost", "resolved", "validator 1 (5Hotkey1xxxxxxxx...)")]);
    }

    #[test]
    fn a_validator_without_the_pat_when_the_network_goes_is_neither_resolved_nor_paged_again() {
        let mut a = Alerting::default();
        let mut t = tracker(&[Coverage::Covered, Coverage::Missing]);
        assert_eq!(names(&a.events(&settings(), &at(&t, 10 * MIN)))[0].0, "coverage_lost");
        down(&mut t, &[0, 1], 11 * MIN);
        assert_eq!(
            names(&a.events(&settings(), &at(&t, 11 * MIN))),
            [("no_validator_reachable", "firing", "the network")]
        );
        assert!(a.events(&settings(), &at(&t, 60 * MIN)).is_empty());
        // Back; validator 1 says "no PAT" again: the network is over, validator 1's is not.
        let back = tracker_at(&[Coverage::Covered, Coverage::Missing], 61 * MIN);
        assert_eq!(
            names(&a.events(&settings(), &at(&back, 61 * MIN))),
            [("no_validator_reachable", "resolved", "the network")]
        );
        assert_eq!(a.open().len(), 1);
        assert_eq!(a.open()[0].first_fired_ms, 10 * MIN);
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
