//! gittensor's two synapses (`gittensor/synapses.py`) and what each answer means
//! (`../shared/spec/validators.md`). Pure: no I/O, tested exhaustively below.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::scrub::SCAN_MAX_CHARS;
use crate::secrets::Pat;
use crate::transport::{CallError, Provenance, Reply, SynapseCall};

pub const PAT_CHECK: &str = "PatCheckSynapse";
pub const PAT_BROADCAST: &str = "PatBroadcastSynapse";

/// "Do you hold my PAT?" carries no PAT: the validator looks the miner up by hotkey.
pub fn pat_check_call(timeout: Duration) -> SynapseCall {
    SynapseCall { name: PAT_CHECK, fields: Map::new(), required_defaults: vec![], timeout }
}

/// The one call that carries the PAT. `github_access_token` is a required `str` field, so
/// bittensor announces it in a header as its empty default `""`.
pub fn pat_broadcast_call(pat: &Pat, timeout: Duration) -> SynapseCall {
    let mut fields = Map::new();
    fields.insert("github_access_token".into(), json!(pat.expose()));
    SynapseCall { name: PAT_BROADCAST, fields, required_defaults: vec![("github_access_token", json!(""))], timeout }
}

/// What a validator's answer to a PatCheck means. Finer than the reference CLI's five
/// categories; [`CheckAnswer::reference_category`] maps back to those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Holds our PAT and GitHub accepts it.
    Valid,
    /// Holds no PAT for us (lost store, missed broadcast, new validator).
    NoPat,
    /// Holds a PAT that fails GitHub validation.
    InvalidPat,
    /// Holds a PAT but could not reach GitHub to confirm it (transient).
    Inconclusive,
    /// Its PAT store is temporarily unreadable: not "missing", a broadcast would fail too.
    StoreUnavailable,
    /// 401 or 400: it refused our request (signature, nonce or format).
    Refused,
    /// 401 because our nonce is outside its freshness window: our clock is off.
    ClockSkew,
    /// 403: it does not see our hotkey as registered on the subnet.
    Blacklisted,
    /// No answer: timeout, connection refused, 408/5xx.
    NoResponse,
    /// An answer we cannot use: not JSON, wrong shape, oversized, or not signed by the validator.
    Malformed,
}

impl CheckStatus {
    /// The machine token (`status` in `--json`, the state file, `status --json`): the same
    /// vocabulary for `check`, `post` and `status`, listed in the README.
    pub fn token(self) -> &'static str {
        match self {
            CheckStatus::Valid => "valid",
            CheckStatus::NoPat => "no_pat",
            CheckStatus::InvalidPat => "invalid_pat",
            CheckStatus::Inconclusive => "inconclusive",
            CheckStatus::StoreUnavailable => "store_unavailable",
            CheckStatus::Refused => "refused",
            CheckStatus::ClockSkew => "clock_skew",
            CheckStatus::Blacklisted => "blacklisted",
            CheckStatus::NoResponse => "no_response",
            CheckStatus::Malformed => "malformed",
        }
    }

    /// Words for people (the tables, logs); scripts read [`CheckStatus::token`].
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Valid => "valid",
            CheckStatus::NoPat => "no PAT",
            CheckStatus::InvalidPat => "invalid PAT",
            CheckStatus::Inconclusive => "inconclusive",
            CheckStatus::StoreUnavailable => "store unavailable",
            CheckStatus::Refused => "refused (401)",
            CheckStatus::ClockSkew => "clock skew",
            CheckStatus::Blacklisted => "blacklisted (403)",
            CheckStatus::NoResponse => "no response",
            CheckStatus::Malformed => "malformed",
        }
    }
}

/// A classified PatCheck answer, with the raw fields the reference CLI reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnswer {
    pub status: CheckStatus,
    pub has_pat: Option<bool>,
    pub pat_valid: Option<bool>,
    /// The best explanation of the answer, for logs and the state file: the validator's own
    /// `rejection_reason` when its handler answered, else ours. Output splits the two:
    /// [`CheckAnswer::reference_rejection_reason`] and [`CheckAnswer::detail`].
    pub rejection_reason: Option<String>,
    /// The code bittensor 10.3.1's dendrite records in `synapse.dendrite.status_code`: the
    /// HTTP status of a JSON answer; 408 timeout, 503 unreachable or cut off, 422 an
    /// answer it cannot parse (not JSON, wrong shape).
    pub status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axon_uuid: Option<String>,
}

