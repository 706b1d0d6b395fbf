//! What to do with a validator's answer: the one decision table `post` and `run` share.
//! Pure; the table it encodes is `../shared/spec/validators.md`. This is the one place that
//! decides when the PAT is sent.

use crate::synapse::{BroadcastStatus, CheckStatus};

/// How soon a retry is worth it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Transient trouble (no answer, store unavailable, GitHub hiccup): normal backoff.
    Normal,
    /// State that changes slowly (a validator's metagraph catching up with our
    /// registration, its GitHub access out for hours): back off long, up to a sweep.
    Slow,
}

/// Problems re-sending cannot fix: the operator must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// The validator pinned another GitHub account to this hotkey.
    IdentityLocked,
    /// Our nonce is outside the validator's window: this machine's clock is off.
    ClockSkew,
    /// The validator refuses our signed requests (401/400): protocol or key problem.
    Refused,
}

impl Alert {
    /// The machine token (logs' `OUTCOME`, JSON).
    pub fn token(self) -> &'static str {
        match self {
            Alert::IdentityLocked => "identity_locked",
            Alert::ClockSkew => "clock_skew",
            Alert::Refused => "refused",
        }
    }

    /// What happened and what to do, for the operator: the same words from `post` and `run`.
    pub fn advice(self) -> &'static str {
        match self {
            Alert::IdentityLocked => "has pinned another GitHub account to this hotkey: re-sending cannot fix it; nothing more is sent to it until the PAT changes (use the PAT of the GitHub account first registered, or re-register the hotkey)",
            Alert::ClockSkew => "refuses our requests as too old: this machine's clock is off; enable NTP (`sudo timedatectl set-ntp true`)",
            Alert::Refused => "refused our signed request (401/400)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Covered. `confirmed` is false when the validator holds a PAT it could not
    /// re-validate just now (GitHub unreachable from it): check again later.
    Covered { confirmed: bool },
    /// Send the PAT to this validator now.
    Broadcast,
    /// Ask again later, with backoff.
    RetryCheck(Pace),
    /// The validator says our PAT is bad: validate it against GitHub ourselves. If GitHub
    /// accepts it, re-broadcast (the validator holds an older one); if not, alert.
    ValidatePatLocally,
    /// Stop sending to this validator until the PAT changes, and tell the operator.
    Hold(Alert),
    /// Our side is at fault; back off and tell the operator.
    AlertAndRetry(Alert),
    /// GitHub rejects our PAT: nothing is sent to, or asked of, any validator until the
    /// PAT changes (every check would make validators call GitHub with a dead token).
    StopUntilPatChanges,
}

/// After a PatCheck answer.
pub fn after_check(status: CheckStatus) -> Action {
    match status {
        CheckStatus::Valid => Action::Covered { confirmed: true },
        CheckStatus::Inconclusive => Action::Covered { confirmed: false },
        CheckStatus::NoPat => Action::Broadcast,
        CheckStatus::InvalidPat => Action::ValidatePatLocally,
        // Never counted as missing: a broadcast would be refused by the same store.
        CheckStatus::StoreUnavailable => Action::RetryCheck(Pace::Normal),
        CheckStatus::NoResponse | CheckStatus::Malformed => Action::RetryCheck(Pace::Normal),
        CheckStatus::Blacklisted => Action::RetryCheck(Pace::Slow),
        CheckStatus::ClockSkew => Action::AlertAndRetry(Alert::ClockSkew),
        CheckStatus::Refused => Action::AlertAndRetry(Alert::Refused),
    }
}

/// After a PatBroadcast answer. A broadcast that got no clear answer is followed by a
/// *check*, not a second broadcast: the PAT travels in clear text, so it is sent only
/// where a validator has said it lacks it.
pub fn after_broadcast(status: BroadcastStatus) -> Action {
    match status {
        BroadcastStatus::Accepted => Action::Covered { confirmed: true },
        BroadcastStatus::IdentityLocked => Action::Hold(Alert::IdentityLocked),
        BroadcastStatus::PatRejected => Action::ValidatePatLocally,
        BroadcastStatus::StoreUnavailable => Action::RetryCheck(Pace::Normal),
        // Every retry would carry the PAT again to a validator that cannot check it yet.
        BroadcastStatus::GithubUnavailable => Action::RetryCheck(Pace::Slow),
        BroadcastStatus::NoResponse | BroadcastStatus::Malformed => Action::RetryCheck(Pace::Normal),
        BroadcastStatus::Blacklisted => Action::RetryCheck(Pace::Slow),
        BroadcastStatus::ClockSkew => Action::AlertAndRetry(Alert::ClockSkew),
        BroadcastStatus::Refused => Action::AlertAndRetry(Alert::Refused),
    }
}

