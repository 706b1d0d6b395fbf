//! What is known about each validator, and what is due next. Pure: the core feeds it
//! answers and the time (milliseconds from [`crate::clock::Clock`]) and carries out the
//! work it hands out. Persisted as-is in the state file (it holds no secret).
//!
//! Each validator moves through its own pipeline — check → decide ([`super::policy`]) →
//! broadcast → confirm → wait — and nothing here makes one validator wait for another.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backoff::Backoff;
use super::policy::{self, Action, Alert, LocalPat, Pace};
use crate::github::PatStanding;
use crate::synapse::{BroadcastAnswer, BroadcastStatus, CheckAnswer, CheckStatus};
pub use crate::transport::Liveness;
use crate::transport::Target;

/// Where a validator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Not asked yet.
    Unknown,
    /// Holds our valid PAT.
    Covered,
    /// Holds a PAT it could not re-validate just now.
    Unconfirmed,
    /// Lacks our PAT (or holds a stale one): a broadcast is due or under way.
    Missing,
    /// No usable answer lately: retried with backoff.
    Failing,
    /// Re-sending cannot help until the PAT changes (identity locked).
    Held,
}

impl Coverage {
    pub fn name(self) -> &'static str {
        match self {
            Coverage::Unknown => "unknown",
            Coverage::Covered => "covered",
            Coverage::Unconfirmed => "unconfirmed",
            Coverage::Missing => "missing",
            Coverage::Failing => "failing",
            Coverage::Held => "held",
        }
    }
}

/// Why a validator is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    IdentityLocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen<S> {
    pub status: S,
    pub reason: Option<String>,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub target: Target,
    pub coverage: Coverage,
    pub last_check: Option<Seen<CheckStatus>>,
    pub last_broadcast: Option<Seen<BroadcastStatus>>,
    /// The axon instance id last seen; a new one means the validator restarted.
    pub axon_uuid: Option<String>,
    /// Whether the last liveness probe reached it.
    pub reachable: bool,
    /// Consecutive attempts without a usable answer: the backoff exponent.
    pub failures: u32,
    /// When it is next checked (or sent the PAT, when `owes_broadcast`).
    pub next_check_ms: u64,
    /// The PAT is owed without a check first: it said it lacks it, or the PAT changed.
    pub owes_broadcast: bool,
    /// Owed because the PAT changed: a check could not tell the old PAT from the new one.
    #[serde(default)]
    pub owes_new_pat: bool,
    /// A broadcast left and its answer has not arrived (persisted: the agent may be
    /// stopped meanwhile, and then the next step is a check, not a second send).
    #[serde(default)]
    pub broadcast_unanswered: bool,
    pub hold: Option<HoldReason>,
    /// Broadcasts it answered without accepting, in a row (whatever it said): from
    /// [`SLOW_AFTER_REJECTIONS`] on, the PAT goes to it at the slow pace.
    #[serde(default)]
    pub rejected_in_a_row: u32,
    /// When the PAT was sent to it in the last hour and not accepted (refused, or no
    /// answer): the budget of [`SENDS_PER_HOUR`]. A send it accepted was needed, and costs
    /// nothing: a validator that loses its store on every restart gets the PAT back each time.
    #[serde(default)]
    pub sends_ms: Vec<u64>,
    /// A check or broadcast to it is in flight: never two at once.
    #[serde(skip)]
    pub busy: bool,
    /// It called our PAT invalid; waiting for GitHub's verdict on it.
    #[serde(skip)]
    pub awaiting_verdict: Option<Doubt>,
    /// It restarted while a request to it was in flight: checked again at once when that
    /// request's answer is in, whatever it said.
    #[serde(skip)]
    pub recheck: bool,
}

/// Why a validator waits for GitHub's verdict on our PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt {
    /// Its check said it holds an invalid PAT: if GitHub accepts ours, it holds an older one.
    StalePatThere,
    /// It rejected the PAT we just sent: if GitHub accepts it, sending it again at once
    /// would only be rejected again, so it is asked again after a backoff.
    RejectedOurs,
}

impl Entry {
    pub fn new(target: Target, now: u64) -> Self {
        Entry {
            target,
            coverage: Coverage::Unknown,
            last_check: None,
            last_broadcast: None,
            axon_uuid: None,
            reachable: true,
            failures: 0,
            next_check_ms: now,
            owes_broadcast: false,
            owes_new_pat: false,
            broadcast_unanswered: false,
            hold: None,
            rejected_in_a_row: 0,
            sends_ms: Vec::new(),
            busy: false,
            awaiting_verdict: None,
            recheck: false,
        }
    }

    /// Nothing more to do for it until its next sweep: `post` stops when all are settled.
    pub fn settled(&self) -> bool {
        !self.busy
            && !self.owes_broadcast
            && self.awaiting_verdict.is_none()
            && matches!(self.coverage, Coverage::Covered | Coverage::Unconfirmed | Coverage::Held)
    }
}

/// The most PAT sends to one validator in an hour that it did not accept, outside a PAT
/// change: a validator that keeps refusing the PAT is not sent it at the retry pace.
pub const SENDS_PER_HOUR: usize = 4;
const HOUR_MS: u64 = 3_600_000;
/// Broadcasts refused in a row after which further sends slow to the slow pace.
pub const SLOW_AFTER_REJECTIONS: u32 = 2;

impl Entry {
    /// When the PAT may next be sent to it, if the hour's budget is spent now: the hour
    /// after the oldest send that counts. A new PAT is owed whatever the budget.
    pub fn budget_reopens_ms(&self, now: u64) -> Option<u64> {
        let recent: Vec<u64> = self.sends_ms.iter().copied().filter(|at| now < at + HOUR_MS).collect();
        (recent.len() >= SENDS_PER_HOUR && !self.owes_new_pat).then(|| recent[recent.len() - SENDS_PER_HOUR] + HOUR_MS)
    }
}

/// Network work for one validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Check,
    Broadcast,
}