impl CheckAnswer {
    /// The reference `gitt miner check` category, computed from `has_pat`/`pat_valid` exactly
    /// as `_pat_check_row_category` does, so `--json` counts match the reference's.
    pub fn reference_category(&self) -> &'static str {
        match (self.has_pat, self.pat_valid) {
            (_, Some(true)) => "valid",
            (Some(false), _) => "no_pat",
            (Some(true), Some(false)) => "invalid_pat",
            (Some(true), None) => "inconclusive",
            _ => "no_response",
        }
    }

    /// The reference's `rejection_reason`: what the validator's handler said, or `null`
    /// when its handler gave no answer (bittensor's dendrite keeps the request's `None`).
    pub fn reference_rejection_reason(&self) -> Option<&str> {
        split_reason(self.status_code, self.rejection_reason.as_deref()).0
    }

    /// Our own explanation, where the validator's answer carries none of its own
    /// (no answer, a refusal, an unusable answer).
    pub fn detail(&self) -> Option<&str> {
        match split_reason(self.status_code, self.rejection_reason.as_deref()) {
            (_, Some(ours)) => Some(ours),
            _ if self.status == CheckStatus::Malformed => Some(NOT_A_CHECK_HANDLER),
            _ => None,
        }
    }
}

/// Our explanations of a 200 answer that its body did not give. Every other explanation of
/// ours comes with a status code other than 200.
const NOT_A_CHECK_HANDLER: &str = "answer carries no `has_pat`: not a gittensor PAT handler";
const NOT_A_BROADCAST_HANDLER: &str = "answer carries no `accepted`: not a gittensor PAT handler";
const FORGED: &str = "answer is not signed by the validator's hotkey: not trusted (spoofed endpoint or wrong hotkey?)";

/// (the validator's `rejection_reason`, our explanation) of an answer's `rejection_reason`.
fn split_reason(status_code: u16, reason: Option<&str>) -> (Option<&str>, Option<&str>) {
    match reason {
        Some(r) if status_code != 200 || [NOT_A_CHECK_HANDLER, NOT_A_BROADCAST_HANDLER, FORGED].contains(&r) => {
            (None, Some(r))
        }
        theirs => (theirs, None),
    }
}

/// What a validator's answer to a PatBroadcast means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStatus {
    Accepted,
    /// The validator pinned another GitHub account to this hotkey: re-sending cannot help.
    IdentityLocked,
    /// Its store is temporarily unavailable: retry later.
    StoreUnavailable,
    /// It could not reach GitHub to validate the PAT: retry later.
    GithubUnavailable,
    /// It (or GitHub) rejected the PAT itself: validate it locally.
    PatRejected,
    Refused,
    ClockSkew,
    /// 403, or a 200 rejection saying our hotkey is not registered.
    Blacklisted,
    NoResponse,
    Malformed,
}

