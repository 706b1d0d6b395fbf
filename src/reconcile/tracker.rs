//! What the daemon knows about each validator, and what it should do next. Pure: the
//! engine feeds it answers and the time (milliseconds since the epoch) and carries out the
//! steps it returns. Persisted as-is in the state file (it holds no secret).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backoff::Backoff;
use super::decide::{self, Action, Alert, LocalPat, Pace};
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
    /// When it is next checked.
    pub next_check_ms: u64,
    /// A broadcast is owed without a check first (the PAT changed).
    pub owes_broadcast: bool,
    pub hold: Option<HoldReason>,
}

impl Entry {
    fn new(target: Target, now: u64) -> Self {
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
            hold: None,
        }
    }
}

/// What the engine should do for one validator after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Broadcast,
    /// Validate our PAT with GitHub, then report back with [`Tracker::local_validation`].
    ValidatePat,
}

/// A change an operator cares about (one log line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added { uid: u16 },
    Removed { uid: u16 },
    Moved { uid: u16 },
    Coverage { uid: u16, from: Coverage, to: Coverage },
    WentAway { uid: u16 },
    CameBack { uid: u16 },
    Restarted { uid: u16 },
    Alert { uid: u16, alert: Alert },
}

/// The schedule knobs, resolved from config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub backoff: Backoff,
    pub sweep_interval_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub validators: BTreeMap<u16, Entry>,
    /// GitHub rejects our PAT: no broadcasts until it changes.
    pub pat_rejected: bool,
}

/// Coverage counts for STATUS= and the sweep summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub eligible: usize,
    pub covered: usize,
    pub unconfirmed: usize,
    pub pending_broadcast: usize,
    pub failing: usize,
    pub unreachable: usize,
    pub held: usize,
}

impl Tracker {
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
                    *entry = Entry::new(target.clone(), now);
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
                    self.validators.insert(uid, Entry::new(target.clone(), now));
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

    /// Validators to check now.
    pub fn due_checks(&self, now: u64) -> Vec<u16> {
        self.validators.values().filter(|e| !e.owes_broadcast && e.next_check_ms <= now).map(|e| e.target.uid).collect()
    }

    /// Validators owed a broadcast without a check (after a PAT change), unless held back.
    pub fn due_broadcasts(&self, now: u64) -> Vec<u16> {
        if self.pat_rejected {
            return vec![];
        }
        self.validators.values().filter(|e| e.owes_broadcast && e.next_check_ms <= now).map(|e| e.target.uid).collect()
    }

    /// The earliest moment anything is due.
    pub fn next_due(&self) -> Option<u64> {
        self.validators.values().map(|e| e.next_check_ms).min()
    }