/// What the core must do after an answer, beyond what [`Tracker::take_due`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Ask GitHub about our PAT, then report with [`Tracker::apply_verdict`].
    ValidatePat,
}

/// A change an operator cares about (one log line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        uid: u16,
    },
    Removed {
        uid: u16,
    },
    Moved {
        uid: u16,
    },
    Coverage {
        uid: u16,
        from: Coverage,
        to: Coverage,
    },
    WentAway {
        uid: u16,
    },
    CameBack {
        uid: u16,
    },
    Restarted {
        uid: u16,
    },
    Alert {
        uid: u16,
        alert: Alert,
    },
    /// It refused the PAT [`SLOW_AFTER_REJECTIONS`] times in a row: said once per streak;
    /// from now on it gets the PAT at the slow pace, at most [`SENDS_PER_HOUR`] an hour.
    KeepsRefusing {
        uid: u16,
    },
}

/// The schedule knobs, resolved from config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub backoff: Backoff,
    /// A covered validator is asked again after this; no retry waits longer.
    pub sweep_interval_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub validators: BTreeMap<u16, Entry>,
    /// GitHub's last word on our PAT. Broadcasts wait for a first verdict; while GitHub
    /// rejects the PAT nothing is checked or sent.
    #[serde(default)]
    pub pat: PatStanding,
    /// Hotkeys that pinned another GitHub identity: still held if they leave the eligible
    /// set and come back, until the PAT changes.
    #[serde(default)]
    pub held_hotkeys: std::collections::BTreeSet<String>,
}

/// Coverage counts for STATUS= and the sweep summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub eligible: usize,
    pub covered: usize,
    pub unconfirmed: usize,
    pub pending_broadcast: usize,
    pub failing: usize,
    /// Answering, but its PAT store is temporarily unreadable (the validator's trouble).
    pub store_unavailable: usize,
    pub unreachable: usize,
    pub held: usize,
    /// Of the `covered`, those the liveness probe cannot reach now: covered at their last
    /// answer, which a status line must not present as two contradicting facts.
    #[serde(skip)]
    pub covered_unreachable: usize,
}

impl Tracker {
    fn broadcasts_allowed(&self) -> bool {
        matches!(self.pat, PatStanding::Valid | PatStanding::Unavailable)
    }

    /// Every check makes the validator ask GitHub about our PAT: none until GitHub has
    /// had its say, none while it rejects the PAT.
    fn checks_allowed(&self) -> bool {
        self.broadcasts_allowed()
    }

    /// Makes the tracked set the eligible set: new validators and moved axons are due now.
    pub fn sync_targets(&mut self, eligible: &[Target], now: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        let wanted: BTreeMap<u16, &Target> = eligible.iter().map(|t| (t.uid, t)).collect();
        self.validators.retain(|uid, _| {
            let keep = wanted.contains_key(uid);
            if !keep {
                changes.push(Change::Removed { uid: *uid });
            }
            keep
        });
        for (uid, target) in wanted {
            match self.validators.get_mut(&uid) {
                // A different hotkey on the uid is a different validator.
                Some(entry) if entry.target.hotkey != target.hotkey => {
                    let busy = entry.busy;
                    *entry = Entry::new(target.clone(), now);
                    entry.busy = busy; // its old request still runs; its answer is dropped
                    changes.push(Change::Added { uid });
                }
                Some(entry) if entry.target != *target => {
                    entry.target = target.clone();
                    entry.next_check_ms = now;
                    entry.failures = 0;
                    entry.reachable = true;
                    changes.push(Change::Moved { uid });
                }
                Some(_) => {}
                None => {
                    let mut entry = Entry::new(target.clone(), now);
                    if self.held_hotkeys.contains(&target.hotkey) {
                        entry.hold = Some(HoldReason::IdentityLocked);
                        entry.coverage = Coverage::Held;
                    }
                    self.validators.insert(uid, entry);
                    changes.push(Change::Added { uid });
                }
            }
        }
        changes
    }

    /// A full sweep: every validator not in backoff is checked, the checks spread evenly
    /// over `spread_ms` from `now` rather than in one burst.
    pub fn schedule_sweep(&mut self, now: u64, spread_ms: u64) {
        let count = self.validators.len().max(1) as u64;
        for (i, entry) in self.validators.values_mut().enumerate() {
            if entry.failures > 0 || entry.hold.is_some() {
                continue; // their own backoff (capped at the sweep interval) governs them
            }
            let slot = now + spread_ms * i as u64 / count;
            entry.next_check_ms = entry.next_check_ms.min(slot);
        }
    }

    fn work_for(&self, entry: &Entry) -> Option<Work> {
        if entry.busy || entry.awaiting_verdict.is_some() {
            return None;
        }
        if entry.owes_broadcast {
            return (self.broadcasts_allowed() && entry.hold.is_none()).then_some(Work::Broadcast);
        }
        self.checks_allowed().then_some(Work::Check)
    }

    /// Hands out at most `limit` pieces of due work, broadcasts first (they repair), then
    /// the longest-waiting checks; each validator handed out is busy until its answer.
    pub fn take_due(&mut self, now: u64, limit: usize) -> Vec<(Target, Work)> {
        let mut due: Vec<(u64, bool, u16, Work)> = self
            .validators
            .values()
            .filter(|e| e.next_check_ms <= now)
            .filter_map(|e| self.work_for(e).map(|w| (e.next_check_ms, w == Work::Check, e.target.uid, w)))
            .collect();
        due.sort_unstable_by_key(|&(at, is_check, uid, _)| (is_check, at, uid));
        due.truncate(limit);
        due.into_iter()
            .filter_map(|(_, _, uid, work)| {
                let entry = self.validators.get_mut(&uid)?;
                entry.busy = true;
                entry.broadcast_unanswered |= work == Work::Broadcast;
                if work == Work::Broadcast {
                    entry.sends_ms.retain(|at| now < at + HOUR_MS);
                    entry.sends_ms.push(now);
                }
                Some((entry.target.clone(), work))
            })
            .collect()
    }