impl BroadcastStatus {
    /// The machine token; see [`CheckStatus::token`].
    pub fn token(self) -> &'static str {
        match self {
            BroadcastStatus::Accepted => "accepted",
            BroadcastStatus::IdentityLocked => "identity_locked",
            BroadcastStatus::StoreUnavailable => "store_unavailable",
            BroadcastStatus::GithubUnavailable => "github_unavailable",
            BroadcastStatus::PatRejected => "pat_rejected",
            BroadcastStatus::Refused => "refused",
            BroadcastStatus::ClockSkew => "clock_skew",
            BroadcastStatus::Blacklisted => "blacklisted",
            BroadcastStatus::NoResponse => "no_response",
            BroadcastStatus::Malformed => "malformed",
        }
    }

    /// Words for people; scripts read [`BroadcastStatus::token`].
    pub fn label(self) -> &'static str {
        match self {
            BroadcastStatus::Accepted => "accepted",
            BroadcastStatus::IdentityLocked => "identity locked",
            BroadcastStatus::StoreUnavailable => "store unavailable",
            BroadcastStatus::GithubUnavailable => "GitHub unavailable",
            BroadcastStatus::PatRejected => "PAT rejected",
            BroadcastStatus::Refused => "refused (401)",
            BroadcastStatus::ClockSkew => "clock skew",
            BroadcastStatus::Blacklisted => "not registered (blacklisted)",
            BroadcastStatus::NoResponse => "no response",
            BroadcastStatus::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BroadcastAnswer {
    pub status: BroadcastStatus,
    pub accepted: Option<bool>,
    pub rejection_reason: Option<String>,
    pub status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axon_uuid: Option<String>,
}

impl BroadcastAnswer {
    /// See [`CheckAnswer::reference_rejection_reason`].
    pub fn reference_rejection_reason(&self) -> Option<&str> {
        split_reason(self.status_code, self.rejection_reason.as_deref()).0
    }

    /// See [`CheckAnswer::detail`].
    pub fn detail(&self) -> Option<&str> {
        match split_reason(self.status_code, self.rejection_reason.as_deref()) {
            (_, Some(ours)) => Some(ours),
            _ if self.status == BroadcastStatus::Malformed => Some(NOT_A_BROADCAST_HANDLER),
            _ => None,
        }
    }
}

/// The part of classification both synapses share: transport failures, status codes,
/// provenance. `Ok` carries a trusted 200 body object for the synapse-specific step.
enum Common<'a> {
    Body(&'a Map<String, Value>),
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    Refused,
    ClockSkew,
    Blacklisted,
    NoResponse,
    Malformed,
}

struct Failure {
    kind: FailureKind,
    reason: String,
    status_code: u16,
}

fn common(result: &Result<Reply, CallError>) -> Common<'_> {
    let fail = |kind, reason: String, status_code| Common::Failed(Failure { kind, reason, status_code });
    let reply = match result {
        Err(CallError::Timeout) => return fail(FailureKind::NoResponse, "timed out".into(), 408),
        Err(e @ (CallError::Connect(_) | CallError::Broken(_))) => {
            return fail(FailureKind::NoResponse, e.to_string(), 503)
        }
        Err(e @ CallError::TooLarge { .. }) => return fail(FailureKind::Malformed, e.to_string(), 422),
        Ok(reply) => reply,
    };
    let code = reply.http_status;
    if reply.provenance == Provenance::Forged {
        return fail(FailureKind::Malformed, FORGED.into(), code);
    }
    // Peers control this text. It is cut short for a table and a log line only after the PAT
    // is masked in it (`Core::scrub`): cut first, the tail of an echoed PAT would survive.
    let message: String = reply.message.as_deref().unwrap_or_default().chars().take(SCAN_MAX_CHARS).collect();
    // bittensor's dendrite reads every answer with aiohttp's `response.json()`: one that is
    // not JSON raises, and the dendrite records 422 whatever the HTTP status was.
    let reported = if reply.body.is_none() { 422 } else { code };
    let described = |what: &str| {
        if message.is_empty() {
            what.to_owned()
        } else {
            format!("{what}: {message}")
        }
    };
    match code {
        200 => match &reply.body {
            Some(Value::Object(body)) => Common::Body(body),
            Some(_) => fail(FailureKind::Malformed, "answer is JSON but not an object".into(), 422),
            None => fail(FailureKind::Malformed, "answer is not JSON".into(), 422),
        },
        // bittensor: "Nonce is too old: acceptable delta is 19.00 seconds but request was 73.20 seconds old"
        401 if message.contains("Nonce is too old: acceptable delta") => fail(
            FailureKind::ClockSkew,
            described("our request's timestamp is outside the validator's window; check this machine's clock (NTP)"),
            reported,
        ),
        400 | 401 => fail(FailureKind::Refused, described("request refused"), reported),
        403 => fail(FailureKind::Blacklisted, described("validator does not see our hotkey as registered"), reported),
        404 => fail(
            FailureKind::Malformed,
            described("validator does not serve this synapse (outdated gittensor?)"),
            reported,
        ),
        408 | 500..=599 => fail(FailureKind::NoResponse, described(&format!("HTTP {code}")), reported),
        _ => fail(FailureKind::Malformed, described(&format!("unexpected HTTP {code}")), reported),
    }
}