/// The local verdict on our PAT, for [`Action::ValidatePatLocally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalPat {
    /// GitHub accepts it: the validator holds a stale one.
    Valid,
    /// GitHub rejects it (revoked, expired, lacks access).
    Rejected,
    /// GitHub could not be asked.
    Unknown,
}

/// What to do once the PAT was validated locally after a validator called it invalid.
pub fn after_local_validation(local: LocalPat) -> Action {
    match local {
        LocalPat::Valid => Action::Broadcast,
        // Re-sending a PAT GitHub rejects cannot help; the operator must replace it.
        LocalPat::Rejected => Action::StopUntilPatChanges,
        LocalPat::Unknown => Action::RetryCheck(Pace::Normal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CHECKS: [CheckStatus; 10] = [
        CheckStatus::Valid,
        CheckStatus::NoPat,
        CheckStatus::InvalidPat,
        CheckStatus::Inconclusive,
        CheckStatus::StoreUnavailable,
        CheckStatus::Refused,
        CheckStatus::ClockSkew,
        CheckStatus::Blacklisted,
        CheckStatus::NoResponse,
        CheckStatus::Malformed,
    ];
    const ALL_BROADCASTS: [BroadcastStatus; 10] = [
        BroadcastStatus::Accepted,
        BroadcastStatus::IdentityLocked,
        BroadcastStatus::StoreUnavailable,
        BroadcastStatus::GithubUnavailable,
        BroadcastStatus::PatRejected,
        BroadcastStatus::Refused,
        BroadcastStatus::ClockSkew,
        BroadcastStatus::Blacklisted,
        BroadcastStatus::NoResponse,
        BroadcastStatus::Malformed,
    ];

    #[test]
    fn only_a_missing_pat_triggers_a_broadcast_straight_from_a_check() {
        for status in ALL_CHECKS {
            let broadcasts = after_check(status) == Action::Broadcast;
            assert_eq!(broadcasts, status == CheckStatus::NoPat, "{status:?}");
        }
    }

    #[test]
    fn a_broadcast_answer_never_triggers_another_broadcast_directly() {
        for status in ALL_BROADCASTS {
            assert_ne!(after_broadcast(status), Action::Broadcast, "{status:?}");
        }
    }

    #[test]
    fn store_unavailable_is_retried_never_treated_as_missing() {
        assert_eq!(after_check(CheckStatus::StoreUnavailable), Action::RetryCheck(Pace::Normal));
        assert_eq!(after_broadcast(BroadcastStatus::StoreUnavailable), Action::RetryCheck(Pace::Normal));
    }

    #[test]
    fn the_table_of_validators_md() {
        assert_eq!(after_check(CheckStatus::Valid), Action::Covered { confirmed: true });
        assert_eq!(after_check(CheckStatus::Inconclusive), Action::Covered { confirmed: false });
        assert_eq!(after_check(CheckStatus::InvalidPat), Action::ValidatePatLocally);
        assert_eq!(after_check(CheckStatus::Blacklisted), Action::RetryCheck(Pace::Slow));
        assert_eq!(after_check(CheckStatus::Refused), Action::AlertAndRetry(Alert::Refused));
        assert_eq!(after_check(CheckStatus::ClockSkew), Action::AlertAndRetry(Alert::ClockSkew));
        assert_eq!(after_check(CheckStatus::NoResponse), Action::RetryCheck(Pace::Normal));
        assert_eq!(after_check(CheckStatus::Malformed), Action::RetryCheck(Pace::Normal));
        assert_eq!(after_broadcast(BroadcastStatus::Accepted), Action::Covered { confirmed: true });
        assert_eq!(after_broadcast(BroadcastStatus::IdentityLocked), Action::Hold(Alert::IdentityLocked));
        assert_eq!(after_broadcast(BroadcastStatus::PatRejected), Action::ValidatePatLocally);
        assert_eq!(after_broadcast(BroadcastStatus::NoResponse), Action::RetryCheck(Pace::Normal));
        assert_eq!(after_broadcast(BroadcastStatus::GithubUnavailable), Action::RetryCheck(Pace::Slow));
    }

    #[test]
    fn local_validation_decides_between_rebroadcast_and_alert() {
        assert_eq!(after_local_validation(LocalPat::Valid), Action::Broadcast);
        assert_eq!(after_local_validation(LocalPat::Rejected), Action::StopUntilPatChanges);
        assert_eq!(after_local_validation(LocalPat::Unknown), Action::RetryCheck(Pace::Normal));
    }
}