    fn retry(entry: &mut Entry, schedule: &Schedule, pace: Pace, now: u64, unit: f64) {
        let exponent = match pace {
            Pace::Normal => entry.failures,
            // Slowly changing state: start further up the curve.
            Pace::Slow => entry.failures.saturating_add(3),
        };
        entry.failures = entry.failures.saturating_add(1);
        let delay = schedule.backoff.delay(exponent, unit).as_millis() as u64;
        entry.next_check_ms = now + delay.min(schedule.sweep_interval_ms);
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
        uid: u16,
        answer: &CheckAnswer,
        schedule: &Schedule,
        now: u64,
        unit: f64,
    ) -> (Step, Vec<Change>) {
        let mut changes = Vec::new();
        let pat_rejected = self.pat_rejected;
        let Some(entry) = self.validators.get_mut(&uid) else { return (Step::Nothing, changes) };
        entry.last_check = Some(Seen { status: answer.status, reason: answer.rejection_reason.clone(), at_ms: now });
        entry.reachable = answer.status != CheckStatus::NoResponse || entry.reachable;
        let step = match decide::after_check(answer.status) {
            Action::Covered { confirmed: true } => {
                entry.failures = 0;
                entry.next_check_ms = now + schedule.sweep_interval_ms;
                Self::set_coverage(entry, Coverage::Covered, &mut changes);
                Step::Nothing
            }
            Action::Covered { confirmed: false } => {
                Self::retry(entry, schedule, Pace::Normal, now, unit);
                Self::set_coverage(entry, Coverage::Unconfirmed, &mut changes);
                Step::Nothing
            }
            Action::Broadcast | Action::ValidatePatLocally if entry.hold.is_some() || pat_rejected => {
                // The PAT would not be accepted: keep asking on the schedule, send nothing.
                Self::retry(entry, schedule, Pace::Normal, now, unit);
                Self::set_coverage(
                    entry,
                    if entry.hold.is_some() { Coverage::Held } else { Coverage::Missing },
                    &mut changes,
                );
                Step::Nothing
            }
            Action::Broadcast => {
                Self::set_coverage(entry, Coverage::Missing, &mut changes);
                Step::Broadcast
            }
            Action::ValidatePatLocally => {
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
        };
        (step, changes)
    }

    /// After a PatBroadcast answer. An unclear outcome is followed by a check, never by a
    /// second broadcast straight away.
    pub fn record_broadcast(
        &mut self,
        uid: u16,
        answer: &BroadcastAnswer,
        schedule: &Schedule,
        now: u64,
        unit: f64,
    ) -> (Step, Vec<Change>) {
        let mut changes = Vec::new();
        let Some(entry) = self.validators.get_mut(&uid) else { return (Step::Nothing, changes) };
        entry.last_broadcast =
            Some(Seen { status: answer.status, reason: answer.rejection_reason.clone(), at_ms: now });
        entry.owes_broadcast = false;
        let step = match decide::after_broadcast(answer.status) {
            Action::Covered { .. } => {
                entry.failures = 0;
                // Confirmed by the next sweep's check.
                entry.next_check_ms = now + schedule.sweep_interval_ms;
                Self::set_coverage(entry, Coverage::Covered, &mut changes);
                Step::Nothing
            }
            Action::Hold(alert) => {
                entry.hold = Some(HoldReason::IdentityLocked);
                Self::retry(entry, schedule, Pace::Slow, now, unit);
                Self::set_coverage(entry, Coverage::Held, &mut changes);
                changes.push(Change::Alert { uid, alert });
                Step::Nothing
            }
            Action::ValidatePatLocally => Step::ValidatePat,
            Action::RetryCheck(pace) => {
                Self::retry(entry, schedule, pace, now, unit);
                Self::set_coverage(entry, Coverage::Failing, &mut changes);
                Step::Nothing
            }
            Action::AlertAndRetry(alert) => {
                Self::retry(entry, schedule, Pace::Normal, now, unit);
                Self::set_coverage(entry, Coverage::Failing, &mut changes);
                changes.push(Change::Alert { uid, alert });
                Step::Nothing
            }
            Action::Broadcast => Step::Nothing, // never produced by after_broadcast
        };
        (step, changes)
    }

    /// After validating our PAT because `uid` called it invalid.
    pub fn local_validation(&mut self, uid: u16, local: LocalPat, schedule: &Schedule, now: u64, unit: f64) -> Step {
        if local == LocalPat::Rejected {
            self.pat_rejected = true;
        }
        let Some(entry) = self.validators.get_mut(&uid) else { return Step::Nothing };
        match decide::after_local_validation(local) {
            Action::Broadcast => Step::Broadcast,
            _ => {
                Self::retry(entry, schedule, Pace::Normal, now, unit);
                Step::Nothing
            }
        }
    }

    /// GitHub's periodic verdict on our PAT.
    pub fn set_pat_rejected(&mut self, rejected: bool) {
        self.pat_rejected = rejected;
    }

    /// A new PAT: holds are lifted and every validator is owed it.
    pub fn pat_changed(&mut self, now: u64) {
        self.pat_rejected = false;
        for entry in self.validators.values_mut() {
            entry.hold = None;
            entry.owes_broadcast = true;
            entry.failures = 0;
            entry.next_check_ms = now;
        }
    }

    /// After a cheap liveness probe. A validator that comes back, or restarted (new axon
    /// uuid), is checked at once: a restart is exactly when stores get lost.
    pub fn record_liveness(&mut self, uid: u16, liveness: &Liveness, now: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(entry) = self.validators.get_mut(&uid) else { return changes };
        match liveness {
            Liveness::Unreachable => {
                if entry.reachable {
                    entry.reachable = false;
                    changes.push(Change::WentAway { uid });
                }
            }
            Liveness::Alive { instance } => {
                let mut check_now = false;
                if !entry.reachable {
                    entry.reachable = true;
                    changes.push(Change::CameBack { uid });
                    check_now = true;
                }
                if let Some(instance) = instance {
                    if entry.axon_uuid.as_ref().is_some_and(|seen| seen != instance) {
                        changes.push(Change::Restarted { uid });
                        check_now = true;
                    }
                    entry.axon_uuid = Some(instance.clone());
                }
                if check_now && entry.hold.is_none() {
                    entry.failures = 0;
                    entry.next_check_ms = entry.next_check_ms.min(now);
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
                Coverage::Failing => s.failing += 1,
                Coverage::Held => s.held += 1,
                Coverage::Unknown => {}
            }
            if !e.reachable {
                s.unreachable += 1;
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
        let mut t = Tracker::default();
        t.sync_targets(&(0..n).map(target).collect::<Vec<_>>(), 0);
        t
    }

    #[test]
    fn new_validators_are_due_at_once_and_removed_ones_forgotten() {
        let mut t = tracker(3);
        assert_eq!(t.due_checks(0), [0, 1, 2]);
        let changes = t.sync_targets(&[target(1), target(2), target(7)], 5);
        assert!(changes.contains(&Change::Removed { uid: 0 }) && changes.contains(&Change::Added { uid: 7 }));
        assert!(t.due_checks(5).contains(&7));
    }

    #[test]
    fn a_moved_axon_is_checked_at_once() {
        let mut t = tracker(1);
        t.record_check(0, &check(CheckStatus::Valid), &schedule(), 0, 0.5);
        assert!(t.due_checks(MIN).is_empty());
        let mut moved = target(0);
        moved.port = 9999;
        assert_eq!(t.sync_targets(&[moved], MIN), [Change::Moved { uid: 0 }]);
        assert_eq!(t.due_checks(MIN), [0]);
    }

    #[test]
    fn covered_validators_are_not_asked_again_before_the_next_sweep_and_never_sent_the_pat() {
        let mut t = tracker(2);
        for uid in 0..2 {
            let (step, _) = t.record_check(uid, &check(CheckStatus::Valid), &schedule(), 0, 0.5);
            assert_eq!(step, Step::Nothing);
        }
        assert!(t.due_checks(14 * MIN).is_empty());
        t.schedule_sweep(15 * MIN, MIN);
        assert_eq!(t.due_checks(16 * MIN), [0, 1]);
        assert_eq!(t.summary().covered, 2);
    }

    #[test]
    fn a_sweep_spreads_checks_over_the_window() {
        let mut t = tracker(4);
        for uid in 0..4 {
            t.record_check(uid, &check(CheckStatus::Valid), &schedule(), 0, 0.5);
        }
        t.schedule_sweep(10 * MIN, 4 * MIN);
        let slots: Vec<u64> = t.validators.values().map(|e| e.next_check_ms - 10 * MIN).collect();
        assert_eq!(slots, [0, MIN, 2 * MIN, 3 * MIN]);
    }

    #[test]
    fn missing_pat_means_broadcast_and_acceptance_means_covered() {
        let mut t = tracker(1);
        let (step, changes) = t.record_check(0, &check(CheckStatus::NoPat), &schedule(), 0, 0.5);
        assert_eq!(step, Step::Broadcast);
        assert_eq!(changes, [Change::Coverage { uid: 0, from: Coverage::Unknown, to: Coverage::Missing }]);
        let (step, _) = t.record_broadcast(0, &broadcast(BroadcastStatus::Accepted), &schedule(), 1, 0.5);
        assert_eq!(step, Step::Nothing);
        assert_eq!(t.validators[&0].coverage, Coverage::Covered);
    }

    #[test]
    fn a_silent_validator_backs_off_exponentially_and_never_past_the_sweep_interval() {
        let mut t = tracker(1);
        let mut now = 0;
        let mut gaps = vec![];
        for _ in 0..8 {
            t.record_check(0, &check(CheckStatus::NoResponse), &schedule(), now, 1.0);
            let next = t.validators[&0].next_check_ms;
            gaps.push((next - now) / 1000);
            now = next;
        }
        assert_eq!(gaps, [10, 20, 40, 80, 160, 300, 300, 300]);
        let mut tight = schedule();
        tight.sweep_interval_ms = 60_000;
        t.record_check(0, &check(CheckStatus::NoResponse), &tight, now, 1.0);
        assert_eq!(t.validators[&0].next_check_ms - now, 60_000, "capped at the sweep interval");
    }

    #[test]
    fn a_sweep_does_not_override_a_backoff() {
        let mut t = tracker(1);
        t.record_check(0, &check(CheckStatus::NoResponse), &schedule(), 0, 1.0);
        t.schedule_sweep(1, 0);
        assert!(t.due_checks(1).is_empty());
    }

    #[test]
    fn identity_locked_holds_until_the_pat_changes() {
        let mut t = tracker(1);
        t.record_check(0, &check(CheckStatus::NoPat), &schedule(), 0, 0.5);
        let (_, changes) = t.record_broadcast(0, &broadcast(BroadcastStatus::IdentityLocked), &schedule(), 1, 0.5);
        assert!(changes.contains(&Change::Alert { uid: 0, alert: Alert::IdentityLocked }));
        // Still missing later: no broadcast while held.
        let due = t.validators[&0].next_check_ms;
        let (step, _) = t.record_check(0, &check(CheckStatus::NoPat), &schedule(), due, 0.5);
        assert_eq!(step, Step::Nothing);
        assert_eq!(t.summary().held, 1);
        t.pat_changed(due + 1);
        assert_eq!(t.due_broadcasts(due + 1), [0]);
        assert!(t.due_checks(due + 1).is_empty(), "owed a broadcast, not a check");
    }

    #[test]
    fn a_rejected_pat_is_never_broadcast() {
        let mut t = tracker(2);
        let (step, _) = t.record_check(0, &check(CheckStatus::InvalidPat), &schedule(), 0, 0.5);
        assert_eq!(step, Step::ValidatePat);
        assert_eq!(t.local_validation(0, LocalPat::Rejected, &schedule(), 0, 0.5), Step::Nothing);
        assert!(t.pat_rejected);
        let (step, _) = t.record_check(1, &check(CheckStatus::NoPat), &schedule(), 0, 0.5);
        assert_eq!(step, Step::Nothing);
        t.pat_changed(1);
        assert_eq!(t.due_broadcasts(1), [0, 1]);
        t.set_pat_rejected(true);
        assert!(t.due_broadcasts(1).is_empty());
    }

    #[test]
    fn a_stale_pat_at_a_validator_is_replaced_when_github_accepts_ours() {
        let mut t = tracker(1);
        t.record_check(0, &check(CheckStatus::InvalidPat), &schedule(), 0, 0.5);
        assert_eq!(t.local_validation(0, LocalPat::Valid, &schedule(), 0, 0.5), Step::Broadcast);
    }

    #[test]
    fn coming_back_or_restarting_means_a_check_at_once() {
        let mut t = tracker(1);
        t.record_check(0, &check(CheckStatus::Valid), &schedule(), 0, 0.5);
        assert!(t.record_liveness(0, &Liveness::Alive { instance: Some("a".into()) }, 1).is_empty());
        assert!(t.due_checks(2).is_empty());
        assert_eq!(
            t.record_liveness(0, &Liveness::Alive { instance: Some("b".into()) }, 3),
            [Change::Restarted { uid: 0 }]
        );
        assert_eq!(t.due_checks(3), [0]);

        t.record_check(0, &check(CheckStatus::Valid), &schedule(), 4, 0.5);
        assert_eq!(t.record_liveness(0, &Liveness::Unreachable, 5), [Change::WentAway { uid: 0 }]);
        assert!(t.record_liveness(0, &Liveness::Unreachable, 6).is_empty(), "one line per change");
        assert_eq!(t.summary().unreachable, 1);
        assert_eq!(t.record_liveness(0, &Liveness::Alive { instance: None }, 7), [Change::CameBack { uid: 0 }]);
        assert_eq!(t.due_checks(7), [0]);
    }

    #[test]
    fn store_unavailable_is_retried_not_broadcast() {
        let mut t = tracker(1);
        let (step, _) = t.record_check(0, &check(CheckStatus::StoreUnavailable), &schedule(), 0, 0.5);
        assert_eq!(step, Step::Nothing);
        assert_eq!(t.validators[&0].coverage, Coverage::Failing);
    }

    #[test]
    fn the_tracker_round_trips_through_json_without_loss() {
        let mut t = tracker(2);
        t.record_check(0, &check(CheckStatus::NoPat), &schedule(), 0, 0.5);
        t.record_liveness(1, &Liveness::Alive { instance: Some("u".into()) }, 1);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Tracker>(&json).unwrap(), t);
    }
}