/// A validator's own reason is shown whole up to this (gittensor's longest, a wrapped
/// `requests` error, is about 300 characters); a hostile peer's novel is cut, after the
/// PAT is masked in it. Here a reason is only capped to what masking scans.
pub const REASON_MAX_CHARS: usize = 400;

/// Reads an optional boolean; any other type makes the answer malformed.
fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("`{key}` should be a boolean, got {other}")),
    }
}

fn opt_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.chars().take(SCAN_MAX_CHARS).collect())),
        Some(other) => Err(format!("`{key}` should be a string, got {other}")),
    }
}

pub fn classify_check(result: &Result<Reply, CallError>) -> CheckAnswer {
    let axon_uuid = result.as_ref().ok().and_then(|r| r.axon_uuid.clone());
    let body = match common(result) {
        Common::Body(body) => body,
        Common::Failed(f) => {
            let status = match f.kind {
                FailureKind::Refused => CheckStatus::Refused,
                FailureKind::ClockSkew => CheckStatus::ClockSkew,
                FailureKind::Blacklisted => CheckStatus::Blacklisted,
                FailureKind::NoResponse => CheckStatus::NoResponse,
                FailureKind::Malformed => CheckStatus::Malformed,
            };
            return CheckAnswer {
                status,
                has_pat: None,
                pat_valid: None,
                rejection_reason: Some(f.reason),
                status_code: f.status_code,
                axon_uuid,
            };
        }
    };
    let parsed = (|| {
        Ok::<_, String>((
            opt_bool(body, "has_pat")?,
            opt_bool(body, "pat_valid")?,
            opt_string(body, "rejection_reason")?,
        ))
    })();
    let (has_pat, pat_valid, reason) = match parsed {
        Ok(fields) => fields,
        Err(why) => {
            return CheckAnswer {
                status: CheckStatus::Malformed,
                has_pat: None,
                pat_valid: None,
                rejection_reason: Some(format!("answer has the wrong shape: {why}")),
                status_code: 422,
                axon_uuid,
            }
        }
    };
    let status = match (has_pat, pat_valid) {
        (_, Some(true)) => CheckStatus::Valid,
        // gittensor answers has_pat=false, pat_valid=null only when its store is unreadable.
        (Some(false), None) => CheckStatus::StoreUnavailable,
        (Some(false), Some(false)) => CheckStatus::NoPat,
        (Some(true), Some(false)) => CheckStatus::InvalidPat,
        (Some(true), None) => CheckStatus::Inconclusive,
        (None, _) => CheckStatus::Malformed,
    };
    let rejection_reason = match (status, reason) {
        (CheckStatus::Malformed, None) => Some("answer carries no `has_pat`: not a gittensor PAT handler".into()),
        (_, reason) => reason,
    };
    CheckAnswer { status, has_pat, pat_valid, rejection_reason, status_code: 200, axon_uuid }
}

pub fn classify_broadcast(result: &Result<Reply, CallError>) -> BroadcastAnswer {
    let axon_uuid = result.as_ref().ok().and_then(|r| r.axon_uuid.clone());
    let body = match common(result) {
        Common::Body(body) => body,
        Common::Failed(f) => {
            let status = match f.kind {
                FailureKind::Refused => BroadcastStatus::Refused,
                FailureKind::ClockSkew => BroadcastStatus::ClockSkew,
                FailureKind::Blacklisted => BroadcastStatus::Blacklisted,
                FailureKind::NoResponse => BroadcastStatus::NoResponse,
                FailureKind::Malformed => BroadcastStatus::Malformed,
            };
            return BroadcastAnswer {
                status,
                accepted: None,
                rejection_reason: Some(f.reason),
                status_code: f.status_code,
                axon_uuid,
            };
        }
    };
    let (accepted, reason) = match (opt_bool(body, "accepted"), opt_string(body, "rejection_reason")) {
        (Ok(a), Ok(r)) => (a, r),
        (Err(why), _) | (_, Err(why)) => {
            return BroadcastAnswer {
                status: BroadcastStatus::Malformed,
                accepted: None,
                rejection_reason: Some(format!("answer has the wrong shape: {why}")),
                status_code: 422,
                axon_uuid,
            }
        }
    };
    let status = match accepted {
        Some(true) => BroadcastStatus::Accepted,
        None => BroadcastStatus::Malformed,
        Some(false) => rejection_kind(reason.as_deref().unwrap_or_default()),
    };
    let rejection_reason = match (status, reason) {
        (BroadcastStatus::Malformed, None) => Some("answer carries no `accepted`: not a gittensor PAT handler".into()),
        (_, reason) => reason,
    };
    BroadcastAnswer { status, accepted, rejection_reason, status_code: 200, axon_uuid }
}