    /// The earliest moment [`Tracker::take_due`] will hand something out.
    pub fn next_due(&self) -> Option<u64> {
        self.validators.values().filter(|e| self.work_for(e).is_some()).map(|e| e.next_check_ms).min()
    }

    /// The entry an answer is for: the answer is dropped when the validator left, or its
    /// uid now names another hotkey or axon than the one asked.
    fn answered(&mut self, target: &Target) -> Option<&mut Entry> {
        let entry = self.validators.get_mut(&target.uid)?;
        entry.busy = false;
        (entry.target == *target).then_some(entry)
    }

    fn retry(entry: &mut Entry, schedule: &Schedule, pace: Pace, now: u64, unit: f64) {
        let sweep = std::time::Duration::from_millis(schedule.sweep_interval_ms);
        let (exponent, backoff) = match pace {
            Pace::Normal => (entry.failures, schedule.backoff),
            // Slowly changing state: start further up the curve, and grow up to a sweep.
            Pace::Slow => (entry.failures.saturating_add(3), Backoff { cap: sweep, ..schedule.backoff }),
        };
        entry.failures = entry.failures.saturating_add(1);
        let delay = backoff.delay(exponent, unit).as_millis() as u64;
        entry.next_check_ms = now + delay.min(schedule.sweep_interval_ms);
    }

    fn covered(entry: &mut Entry, schedule: &Schedule, now: u64, changes: &mut Vec<Change>) {
        entry.failures = 0;
        entry.next_check_ms = now + schedule.sweep_interval_ms;
        Self::set_coverage(entry, Coverage::Covered, changes);
    }

    fn set_coverage(entry: &mut Entry, to: Coverage, changes: &mut Vec<Change>) {
        if entry.coverage != to {
            changes.push(Change::Coverage { uid: entry.target.uid, from: entry.coverage, to });
            entry.coverage = to;
        }
    }

    /// After a PatCheck answer. `unit` is a random draw in [0, 1) for the jitter.
    pub fn record_check(
        &mut self,
        target: &Target,
        answer: &CheckAnswer,
        schedule: &Schedule,
        now: u64,
        unit: f64,
    ) -> (Step, Vec<Change>) {
        let mut changes = Vec::new();
        let uid = target.uid;
        let Some(entry) = self.answered(target) else { return (Step::Nothing, changes) };
        entry.broadcast_unanswered = false; // an answer came in between
        entry.last_check = Some(Seen { status: answer.status, reason: answer.rejection_reason.clone(), at_ms: now });
        entry.reachable = answer.status != CheckStatus::NoResponse || entry.reachable;
        let step = match policy::after_check(answer.status) {
            Action::Covered { confirmed: true } => {
                entry.rejected_in_a_row = 0;
                Self::covered(entry, schedule, now, &mut changes);
                Step::Nothing
            }
            Action::Covered { confirmed: false } => {
                // It holds a PAT; its GitHub access is out, often for hours.
                Self::retry(entry, schedule, Pace::Slow, now, unit);
                Self::set_coverage(entry, Coverage::Unconfirmed, &mut changes);
                Step::Nothing
            }
            Action::Broadcast | Action::ValidatePatLocally if entry.hold.is_some() => {
                // The PAT would not be accepted, and nothing changes that until the PAT does:
                // asked again at the next sweep, sent nothing.
                entry.next_check_ms = now + schedule.sweep_interval_ms;
                Self::set_coverage(entry, Coverage::Held, &mut changes);
                Step::Nothing
            }
            Action::Broadcast => {
                // Sent as soon as a slot is free and its budget allows; the failure count is
                // kept so a validator that keeps losing the PAT still backs off.
                Self::owe_broadcast(entry, now);
                Self::set_coverage(entry, Coverage::Missing, &mut changes);
                Step::Nothing
            }
            Action::ValidatePatLocally => {
                entry.awaiting_verdict = Some(Doubt::StalePatThere);
                Self::set_coverage(entry, Coverage::Missing, &mut changes);
                Step::ValidatePat
            }
            Action::RetryCheck(pace) => {
                Self::retry(entry, schedule, pace, now, unit);
                Self::set_coverage(entry, Coverage::Failing, &mut changes);
                Step::Nothing
            }
            Action::AlertAndRetry(alert) | Action::Hold(alert) => {
                Self::retry(entry, schedule, Pace::Normal, now, unit);
                Self::set_coverage(entry, Coverage::Failing, &mut changes);
                changes.push(Change::Alert { uid, alert });
                Step::Nothing
            }
            Action::StopUntilPatChanges => Step::Nothing, // never produced by after_check
        };
        Self::honour_recheck(entry, now);
        (step, changes)
    }

    /// The PAT is owed: sent at once, unless this hour's sends to it are spent ([`SENDS_PER_HOUR`]);
    /// then it is asked again when the budget allows one more (what it said may have changed).
    fn owe_broadcast(entry: &mut Entry, now: u64) {
        match entry.budget_reopens_ms(now) {
            Some(reopens) => {
                entry.owes_broadcast = false;
                entry.next_check_ms = reopens;
            }
            None => {
                entry.owes_broadcast = true;
                entry.next_check_ms = now;
            }
        }
    }

    /// A restart seen while the request was out: its answer may predate the restart.
    fn honour_recheck(entry: &mut Entry, now: u64) {
        if std::mem::take(&mut entry.recheck) && entry.hold.is_none() && entry.awaiting_verdict.is_none() {
            entry.failures = 0;
            entry.next_check_ms = entry.next_check_ms.min(now);
        }
    }

    /// After a PatBroadcast answer. An unclear outcome is followed by a check, never by a
    /// second broadcast straight away.
    pub fn record_broadcast(
        &mut self,
        target: &Target,
        answer: &BroadcastAnswer,
        schedule: &Schedule,
        now: u64,
        unit: f64,
    ) -> (Step, Vec<Change>) {
        let mut changes = Vec::new();
        let uid = target.uid;
        let mut newly_held = None;
        let Some(entry) = self.answered(target) else { return (Step::Nothing, changes) };
        entry.last_broadcast =
            Some(Seen { status: answer.status, reason: answer.rejection_reason.clone(), at_ms: now });
        entry.owes_broadcast = false;
        entry.owes_new_pat = false;
        entry.broadcast_unanswered = false;
        // Refused, whatever the words; silence or garbage is no refusal.
        match answer.status {
            BroadcastStatus::Accepted => {
                entry.rejected_in_a_row = 0;
                entry.sends_ms.pop(); // this send: never two at once
            }
            BroadcastStatus::NoResponse | BroadcastStatus::Malformed => {}
            _ => {
                entry.rejected_in_a_row = entry.rejected_in_a_row.saturating_add(1);
                if entry.rejected_in_a_row == SLOW_AFTER_REJECTIONS {
                    changes.push(Change::KeepsRefusing { uid });
                }
            }
        }
        let refusing = entry.rejected_in_a_row >= SLOW_AFTER_REJECTIONS;
        let step = match policy::after_broadcast(answer.status) {
            Action::Covered { .. } => {
                // Confirmed by the next sweep's check.
                Self::covered(entry, schedule, now, &mut changes);
                Step::Nothing
            }
            Action::Hold(alert) => {
                entry.hold = Some(HoldReason::IdentityLocked);
                newly_held = Some(entry.target.hotkey.clone());
                entry.next_check_ms = now + schedule.sweep_interval_ms;
                Self::set_coverage(entry, Coverage::Held, &mut changes);
                changes.push(Change::Alert { uid, alert });
                Step::Nothing
            }
            Action::ValidatePatLocally => {
                entry.awaiting_verdict = Some(Doubt::RejectedOurs);
                Self::set_coverage(entry, Coverage::Missing, &mut changes);
                Step::ValidatePat
            }
            Action::RetryCheck(pace) => {
                Self::retry(entry, schedule, if refusing { Pace::Slow } else { pace }, now, unit);
                let answered = !matches!(answer.status, BroadcastStatus::NoResponse | BroadcastStatus::Malformed);
                // It answered, so it is alive but still lacks the PAT; or we cannot tell.
                Self::set_coverage(entry, if answered { Coverage::Missing } else { Coverage::Failing }, &mut changes);
                Step::Nothing
            }
            Action::AlertAndRetry(alert) => {
                Self::retry(entry, schedule, if refusing { Pace::Slow } else { Pace::Normal }, now, unit);
                Self::set_coverage(entry, Coverage::Failing, &mut changes);
                changes.push(Change::Alert { uid, alert });
                Step::Nothing
            }
            Action::Broadcast | Action::StopUntilPatChanges => Step::Nothing, // never produced by after_broadcast
        };
        Self::honour_recheck(entry, now);
        self.held_hotkeys.extend(newly_held);
        (step, changes)
    }

    /// A check or broadcast was cancelled (a stop, or `post` out of time): the validator is
    /// free for new work, due at once. A cancelled broadcast is no answer: it may have
    /// arrived, so a check comes first (unless the PAT changed, which a check cannot tell).
    pub fn cancelled(&mut self, uid: u16, now: u64) {
        if let Some(entry) = self.validators.get_mut(&uid) {
            entry.busy = false;
            if entry.broadcast_unanswered && !entry.owes_new_pat {
                entry.owes_broadcast = false;
            }
            entry.next_check_ms = entry.next_check_ms.min(now);
        }
    }

    /// An answer about the PAT we had before it changed: it says nothing about the current
    /// one, which is still owed; due at once.
    pub fn answered_for_old_pat(&mut self, uid: u16, now: u64) {
        if let Some(entry) = self.validators.get_mut(&uid) {
            entry.busy = false;
            entry.broadcast_unanswered = false;
            entry.next_check_ms = entry.next_check_ms.min(now);
        }
    }

    /// GitHub's verdict on our PAT: opens or closes the gate, and settles the validators
    /// that called the PAT invalid (stale PAT → re-send; GitHub down → ask again later).
    pub fn apply_verdict(&mut self, standing: PatStanding, schedule: &Schedule, now: u64, unit: f64) {
        // GitHub out of reach says nothing new about a PAT it has rejected.
        if !(self.pat == PatStanding::Rejected && standing == PatStanding::Unavailable) {
            self.pat = standing;
        }
        let local = match standing {
            PatStanding::Valid => LocalPat::Valid,
            PatStanding::Rejected => LocalPat::Rejected,
            PatStanding::Unavailable | PatStanding::Unknown => LocalPat::Unknown,
        };
        for entry in self.validators.values_mut() {
            let Some(doubt) = entry.awaiting_verdict.take() else { continue };
            match policy::after_local_validation(local) {
                Action::Broadcast if doubt == Doubt::StalePatThere => Self::owe_broadcast(entry, now),
                // Nothing is asked while the PAT is rejected; asked again once it changes.
                Action::StopUntilPatChanges => entry.next_check_ms = now,
                _ => {
                    let refusing = entry.rejected_in_a_row >= SLOW_AFTER_REJECTIONS;
                    Self::retry(entry, schedule, if refusing { Pace::Slow } else { Pace::Normal }, now, unit)
                }
            }
        }
    }

    /// A new PAT: holds are lifted and every validator is owed it (a check cannot tell an
    /// old valid PAT from the new one).
    pub fn pat_changed(&mut self, now: u64) {
        self.pat = PatStanding::Unknown;
        self.held_hotkeys.clear();
        for entry in self.validators.values_mut() {
            entry.hold = None;
            entry.owes_broadcast = true;
            entry.owes_new_pat = true;
            // A new PAT, a new budget: what was refused was the old one.
            entry.rejected_in_a_row = 0;
            entry.sends_ms.clear();
            entry.awaiting_verdict = None;
            entry.failures = 0;
            entry.next_check_ms = now;
        }
    }