/// gittensor's rejection texts (`pat_handler.py`), matched loosely (case-insensitive
/// fragments) so rewording of the surrounding sentence does not break us.
fn rejection_kind(reason: &str) -> BroadcastStatus {
    let r = reason.to_ascii_lowercase();
    if r.contains("identity is locked") {
        BroadcastStatus::IdentityLocked
    } else if r.contains("temporarily unavailable") {
        BroadcastStatus::StoreUnavailable
    } else if r.contains("transient") {
        BroadcastStatus::GithubUnavailable
    } else if r.contains("not registered") {
        BroadcastStatus::Blacklisted
    } else {
        BroadcastStatus::PatRejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: Value) -> Result<Reply, CallError> {
        let message = body.get("message").and_then(Value::as_str).map(str::to_owned);
        Ok(Reply { http_status: status, message, body: Some(body), axon_uuid: None, provenance: Provenance::Unsigned })
    }

    fn check(has_pat: Value, pat_valid: Value, reason: Value) -> CheckAnswer {
        classify_check(&reply(200, json!({"has_pat": has_pat, "pat_valid": pat_valid, "rejection_reason": reason})))
    }

    #[test]
    fn check_answers_follow_the_validators_table() {
        use CheckStatus::*;
        assert_eq!(check(json!(true), json!(true), Value::Null).status, Valid);
        assert_eq!(check(json!(false), json!(false), json!("No PAT stored for this miner")).status, NoPat);
        assert_eq!(check(json!(true), json!(false), json!("PAT test query failed")).status, InvalidPat);
        assert_eq!(check(json!(true), Value::Null, json!("GitHub API temporarily unavailable")).status, Inconclusive);
        let unavailable =
            check(json!(false), Value::Null, json!("Validator PAT store temporarily unavailable; please retry."));
        assert_eq!(unavailable.status, StoreUnavailable);
        assert_eq!(unavailable.reference_category(), "no_pat", "the reference counts this as no_pat");
        assert_eq!(check(Value::Null, Value::Null, Value::Null).status, Malformed);
    }

    #[test]
    fn every_has_pat_pat_valid_combination_is_classified_consistently_with_the_reference() {
        let values = [json!(true), json!(false), Value::Null];
        for has in &values {
            for valid in &values {
                let answer = check(has.clone(), valid.clone(), Value::Null);
                let expected = match answer.status {
                    CheckStatus::Valid => "valid",
                    CheckStatus::NoPat | CheckStatus::StoreUnavailable => "no_pat",
                    CheckStatus::InvalidPat => "invalid_pat",
                    CheckStatus::Inconclusive => "inconclusive",
                    _ => "no_response",
                };
                assert_eq!(answer.reference_category(), expected, "has_pat={has} pat_valid={valid}");
            }
        }
    }

    #[test]
    fn wrong_shapes_are_malformed_not_panics() {
        for body in [
            json!({"has_pat": "yes"}),
            json!({"has_pat": true, "pat_valid": 1}),
            json!({"rejection_reason": 5}),
            json!([1]),
            json!("x"),
        ] {
            assert_eq!(classify_check(&reply(200, body.clone())).status, CheckStatus::Malformed, "{body}");
            assert_eq!(classify_broadcast(&reply(200, body.clone())).status, BroadcastStatus::Malformed, "{body}");
        }
        let not_json = Ok(Reply {
            http_status: 200,
            message: None,
            body: None,
            axon_uuid: None,
            provenance: Provenance::Unsigned,
        });
        assert_eq!(classify_check(&not_json).status, CheckStatus::Malformed);
    }

    #[test]
    fn peer_supplied_reasons_are_capped_to_what_masking_scans() {
        // The cut to REASON_MAX_CHARS comes after masking (`Core::scrub`, tested there).
        let long = "x".repeat(10_000);
        let answer = check(json!(false), json!(false), json!(long));
        assert_eq!(answer.rejection_reason.unwrap().len(), SCAN_MAX_CHARS);
    }

    #[test]
    fn error_statuses_map_to_categories() {
        use CheckStatus::*;
        let cases = [
            (401, "Not Verified with error: Signature mismatch", Refused),
            (401, "Not Verified with error: Nonce is too old: acceptable delta is 19.00 seconds but request was 80.00 seconds old", ClockSkew),
            (401, "Not Verified with error: Nonce is too old, a newer one was last processed", Refused),
            (400, "Improperly formatted request", Refused),
            (403, "Forbidden. Key is blacklisted: Hotkey 5F... not registered.", Blacklisted),
            (404, "Synapse name 'PatCheckSynapse' not found", Malformed),
            (408, "timeout", NoResponse),
            (500, "Internal Server Error", NoResponse),
            (503, "queue full", NoResponse),
            (302, "moved", Malformed),
        ];
        for (code, message, expected) in cases {
            let answer = classify_check(&reply(code, json!({ "message": message })));
            assert_eq!(answer.status, expected, "{code} {message}");
            assert_eq!(answer.status_code, code);
            assert!(answer.rejection_reason.unwrap().contains(message));
        }
    }

    #[test]
    fn transport_failures_use_the_dendrite_codes() {
        assert_eq!(classify_check(&Err(CallError::Timeout)).status_code, 408);
        assert_eq!(classify_check(&Err(CallError::Connect("refused".into()))).status, CheckStatus::NoResponse);
        assert_eq!(classify_check(&Err(CallError::Connect("refused".into()))).status_code, 503);
        let big = classify_check(&Err(CallError::TooLarge { limit: 10 }));
        assert_eq!((big.status, big.status_code), (CheckStatus::Malformed, 422));
    }

    #[test]
    fn a_forged_signature_is_never_trusted_even_when_the_body_says_valid() {
        let mut forged = reply(200, json!({"has_pat": true, "pat_valid": true}));
        forged.as_mut().unwrap().provenance = Provenance::Forged;
        assert_eq!(classify_check(&forged).status, CheckStatus::Malformed);
        let mut forged = reply(200, json!({"accepted": true}));
        forged.as_mut().unwrap().provenance = Provenance::Forged;
        assert_eq!(classify_broadcast(&forged).status, BroadcastStatus::Malformed);
    }

    #[test]
    fn broadcast_rejections_are_told_apart() {
        use BroadcastStatus::*;
        let b = |accepted: Value, reason: &str| {
            classify_broadcast(&reply(200, json!({"accepted": accepted, "rejection_reason": reason}))).status
        };
        assert_eq!(b(json!(true), ""), Accepted);
        assert_eq!(
            b(
                json!(false),
                "GitHub identity is locked for this hotkey. Deregister and re-register to change GitHub accounts."
            ),
            IdentityLocked
        );
        assert_eq!(
            b(json!(false), "Validator PAT store temporarily unavailable; please retry. (disk)"),
            StoreUnavailable
        );
        assert_eq!(
            b(json!(false), "Could not validate Github id for miner 3: GitHub /user lookup failed transiently"),
            GithubUnavailable
        );
        assert_eq!(b(json!(false), "Hotkey not registered on subnet"), Blacklisted);
        assert_eq!(b(json!(false), "No Github id found for miner 3's PAT"), PatRejected);
        assert_eq!(b(json!(false), "PAT test query failed: GitHub GraphQL API returned 401"), PatRejected);
        assert_eq!(b(Value::Null, ""), Malformed);
    }

    #[test]
    fn one_token_vocabulary_for_json_and_the_state_file() {
        use CheckStatus as C;
        for status in [
            C::Valid,
            C::NoPat,
            C::InvalidPat,
            C::Inconclusive,
            C::StoreUnavailable,
            C::Refused,
            C::ClockSkew,
            C::Blacklisted,
            C::NoResponse,
            C::Malformed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.token(), "{status:?}");
        }
        use BroadcastStatus as B;
        for status in [
            B::Accepted,
            B::IdentityLocked,
            B::StoreUnavailable,
            B::GithubUnavailable,
            B::PatRejected,
            B::Refused,
            B::ClockSkew,
            B::Blacklisted,
            B::NoResponse,
            B::Malformed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.token(), "{status:?}");
        }
    }

    /// The reference's `rejection_reason` is what the validator's handler said, or `null`
    /// (bittensor leaves the request's `None` when no handler answered); ours is `detail`.
    #[test]
    fn the_validators_reason_and_ours_are_kept_apart() {
        let theirs = check(json!(false), json!(false), json!("No PAT stored for this miner"));
        assert_eq!(theirs.reference_rejection_reason(), Some("No PAT stored for this miner"));
        assert_eq!(theirs.detail(), None);

        for failure in [
            classify_check(&Err(CallError::Timeout)),
            classify_check(&Err(CallError::Connect("Connection refused (os error 111)".into()))),
            classify_check(&reply(403, json!({"message": "Forbidden. Key is blacklisted"}))),
            classify_check(&reply(200, json!({"has_pat": "maybe"}))),
        ] {
            assert_eq!(failure.reference_rejection_reason(), None, "{failure:?}");
            assert!(failure.detail().is_some(), "{failure:?}");
            assert_eq!(failure.rejection_reason.as_deref(), failure.detail(), "logs keep our explanation");
        }

        let not_a_handler = classify_check(&reply(200, json!({})));
        assert_eq!((not_a_handler.status, not_a_handler.status_code), (CheckStatus::Malformed, 200));
        assert_eq!(not_a_handler.reference_rejection_reason(), None);
        assert!(not_a_handler.detail().unwrap().contains("not a gittensor PAT handler"));
        let with_reason = classify_check(&reply(200, json!({"rejection_reason": "busy"})));
        assert_eq!(with_reason.reference_rejection_reason(), Some("busy"));
        assert!(with_reason.detail().unwrap().contains("not a gittensor PAT handler"));

        let mut forged = reply(200, json!({"has_pat": true, "pat_valid": true, "rejection_reason": "trust me"}));
        forged.as_mut().unwrap().provenance = Provenance::Forged;
        let forged = classify_check(&forged);
        assert_eq!(forged.reference_rejection_reason(), None);
        assert!(forged.detail().unwrap().contains("not signed"));

        let rejected = classify_broadcast(&reply(
            200,
            json!({"accepted": false, "rejection_reason": "Hotkey not registered on subnet"}),
        ));
        assert_eq!(rejected.reference_rejection_reason(), Some("Hotkey not registered on subnet"));
        let silent = classify_broadcast(&Err(CallError::Timeout));
        assert_eq!((silent.reference_rejection_reason(), silent.detail()), (None, Some("timed out")));
    }

    /// bittensor's dendrite records 422 for any answer aiohttp cannot read as JSON, whatever
    /// its HTTP status; the category still follows the HTTP status.
    #[test]
    fn an_answer_that_is_not_json_is_recorded_as_422() {
        let not_json = |status| {
            classify_check(&Ok(Reply {
                http_status: status,
                message: None,
                body: None,
                axon_uuid: None,
                provenance: Provenance::Unsigned,
            }))
        };
        let bad_gateway = not_json(502);
        assert_eq!((bad_gateway.status, bad_gateway.status_code), (CheckStatus::NoResponse, 422));
        assert!(bad_gateway.detail().unwrap().contains("HTTP 502"));
        assert_eq!((not_json(200).status, not_json(200).status_code), (CheckStatus::Malformed, 422));
        assert_eq!(not_json(403).status, CheckStatus::Blacklisted);
    }

    #[test]
    fn the_broadcast_call_carries_the_pat_only_in_its_body_field() {
        let pat = Pat::new("ghp_abcdefghijklmnop1234").unwrap();
        let call = pat_broadcast_call(&pat, Duration::from_secs(30));
        assert_eq!(call.fields["github_access_token"], "ghp_abcdefghijklmnop1234");
        assert_eq!(call.required_defaults, vec![("github_access_token", json!(""))]);
        assert!(pat_check_call(Duration::from_secs(15)).fields.is_empty());
    }
}