    /// After loading the state of an agent that was stopped, perhaps abruptly: a broadcast
    /// whose answer never came is followed by a check (it may have arrived), unless the
    /// PAT changed (a check cannot tell, so the new PAT is sent again).
    /// Deadlines further than `max_wait_ms` away are brought in: the clock may have been
    /// ahead when they were written (a machine that booted before NTP synchronised).
    pub fn resumed(&mut self, now: u64, max_wait_ms: u64) {
        for entry in self.validators.values_mut() {
            entry.next_check_ms = entry.next_check_ms.min(now + max_wait_ms);
            if entry.broadcast_unanswered && !entry.owes_new_pat {
                entry.owes_broadcast = false;
                entry.next_check_ms = entry.next_check_ms.min(now);
            }
        }
    }

    /// After a cheap liveness probe. A validator that comes back, or restarted (new axon
    /// uuid), is checked at once: a restart is exactly when stores get lost.
    pub fn record_liveness(&mut self, target: &Target, liveness: &Liveness, now: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        let uid = target.uid;
        let Some(entry) = self.validators.get_mut(&uid).filter(|e| e.target == *target) else { return changes };
        match liveness {
            Liveness::Unreachable => {
                if entry.reachable {
                    entry.reachable = false;
                    changes.push(Change::WentAway { uid });
                }
            }
            Liveness::Alive { instance, forgot_us } => {
                let mut check_now = false;
                if !entry.reachable {
                    entry.reachable = true;
                    changes.push(Change::CameBack { uid });
                    check_now = true;
                }
                let new_instance =
                    instance.as_ref().is_some_and(|now| entry.axon_uuid.as_ref().is_some_and(|seen| seen != now));
                if *forgot_us || new_instance {
                    changes.push(Change::Restarted { uid });
                    check_now = true;
                }
                if let Some(instance) = instance {
                    entry.axon_uuid = Some(instance.clone());
                }
                if check_now && entry.hold.is_none() {
                    entry.failures = 0;
                    entry.next_check_ms = entry.next_check_ms.min(now);
                    entry.recheck = entry.busy;
                }
            }
        }
        changes
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary { eligible: self.validators.len(), ..Default::default() };
        for e in self.validators.values() {
            match e.coverage {
                Coverage::Covered => s.covered += 1,
                Coverage::Unconfirmed => s.unconfirmed += 1,
                Coverage::Missing => s.pending_broadcast += 1,
                Coverage::Failing
                    if e.last_check.as_ref().is_some_and(|c| c.status == CheckStatus::StoreUnavailable) =>
                {
                    s.store_unavailable += 1
                }
                Coverage::Failing => s.failing += 1,
                Coverage::Held => s.held += 1,
                Coverage::Unknown => {}
            }
            if !e.reachable {
                s.unreachable += 1;
                s.covered_unreachable += usize::from(e.coverage == Coverage::Covered);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;

    fn schedule() -> Schedule {
        Schedule {
            backoff: Backoff { base: Duration::from_secs(10), factor: 2.0, cap: Duration::from_secs(300) },
            sweep_interval_ms: 15 * MIN,
        }
    }

    fn target(uid: u16) -> Target {
        Target { uid, hotkey: format!("hk{uid}"), ip: "127.0.0.1".parse().unwrap(), port: 8000 + uid }
    }

    fn check(status: CheckStatus) -> CheckAnswer {
        let (has_pat, pat_valid) = match status {
            CheckStatus::Valid => (Some(true), Some(true)),
            CheckStatus::NoPat => (Some(false), Some(false)),
            CheckStatus::InvalidPat => (Some(true), Some(false)),
            CheckStatus::Inconclusive => (Some(true), None),
            CheckStatus::StoreUnavailable => (Some(false), None),
            _ => (None, None),
        };
        CheckAnswer { status, has_pat, pat_valid, rejection_reason: None, status_code: 200, axon_uuid: None }
    }

    fn broadcast(status: BroadcastStatus) -> BroadcastAnswer {
        BroadcastAnswer {
            status,
            accepted: Some(status == BroadcastStatus::Accepted),
            rejection_reason: None,
            status_code: 200,
            axon_uuid: None,
        }
    }

    fn tracker(n: u16) -> Tracker {
        let mut t = Tracker { pat: PatStanding::Valid, ..Default::default() };
        t.sync_targets(&(0..n).map(target).collect::<Vec<_>>(), 0);
        t
    }

    fn uids(work: &[(Target, Work)]) -> Vec<(u16, Work)> {
        work.iter().map(|(t, w)| (t.uid, *w)).collect()
    }

    /// Takes the due work for `uid` alone and feeds it `answer`.
    fn checked(t: &mut Tracker, uid: u16, status: CheckStatus, now: u64) -> (Step, Vec<Change>) {
        t.validators.get_mut(&uid).unwrap().busy = true;
        t.record_check(&target(uid), &check(status), &schedule(), now, 1.0)
    }

    #[test]
    fn new_validators_are_due_at_once_and_removed_ones_forgotten() {
        let mut t = tracker(3);
        assert_eq!(uids(&t.clone().take_due(0, 10)), [(0, Work::Check), (1, Work::Check), (2, Work::Check)]);
        let changes = t.sync_targets(&[target(1), target(2), target(7)], 5);
        assert!(changes.contains(&Change::Removed { uid: 0 }) && changes.contains(&Change::Added { uid: 7 }));
        assert!(uids(&t.take_due(5, 10)).contains(&(7, Work::Check)));
    }

    #[test]
    fn a_validator_is_never_handed_out_twice_at_once() {
        let mut t = tracker(2);
        assert_eq!(t.take_due(0, 1).len(), 1, "the concurrency limit holds");
        assert_eq!(uids(&t.take_due(0, 10)), [(1, Work::Check)]);
        assert!(t.take_due(0, 10).is_empty(), "both are busy");
        assert_eq!(t.next_due(), None);
        t.record_check(&target(0), &check(CheckStatus::NoResponse), &schedule(), 1, 0.0);
        assert_eq!(t.next_due(), Some(1 + 10_000));
    }

    #[test]
    fn a_moved_axon_is_checked_at_once_and_the_old_answer_dropped() {
        let mut t = tracker(1);
        let taken = t.take_due(0, 1);
        let mut moved = target(0);
        moved.port = 9999;
        assert_eq!(t.sync_targets(&[moved.clone()], MIN), [Change::Moved { uid: 0 }]);
        // The answer from the old address arrives late: it says nothing about the new one.
        t.record_check(&taken[0].0, &check(CheckStatus::Valid), &schedule(), MIN, 0.5);
        assert_eq!(t.validators[&0].coverage, Coverage::Unknown);
        assert_eq!(uids(&t.take_due(MIN, 1)), [(0, Work::Check)]);
    }

    #[test]
    fn covered_validators_are_not_asked_again_before_the_next_sweep_and_never_sent_the_pat() {
        let mut t = tracker(2);
        for uid in 0..2 {
            assert_eq!(checked(&mut t, uid, CheckStatus::Valid, 0).0, Step::Nothing);
        }
        assert!(t.take_due(14 * MIN, 10).is_empty());
        t.schedule_sweep(15 * MIN, MIN);
        assert_eq!(uids(&t.take_due(16 * MIN, 10)), [(0, Work::Check), (1, Work::Check)]);
        assert_eq!(t.summary().covered, 2);
    }

    #[test]
    fn a_sweep_spreads_checks_over_the_window() {
        let mut t = tracker(4);
        for uid in 0..4 {
            checked(&mut t, uid, CheckStatus::Valid, 0);
        }
        t.schedule_sweep(10 * MIN, 4 * MIN);
        let slots: Vec<u64> = t.validators.values().map(|e| e.next_check_ms - 10 * MIN).collect();
        assert_eq!(slots, [0, MIN, 2 * MIN, 3 * MIN]);
    }

    #[test]
    fn missing_pat_means_an_immediate_broadcast_and_acceptance_means_covered() {
        let mut t = tracker(2);
        let (_, changes) = checked(&mut t, 0, CheckStatus::NoPat, 0);
        assert_eq!(changes, [Change::Coverage { uid: 0, from: Coverage::Unknown, to: Coverage::Missing }]);
        assert_eq!(uids(&t.take_due(0, 10)), [(0, Work::Broadcast), (1, Work::Check)], "broadcasts first");
        t.record_broadcast(&target(0), &broadcast(BroadcastStatus::Accepted), &schedule(), 1, 0.5);
        assert_eq!(t.validators[&0].coverage, Coverage::Covered);
        assert!(t.validators[&0].settled());
    }

    #[test]
    fn nothing_is_asked_or_sent_before_githubs_first_verdict() {
        let mut t = tracker(1);
        t.pat = PatStanding::Unknown;
        assert!(t.take_due(0, 10).is_empty(), "GitHub has not said the PAT is good yet");
        t.pat = PatStanding::Unavailable;
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.pat = PatStanding::Unknown;
        assert!(t.take_due(0, 10).is_empty());
        t.apply_verdict(PatStanding::Valid, &schedule(), 5, 0.5);
        assert_eq!(uids(&t.take_due(5, 10)), [(0, Work::Broadcast)]);
    }

    #[test]
    fn an_unanswered_broadcast_is_followed_by_a_check_not_a_second_broadcast() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.take_due(0, 1);
        t.record_broadcast(&target(0), &broadcast(BroadcastStatus::NoResponse), &schedule(), 1, 0.0);
        let due = t.validators[&0].next_check_ms;
        assert_eq!(uids(&t.take_due(due, 1)), [(0, Work::Check)]);
    }

    #[test]
    fn a_silent_validator_backs_off_exponentially_and_never_past_the_sweep_interval() {
        let mut t = tracker(1);
        let mut now = 0;
        let mut gaps = vec![];
        for _ in 0..8 {
            checked(&mut t, 0, CheckStatus::NoResponse, now);
            let next = t.validators[&0].next_check_ms;
            gaps.push((next - now) / 1000);
            now = next;
        }
        assert_eq!(gaps, [10, 20, 40, 80, 160, 300, 300, 300]);
        let mut tight = schedule();
        tight.sweep_interval_ms = 60_000;
        t.record_check(&target(0), &check(CheckStatus::NoResponse), &tight, now, 1.0);
        assert_eq!(t.validators[&0].next_check_ms - now, 60_000, "capped at the sweep interval");
    }

    #[test]
    fn a_sweep_does_not_override_a_backoff() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoResponse, 0);
        t.schedule_sweep(1, 0);
        assert!(t.take_due(1, 10).is_empty());
    }

    #[test]
    fn identity_locked_holds_until_the_pat_changes() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.take_due(0, 1);
        let (_, changes) =
            t.record_broadcast(&target(0), &broadcast(BroadcastStatus::IdentityLocked), &schedule(), 1, 0.5);
        assert!(changes.contains(&Change::Alert { uid: 0, alert: Alert::IdentityLocked }));
        // Still missing later: no broadcast while held, and asked only once a sweep.
        let due = t.validators[&0].next_check_ms;
        assert_eq!(due, 1 + 15 * MIN);
        checked(&mut t, 0, CheckStatus::NoPat, due);
        assert!(!t.validators[&0].owes_broadcast);
        assert_eq!(t.validators[&0].next_check_ms, due + 15 * MIN);
        assert_eq!(t.summary().held, 1);
        assert!(t.validators[&0].settled(), "post has nothing more to do for it");
        t.pat_changed(due + 1);
        t.apply_verdict(PatStanding::Valid, &schedule(), due + 1, 0.5);
        assert_eq!(uids(&t.take_due(due + 1, 10)), [(0, Work::Broadcast)], "owed the new PAT, no check first");
    }

    #[test]
    fn a_rejected_pat_stops_every_check_and_broadcast_until_it_changes() {
        let mut t = tracker(2);
        let (step, _) = checked(&mut t, 0, CheckStatus::InvalidPat, 0);
        assert_eq!(step, Step::ValidatePat);
        t.apply_verdict(PatStanding::Rejected, &schedule(), 0, 0.5);
        assert!(t.take_due(u64::MAX / 2, 10).is_empty(), "nothing is asked of validators");
        assert_eq!(t.next_due(), None);
        t.pat_changed(1);
        t.apply_verdict(PatStanding::Valid, &schedule(), 1, 0.5);
        assert_eq!(uids(&t.take_due(1, 10)), [(0, Work::Broadcast), (1, Work::Broadcast)]);
    }

    #[test]
    fn a_stale_pat_at_a_validator_is_replaced_when_github_accepts_ours() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::InvalidPat, 0);
        assert!(t.take_due(0, 10).is_empty(), "waiting for GitHub");
        t.apply_verdict(PatStanding::Valid, &schedule(), 0, 0.5);
        assert_eq!(uids(&t.take_due(0, 10)), [(0, Work::Broadcast)]);
    }

    #[test]
    fn a_validator_that_rejects_the_pat_we_just_sent_is_not_sent_it_again_at_once() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.take_due(0, 1);
        let (step, _) = t.record_broadcast(&target(0), &broadcast(BroadcastStatus::PatRejected), &schedule(), 1, 0.0);
        assert_eq!(step, Step::ValidatePat);
        t.apply_verdict(PatStanding::Valid, &schedule(), 2, 0.0);
        assert!(t.take_due(2, 10).is_empty(), "backed off");
        let due = t.validators[&0].next_check_ms;
        assert_eq!(uids(&t.take_due(due, 10)), [(0, Work::Check)], "asked again, not sent again");
    }

    #[test]
    fn after_an_abrupt_stop_an_unanswered_broadcast_is_followed_by_a_check() {
        let mut t = tracker(2);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.pat_changed(0);
        t.apply_verdict(PatStanding::Valid, &schedule(), 0, 0.5);
        assert_eq!(t.take_due(0, 10).len(), 2, "both sent, neither answered");
        let mut resumed: Tracker = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        resumed.resumed(5, 15 * MIN);
        assert_eq!(uids(&resumed.take_due(5, 10)), [(0, Work::Broadcast), (1, Work::Broadcast)], "the new PAT is owed");
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.take_due(0, 1);
        let mut resumed: Tracker = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        resumed.resumed(5, 15 * MIN);
        assert_eq!(uids(&resumed.take_due(5, 10)), [(0, Work::Check)]);
    }

    #[test]
    fn a_broadcast_cancelled_by_a_clean_stop_is_followed_by_a_check_after_the_restart() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        assert_eq!(uids(&t.take_due(0, 1)), [(0, Work::Broadcast)]);
        t.cancelled(0, 1); // SIGTERM while it travels
        let mut resumed: Tracker = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        resumed.resumed(5, 15 * MIN);
        assert_eq!(uids(&resumed.take_due(5, 10)), [(0, Work::Check)], "it may have arrived: ask first");
    }

    #[test]
    fn github_out_of_reach_does_not_reopen_the_gate_for_a_rejected_pat() {
        let mut t = tracker(2);
        t.pat_changed(0);
        t.apply_verdict(PatStanding::Rejected, &schedule(), 0, 0.5);
        t.apply_verdict(PatStanding::Unavailable, &schedule(), HOUR, 0.5);
        assert_eq!(t.pat, PatStanding::Rejected);
        assert!(t.take_due(HOUR, 10).is_empty(), "the rejected PAT is not sent");
        t.apply_verdict(PatStanding::Valid, &schedule(), 2 * HOUR, 0.5);
        assert_eq!(t.take_due(2 * HOUR, 10).len(), 2, "GitHub changed its mind (permissions fixed)");
    }

    #[test]
    fn an_identity_lock_outlives_leaving_and_rejoining_the_eligible_set() {
        let mut t = tracker(2);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.take_due(0, 1);
        t.record_broadcast(&target(0), &broadcast(BroadcastStatus::IdentityLocked), &schedule(), 1, 0.5);
        t.sync_targets(&[target(1)], 2);
        t.sync_targets(&[target(0), target(1)], 3);
        assert_eq!(t.validators[&0].coverage, Coverage::Held);
        checked(&mut t, 0, CheckStatus::NoPat, 4);
        assert!(!t.validators[&0].owes_broadcast, "still held: nothing is sent");
        t.pat_changed(5);
        assert!(t.held_hotkeys.is_empty() && t.validators[&0].hold.is_none(), "a new PAT lifts it");
    }

    #[test]
    fn deadlines_written_by_a_clock_that_was_ahead_are_brought_in() {
        let mut t = tracker(1);
        t.validators.get_mut(&0).unwrap().next_check_ms = 100 * DAY;
        t.resumed(DAY, 15 * MIN);
        assert_eq!(t.validators[&0].next_check_ms, DAY + 15 * MIN);
    }

    #[test]
    fn a_restart_seen_while_a_request_is_out_is_checked_again_after_its_answer() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::Valid, 0);
        let alive = |id: &str| Liveness::Alive { instance: Some(id.into()), forgot_us: false };
        t.record_liveness(&target(0), &alive("a"), 1);
        t.schedule_sweep(15 * MIN, 0);
        t.take_due(15 * MIN, 1); // a check is out…
        t.record_liveness(&target(0), &alive("b"), 15 * MIN + 1); // …when it restarts
        t.record_check(&target(0), &check(CheckStatus::Valid), &schedule(), 15 * MIN + 2, 0.5);
        assert_eq!(uids(&t.take_due(15 * MIN + 2, 1)), [(0, Work::Check)], "its answer may predate the restart");
    }

    #[test]
    fn coming_back_or_restarting_means_a_check_at_once() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::Valid, 0);
        let alive = |id: &str| Liveness::Alive { instance: Some(id.into()), forgot_us: false };
        assert!(t.record_liveness(&target(0), &alive("a"), 1).is_empty());
        assert!(t.take_due(2, 10).is_empty());
        assert_eq!(t.record_liveness(&target(0), &alive("b"), 3), [Change::Restarted { uid: 0 }]);
        assert_eq!(uids(&t.take_due(3, 10)), [(0, Work::Check)]);

        t.record_check(&target(0), &check(CheckStatus::Valid), &schedule(), 4, 0.5);
        assert_eq!(t.record_liveness(&target(0), &Liveness::Unreachable, 5), [Change::WentAway { uid: 0 }]);
        assert!(t.record_liveness(&target(0), &Liveness::Unreachable, 6).is_empty(), "one line per change");
        assert_eq!(t.summary().unreachable, 1);
        assert_eq!(
            t.record_liveness(&target(0), &Liveness::Alive { instance: None, forgot_us: false }, 7),
            [Change::CameBack { uid: 0 }]
        );
        assert_eq!(uids(&t.take_due(7, 10)), [(0, Work::Check)]);
    }

    #[test]
    fn an_axon_that_forgot_our_dendrite_restarted_even_when_its_instance_was_never_seen() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::Valid, 0);
        let quiet = Liveness::Alive { instance: None, forgot_us: false };
        assert!(t.record_liveness(&target(0), &quiet, 1).is_empty(), "at rest the probe says nothing new");
        let forgot = Liveness::Alive { instance: Some("new".into()), forgot_us: true };
        assert_eq!(t.record_liveness(&target(0), &forgot, 2), [Change::Restarted { uid: 0 }]);
        assert_eq!(uids(&t.take_due(2, 10)), [(0, Work::Check)]);
        assert_eq!(t.validators[&0].axon_uuid.as_deref(), Some("new"));
    }

    #[test]
    fn store_unavailable_is_retried_not_broadcast() {
        let mut t = tracker(1);
        checked(&mut t, 0, CheckStatus::StoreUnavailable, 0);
        assert!(!t.validators[&0].owes_broadcast);
        assert_eq!(t.validators[&0].coverage, Coverage::Failing);
        let s = t.summary();
        assert_eq!((s.failing, s.store_unavailable), (0, 1), "it answers: not counted as silent");
    }

    #[test]
    fn the_tracker_round_trips_through_json_without_loss() {
        let mut t = tracker(2);
        checked(&mut t, 0, CheckStatus::NoPat, 0);
        t.record_liveness(&target(1), &Liveness::Alive { instance: Some("u".into()), forgot_us: false }, 1);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Tracker>(&json).unwrap(), t);
    }

    /// A validator that says "no PAT" to every check and refuses every broadcast with words
    /// that fit no known class, while GitHub accepts the PAT: two refusals and it is said
    /// once; then the slow pace; and never more than four sends in any hour.
    #[test]
    fn a_validator_refusing_every_broadcast_gets_at_most_four_sends_an_hour() {
        use crate::reconcile::backoff::Backoff;
        let schedule = Schedule {
            backoff: Backoff {
                base: std::time::Duration::from_secs(2),
                factor: 2.0,
                cap: std::time::Duration::from_secs(60),
            },
            sweep_interval_ms: 900_000,
        };
        let target = Target { uid: 3, hotkey: "5Refuser".into(), ip: "203.0.113.9".parse().unwrap(), port: 8091 };
        let mut t = Tracker { pat: PatStanding::Valid, ..Tracker::default() };
        t.sync_targets(std::slice::from_ref(&target), 0);
        let no_pat = CheckAnswer {
            status: CheckStatus::NoPat,
            has_pat: Some(false),
            pat_valid: None,
            rejection_reason: Some("No PAT stored".into()),
            status_code: 200,
            axon_uuid: None,
        };
        let refused = BroadcastAnswer {
            status: BroadcastStatus::PatRejected,
            accepted: Some(false),
            rejection_reason: Some("policy 0x17 says no".into()),
            status_code: 200,
            axon_uuid: None,
        };
        let (mut now, mut sends, mut said) = (0u64, Vec::new(), 0);
        while now < 6 * HOUR_MS {
            let due = t.take_due(now, 8);
            for (target, work) in due {
                let changes = if work == Work::Broadcast {
                    sends.push(now);
                    let (step, changes) = t.record_broadcast(&target, &refused, &schedule, now, 0.5);
                    assert_eq!(step, Step::ValidatePat);
                    t.apply_verdict(PatStanding::Valid, &schedule, now, 0.5);
                    changes
                } else {
                    t.record_check(&target, &no_pat, &schedule, now, 0.5).1
                };
                said += changes.iter().filter(|c| matches!(c, Change::KeepsRefusing { uid: 3 })).count();
            }
            now = t.next_due().unwrap_or(now + 1000).max(now + 1);
        }
        assert_eq!(said, 1, "said once");
        assert!(sends.len() >= 6, "it is still tried, slowly: {sends:?}");
        for (i, at) in sends.iter().enumerate() {
            let in_hour = sends[i..].iter().take_while(|later| **later < at + HOUR_MS).count();
            assert!(in_hour <= SENDS_PER_HOUR, "{in_hour} sends within the hour from {at} ms: {sends:?}");
        }
        // The third send waited at the slow pace, not the normal one.
        assert!(sends[2] - sends[1] > sends[1] - sends[0], "{sends:?}");
        // A new PAT is owed at once, whatever the budget.
        t.pat_changed(now);
        t.apply_verdict(PatStanding::Valid, &schedule, now, 0.5);
        assert_eq!(t.take_due(now, 8).first().map(|(_, w)| *w), Some(Work::Broadcast));
    }
}
