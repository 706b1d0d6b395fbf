//! Everything `check`, `post`, `post --all`, `status` and the errors print, pinned by
//! snapshots (`tests/snapshots/`): a change to what a user or a script sees is a reviewed
//! diff. The validators' answers are built in-process, one of each kind, and classified by
//! the agent's own classifier: no sockets, no timing.
//!
//! Beside each JSON snapshot, the reference: what `gitt miner check/post --json` prints for
//! the same answers. It is computed from the reference's own rules (gittensor
//! `cli/miner_commands/{check,post,helpers}.py`, `cli/json_output.py`, and bittensor
//! 10.3.1's `Dendrite`, which fills the synapse the CLI reads), and every reference key of
//! ours must equal it — except `success`, the one documented difference.
//! `tests/reference_equivalence.rs` checks the same against bittensor's real `Dendrite`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use gittensor_miner_agent::commands::error_output;
use gittensor_miner_agent::daemon::state::{State, StateFile};
use gittensor_miner_agent::report::{self, PostOutcome};
use gittensor_miner_agent::secrets::SecretError;
use gittensor_miner_agent::settings::{self, ConfigError, Env, Flags};
use gittensor_miner_agent::synapse::{self, CheckAnswer, CheckStatus};
use gittensor_miner_agent::transport::{CallError, Provenance, Reply, Target};
use gittensor_miner_agent::validators::{DiscoverError, Skipped};
use gittensor_miner_agent::wallet::Hotkey;
use serde_json::{json, Map, Value};

// ---- The validators and their answers ---------------------------------------------------

fn target(uid: u16) -> Target {
    Target {
        uid,
        hotkey: Hotkey::from_seed(&[uid as u8 + 1; 32]).ss58().to_owned(),
        ip: "203.0.113.10".parse().unwrap(),
        port: 8090 + uid,
    }
}

/// One validator's answer as it arrives on the wire.
#[derive(Clone, Debug)]
enum Raw {
    /// An HTTP answer: status and body (`None` when the body is not JSON).
    Http(u16, Option<Value>),
    Timeout,
    ConnectionRefused,
}

impl Raw {
    fn ok(body: Value) -> Raw {
        Raw::Http(200, Some(body))
    }

    /// As the agent's transport hands it to the classifier. The axon signs its error
    /// answers (verified against the validator's hotkey); a 200 answer is unsigned.
    fn received(&self) -> Result<Reply, CallError> {
        match self {
            Raw::Timeout => Err(CallError::Timeout),
            Raw::ConnectionRefused => Err(CallError::Connect("Connection refused (os error 111)".into())),
            Raw::Http(status, body) => Ok(Reply {
                http_status: *status,
                message: body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).map(str::to_owned),
                body: body.clone(),
                axon_uuid: (*status != 200).then(|| "6f1c2a8e-0000-4000-8000-000000000001".to_owned()),
                provenance: if *status == 200 { Provenance::Unsigned } else { Provenance::Verified },
            }),
        }
    }
}

const NO_PAT: &str = "No PAT stored for this miner";
const STORE_UNAVAILABLE: &str = "Validator PAT store temporarily unavailable; please retry.";
const GITHUB_UNAVAILABLE: &str = "GitHub API temporarily unavailable; retry the check in a few minutes.";
const IDENTITY_LOCKED: &str =
    "GitHub identity is locked for this hotkey. Deregister and re-register to change GitHub accounts.";

fn refused() -> Raw {
    Raw::Http(401, Some(json!({"message": "Not Verified with error: Signature mismatch with 1732.5F…"})))
}

fn clock_skew() -> Raw {
    Raw::Http(
        401,
        Some(
            json!({"message": "Not Verified with error: Nonce is too old: acceptable delta is 19.00 seconds but request was 80.12 seconds old"}),
        ),
    )
}

fn blacklisted() -> Raw {
    Raw::Http(
        403,
        Some(json!({"message": "Forbidden. Key is blacklisted: Hotkey 5DfhGyQdFobKM8NsW... not registered."})),
    )
}

/// One PatCheck answer of each kind gittensor's handler (`pat_handler.py`) and a bittensor
/// axon give, and the ones a faulty peer gives.
fn check_answers() -> Vec<Raw> {
    let c = |has: Value, valid: Value, reason: Value| {
        Raw::ok(json!({"has_pat": has, "pat_valid": valid, "rejection_reason": reason}))
    };
    vec![
        c(json!(true), json!(true), Value::Null),
        c(json!(false), json!(false), json!(NO_PAT)),
        c(json!(true), json!(false), json!("PAT test query failed: GitHub GraphQL API returned 401")),
        c(json!(true), Value::Null, json!(GITHUB_UNAVAILABLE)),
        c(json!(false), Value::Null, json!(STORE_UNAVAILABLE)),
        refused(),
        clock_skew(),
        blacklisted(),
        Raw::Timeout,
        Raw::ConnectionRefused,
        Raw::Http(502, None),
        Raw::Http(200, None),
        Raw::ok(json!({"message": "hello"})),
    ]
}

/// One PatBroadcast answer of each kind.
fn broadcast_answers() -> Vec<Raw> {
    let b = |accepted: Value, reason: Value| Raw::ok(json!({"accepted": accepted, "rejection_reason": reason}));
    vec![
        b(json!(true), Value::Null),
        b(json!(false), json!(IDENTITY_LOCKED)),
        b(
            json!(false),
            json!("Validator PAT store temporarily unavailable; please retry. ([Errno 28] No space left on device)"),
        ),
        b(json!(false), json!("Could not validate Github id for miner 7: GitHub /user lookup failed transiently")),
        b(json!(false), json!("No Github id found for miner 7's PAT")),
        b(json!(false), json!("Hotkey not registered on subnet")),
        blacklisted(),
        refused(),
        clock_skew(),
        Raw::Timeout,
        Raw::ConnectionRefused,
        Raw::Http(200, None),
    ]
}

fn skipped() -> Vec<Skipped> {
    vec![
        Skipped {
            uid: 40,
            vtrust: 0.9000228643417358,
            stake: 58037.125,
            reasons: vec!["stake 58,037 α below 100,000 α threshold".into()],
        },
        Skipped { uid: 41, vtrust: 0.5, stake: 2_500_000.0, reasons: vec!["not serving an axon".into()] },
    ]
}

// ---- The reference, from its source -----------------------------------------------------

/// What bittensor 10.3.1's `Dendrite.call` leaves in the synapse `gitt` reads, for one raw
/// answer: the synapse's response fields and `dendrite.status_code`.
/// - `process_server_response`: on a 200 answer, `server_synapse = local_synapse.__class__(**json_response)`
///   and every field is copied over; on any other status only `axon.status_code`/`status_message`
///   are set, the response fields keep the request's `None`.
/// - `process_error_message` with `DENDRITE_ERROR_MAPPING`: `asyncio.TimeoutError: ("408", …)`,
///   `aiohttp.ClientConnectorError: ("503", …)`, anything else (a body `response.json()`
///   cannot read, a body pydantic rejects) `DENDRITE_DEFAULT_ERROR = ("422", …)`.
fn dendrite_fills(raw: &Raw, fields: &[(&str, Kind)]) -> (Map<String, Value>, Value) {
    let nulls = || fields.iter().map(|(name, _)| (name.to_string(), Value::Null)).collect::<Map<_, _>>();
    match raw {
        Raw::Timeout => (nulls(), json!(408)),
        Raw::ConnectionRefused => (nulls(), json!(503)),
        Raw::Http(_, None) => (nulls(), json!(422)),
        Raw::Http(200, Some(Value::Object(body))) => {
            // pydantic: `Optional[bool]` / `Optional[str]` (strict enough for these bodies).
            let fits = fields.iter().all(|(name, kind)| {
                matches!(
                    (body.get(*name), kind),
                    (None | Some(Value::Null), _)
                        | (Some(Value::Bool(_)), Kind::Bool)
                        | (Some(Value::String(_)), Kind::Str)
                )
            });
            if !fits {
                return (nulls(), json!(422));
            }
            let filled = fields
                .iter()
                .map(|(name, _)| (name.to_string(), body.get(*name).cloned().unwrap_or(Value::Null)))
                .collect();
            (filled, json!(200))
        }
        Raw::Http(200, Some(_)) => (nulls(), json!(422)),
        Raw::Http(status, Some(_)) => (nulls(), json!(status)),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Str,
}

/// `_pat_check_row_category` (helpers.py).
fn gitt_check_category(row: &Value) -> &'static str {
    match (&row["has_pat"], &row["pat_valid"]) {
        (_, Value::Bool(true)) => "valid",
        (Value::Bool(false), _) => "no_pat",
        (Value::Bool(true), Value::Bool(false)) => "invalid_pat",
        (Value::Bool(true), Value::Null) => "inconclusive",
        _ => "no_response",
    }
}

/// What `gitt miner check --json` prints for these answers (check.py: the `results` dicts,
/// `_pat_check_aggregate_counts`, then `{'success': valid_count > 0, 'total_validators', **counts,
/// 'skipped': excluded, 'results'}`). Note: the reference's check results carry no `status_code`.
fn gitt_check_json(answers: &[(Target, Raw)], skipped: &[Skipped]) -> Value {
    let fields = [("has_pat", Kind::Bool), ("pat_valid", Kind::Bool), ("rejection_reason", Kind::Str)];
    let results: Vec<Value> = answers
        .iter()
        .map(|(t, raw)| {
            let (filled, _) = dendrite_fills(raw, &fields);
            json!({
                "uid": t.uid,
                "hotkey": format!("{}...", &t.hotkey[..16]),
                "has_pat": filled["has_pat"],
                "pat_valid": filled["pat_valid"],
                "rejection_reason": filled["rejection_reason"],
            })
        })
        .collect();
    let count = |c: &str| results.iter().filter(|r| gitt_check_category(r) == c).count();
    json!({
        "success": count("valid") > 0,
        "total_validators": results.len(),
        "valid": count("valid"),
        "no_pat": count("no_pat"),
        "invalid_pat": count("invalid_pat"),
        "inconclusive": count("inconclusive"),
        "no_response": count("no_response"),
        "skipped": skipped,
        "results": results,
    })
}

/// What `gitt miner post --json` prints (post.py: `accepted`, `rejection_reason`,
/// `status_code = resp.dendrite.status_code`, `_pat_post_aggregate_counts`).
fn gitt_post_json(answers: &[(Target, Raw)], skipped: &[Skipped], login: &str) -> Value {
    let fields = [("accepted", Kind::Bool), ("rejection_reason", Kind::Str)];
    let results: Vec<Value> = answers
        .iter()
        .map(|(t, raw)| {
            let (filled, status_code) = dendrite_fills(raw, &fields);
            json!({
                "uid": t.uid,
                "hotkey": format!("{}...", &t.hotkey[..16]),
                "accepted": filled["accepted"],
                "rejection_reason": filled["rejection_reason"],
                "status_code": status_code,
            })
        })
        .collect();
    let count = |v: Value| results.iter().filter(|r| r["accepted"] == v).count();
    json!({
        "success": count(json!(true)) > 0,
        "github_login": login,
        "total_validators": results.len(),
        "accepted": count(json!(true)),
        "rejected": count(json!(false)),
        "no_response": count(Value::Null),
        "skipped": skipped,
        "results": results,
    })
}

/// Ours, with only the reference's keys, in our order.
fn project(ours: &Value, reference: &Value) -> Value {
    let keys_of = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let row_keys = keys_of(&reference["results"][0]);
    let mut projected = Map::new();
    for key in keys_of(reference) {
        let value = if key == "results" {
            Value::Array(
                ours["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| Value::Object(row_keys.iter().map(|k| (k.clone(), row[k].clone())).collect()))
                    .collect(),
            )
        } else {
            ours[&key].clone()
        };
        projected.insert(key, value);
    }
    projected.into_iter().collect()
}

/// Every reference key of ours equals the reference's, in the reference's order, and ours
/// come after them; `success` is the documented exception.
fn assert_reference_keys_equal(ours: &Value, reference: &Value) {
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let (our_keys, their_keys) = (keys(ours), keys(reference));
    assert_eq!(our_keys[..their_keys.len()], their_keys[..], "the reference's keys come first, in its order");
    for (ours, theirs) in ours["results"].as_array().unwrap().iter().zip(reference["results"].as_array().unwrap()) {
        let (ours, theirs) = (keys(ours), keys(theirs));
        assert_eq!(ours[..theirs.len()], theirs[..], "result keys: the reference's first, in its order");
    }
    let mut projected = project(ours, reference);
    let mut reference = reference.clone();
    projected.as_object_mut().unwrap().remove("success");
    reference.as_object_mut().unwrap().remove("success");
    for (row, (ours, theirs)) in
        projected["results"].as_array().unwrap().iter().zip(reference["results"].as_array().unwrap()).enumerate()
    {
        assert_eq!(ours, theirs, "result #{row}");
    }
    assert_eq!(projected, reference);
}

// ---- check ------------------------------------------------------------------------------

/// The raw answers and the agent's rows for them.
type Rows<T> = (Vec<(Target, Raw)>, Vec<(Target, T)>);

fn check_rows() -> Rows<CheckAnswer> {
    let raw: Vec<(Target, Raw)> = check_answers().into_iter().enumerate().map(|(i, r)| (target(i as u16), r)).collect();
    let rows = raw.iter().map(|(t, r)| (t.clone(), synapse::classify_check(&r.received()))).collect();
    (raw, rows)
}

#[test]
fn check_output_is_pinned() {
    let (_, rows) = check_rows();
    insta::assert_snapshot!("check_text", report::check_text(&rows, &skipped()));
    insta::assert_snapshot!("check_json", report::python_json(&report::check_json(&rows, &skipped()), true));
}

#[test]
fn check_json_equals_the_reference_key_for_key() {
    let (raw, rows) = check_rows();
    let reference = gitt_check_json(&raw, &skipped());
    insta::assert_snapshot!("check_json_reference", report::python_json(&reference, true));
    let ours = report::check_json(&rows, &skipped());
    assert_reference_keys_equal(&ours, &reference);
    assert_eq!(
        (ours["success"].clone(), reference["success"].clone()),
        (json!(false), json!(true)),
        "the documented difference"
    );
}

/// The agent prints JSON exactly as Python's `json.dumps(…, indent=2)` does (ensure_ascii):
/// the reference's part of the output is byte for byte the reference's.
#[test]
fn json_is_written_as_python_writes_it() {
    let value = json!({"a": [], "b": {}, "c": [1, {"d": "α — ✓ 😀\u{7f}"}], "e": 0.800000011920929, "f": null});
    assert_eq!(
        report::python_json(&value, true),
        "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": \"\\u03b1 \\u2014 \\u2713 \\ud83d\\ude00\\u007f\"\n    }\n  ],\n  \"e\": 0.800000011920929,\n  \"f\": null\n}"
    );
    assert_eq!(
        report::python_json(&json!({"success": false, "error": {"type": "cli_error", "message": "x"}}), false),
        r#"{"success": false, "error": {"type": "cli_error", "message": "x"}}"#
    );
}

// ---- post -------------------------------------------------------------------------------

/// `post` (without `--all`): checked first, the PAT sent only where it is missing.
fn post_rows() -> Vec<(Target, PostOutcome)> {
    let check = |raw: Raw| synapse::classify_check(&raw.received());
    let broadcast = |raw: Raw| synapse::classify_broadcast(&raw.received());
    let ok = |has: bool, valid: Option<bool>, reason: Option<&str>| {
        check(Raw::ok(json!({"has_pat": has, "pat_valid": valid, "rejection_reason": reason})))
    };
    let accepted = || broadcast(Raw::ok(json!({"accepted": true, "rejection_reason": null})));
    let mut outcomes = vec![PostOutcome::default(); 10];
    // 0: already holds our valid PAT: not sent again.
    outcomes[0].record_check(ok(true, Some(true), None));
    // 1: no PAT: sent, accepted.
    outcomes[1].record_check(ok(false, Some(false), Some(NO_PAT)));
    outcomes[1].record_sending();
    outcomes[1].record_broadcast(accepted());
    // 2: holds a stale PAT GitHub rejects: ours is valid, so sent, accepted.
    outcomes[2].record_check(ok(true, Some(false), Some("PAT test query failed: GitHub GraphQL API returned 401")));
    outcomes[2].record_sending();
    outcomes[2].record_broadcast(accepted());
    // 3: its GitHub access is out: not sent (covered-but-unconfirmed).
    outcomes[3].record_check(ok(true, None, Some(GITHUB_UNAVAILABLE)));
    // 4: its store is unreadable: not sent.
    outcomes[4].record_check(ok(false, None, Some(STORE_UNAVAILABLE)));
    // 5: no PAT, sent, identity locked.
    outcomes[5].record_check(ok(false, Some(false), Some(NO_PAT)));
    outcomes[5].record_sending();
    outcomes[5].record_broadcast(broadcast(Raw::ok(json!({"accepted": false, "rejection_reason": IDENTITY_LOCKED}))));
    // 6: does not see our hotkey as registered.
    outcomes[6].record_check(check(blacklisted()));
    // 7: silent, retried until the budget ran out.
    outcomes[7].record_check(check(Raw::Timeout));
    // 8: no PAT, sent, the answer still out when post stopped.
    outcomes[8].record_check(ok(false, Some(false), Some(NO_PAT)));
    outcomes[8].record_sending();
    // 9: its first check still out when post stopped (as `post` records it).
    outcomes[9].record_check(CheckAnswer {
        status: CheckStatus::NoResponse,
        has_pat: None,
        pat_valid: None,
        rejection_reason: Some("no answer within the retry budget (120 s)".into()),
        status_code: 408,
        axon_uuid: None,
    });
    outcomes.into_iter().enumerate().map(|(i, o)| (target(i as u16), o)).collect()
}

#[test]
fn post_output_is_pinned() {
    let rows = post_rows();
    insta::assert_snapshot!("post_text", report::post_text(&rows, &skipped()));
    insta::assert_snapshot!(
        "post_json",
        report::python_json(&report::post_json(&rows, &skipped(), "octo-miner"), true)
    );
}

/// `gitt miner post` sends to every validator; `post` only where the PAT is missing. For the
/// validators it did not send to, each reference key follows the reference's categorisation
/// of what the validator answered: holds our valid PAT → `accepted: true`; answered and
/// does not hold it (GitHub unavailable, store unavailable) → `accepted: false` with the
/// validator's own reason — `gitt` would have been rejected there too, with its broadcast
/// handler's wording; no handler answer → `null` with bittensor's code.
#[test]
fn post_json_follows_the_references_categories() {
    let json = report::post_json(&post_rows(), &skipped(), "octo-miner");
    let row = |uid: usize| &json["results"][uid];
    let reference = |uid: usize| (row(uid)["accepted"].clone(), row(uid)["status_code"].clone());
    assert_eq!(reference(0), (json!(true), json!(200)));
    assert_eq!(reference(1), (json!(true), json!(200)));
    assert_eq!(reference(2), (json!(true), json!(200)));
    assert_eq!(reference(3), (json!(false), json!(200)), "GitHub unavailable: gitt is rejected, transiently");
    assert_eq!(row(3)["rejection_reason"], GITHUB_UNAVAILABLE);
    assert_eq!(reference(4), (json!(false), json!(200)), "store unavailable: gitt is rejected");
    assert_eq!(row(4)["rejection_reason"], STORE_UNAVAILABLE);
    assert_eq!(reference(5), (json!(false), json!(200)));
    assert_eq!(row(5)["rejection_reason"], IDENTITY_LOCKED);
    assert_eq!((reference(6), row(6)["rejection_reason"].clone()), ((Value::Null, json!(403)), Value::Null));
    assert_eq!((reference(7), row(7)["rejection_reason"].clone()), ((Value::Null, json!(408)), Value::Null));
    assert_eq!((reference(8), row(8)["rejection_reason"].clone()), ((Value::Null, json!(408)), Value::Null));
    assert_eq!((reference(9), row(9)["rejection_reason"].clone()), ((Value::Null, json!(408)), Value::Null));
    assert_eq!(
        (json["accepted"].clone(), json["rejected"].clone(), json["no_response"].clone()),
        (json!(3), json!(3), json!(4))
    );
    // Ours say what was sent, and why not.
    let sent: Vec<bool> = (0..10).map(|uid| row(uid)["broadcast"].as_bool().unwrap()).collect();
    assert_eq!(sent, [false, true, true, false, false, true, false, false, true, false]);
    for uid in [0, 3, 4, 6, 7, 9] {
        assert!(row(uid)["detail"].as_str().unwrap().starts_with("not sent"), "{}", row(uid));
    }
    assert_eq!(json["sent"], 4);
}

/// `post --all`: every validator is sent the PAT, as `gitt miner post` does.
fn post_all_rows() -> Rows<PostOutcome> {
    let raw: Vec<(Target, Raw)> =
        broadcast_answers().into_iter().enumerate().map(|(i, r)| (target(i as u16), r)).collect();
    let rows = raw
        .iter()
        .map(|(t, r)| {
            let mut outcome = PostOutcome::default();
            outcome.record_sending();
            outcome.record_broadcast(synapse::classify_broadcast(&r.received()));
            (t.clone(), outcome)
        })
        .collect();
    (raw, rows)
}

#[test]
fn post_all_output_is_pinned() {
    let (_, rows) = post_all_rows();
    insta::assert_snapshot!("post_all_text", report::post_text(&rows, &[]));
    insta::assert_snapshot!("post_all_json", report::python_json(&report::post_json(&rows, &[], "octo-miner"), true));
}

#[test]
fn post_all_json_equals_the_reference_key_for_key() {
    let (raw, rows) = post_all_rows();
    let reference = gitt_post_json(&raw, &skipped(), "octo-miner");
    insta::assert_snapshot!("post_all_json_reference", report::python_json(&reference, true));
    let ours = report::post_json(&rows, &skipped(), "octo-miner");
    assert_reference_keys_equal(&ours, &reference);
}

// ---- Errors -----------------------------------------------------------------------------

fn error_text(e: anyhow::Error, json: bool) -> String {
    let (stdout, stderr) = error_output(&e, json);
    format!("--- stdout\n{}\n--- stderr\n{stderr}", stdout.unwrap_or_default())
}

/// helpers.py `_require_validator_axons`: every candidate excluded → `emit_error_json(msg,
/// error_type='no_validators_eligible', skipped=excluded)`; without `--json` the Skipped
/// Validators table, then the error.
#[test]
fn no_eligible_validator_is_the_references_error() {
    let e = || {
        anyhow::Error::from(DiscoverError::NoneEligible { min_vtrust: 0.25, min_stake: 100_000.0, skipped: skipped() })
    };
    insta::assert_snapshot!("error_no_validators_eligible_json", error_text(e(), true));
    insta::assert_snapshot!("error_no_validators_eligible_text", error_text(e(), false));
    let (stdout, _) = error_output(&e(), true);
    let printed: Value = serde_json::from_str(&stdout.unwrap()).unwrap();
    let reference = json!({
        "success": false,
        "error": {
            "type": "no_validators_eligible",
            "message": "No validators passed --min-vtrust=0.25 / --min-stake=100,000 α; all 2 candidate(s) excluded.",
        },
        "skipped": skipped(),
    });
    assert_eq!(printed, reference);
    assert_eq!(printed.as_object().unwrap().keys().collect::<Vec<_>>(), ["success", "error", "skipped"]);

    insta::assert_snapshot!("error_no_validators_json", error_text(DiscoverError::NoValidators.into(), true));
}

#[test]
fn other_errors_are_cli_errors() {
    let e = anyhow::anyhow!("no PAT found: store one with `gittensor-miner-agent pat set`");
    insta::assert_snapshot!("error_cli_json", error_text(e, true));
    let e = anyhow::anyhow!("no PAT found: store one with `gittensor-miner-agent pat set`");
    insta::assert_snapshot!("error_cli_text", error_text(e, false));
}

/// What the operator is told when their setup is wrong: each error says what to do, first.
#[test]
fn setup_errors_say_what_to_do() {
    let config = std::path::Path::new(settings::SYSTEM_CONFIG);
    // The service started without its hotkey copy.
    let service = Env { service: true, home: Some("/nonexistent".into()), ..Env::default() };
    let e = settings::resolve(Some(config.into()), Default::default(), &Flags::default(), &service).unwrap_err();
    insta::assert_snapshot!("error_service_without_hotkey", error_text(e.into(), false));
    // An operator not (yet) in the service's group.
    let e = ConfigError::Unreadable {
        path: config.into(),
        error: std::io::ErrorKind::PermissionDenied.into(),
        named_by: None,
    };
    insta::assert_snapshot!("error_config_not_in_group", error_text(e.into(), false));
    // `network = finney`, unquoted.
    let e = settings::parse(config, "netuid = 74\nnetwork = finney\n").unwrap_err();
    insta::assert_snapshot!("error_config_unquoted_text", error_text(e.into(), false));
    // The kernel keyring refuses even a session keyring of our own.
    let e = SecretError::KernelKeyringRefused {
        action: "store",
        command: "set",
        nothing: ": nothing was stored",
        detail: "Couldn't access platform storage: AccessDenied".into(),
    };
    insta::assert_snapshot!("error_kernel_keyring_refused", error_text(e.into(), false));
}

/// The last line of `check` and `post` for people, when coverage is not full.
#[test]
fn next_steps_are_pinned() {
    let check = |raws: Vec<Raw>| {
        let rows: Vec<_> = raws
            .into_iter()
            .enumerate()
            .map(|(i, raw)| (target(i as u16), synapse::classify_check(&raw.received())))
            .collect();
        report::check_next_step(&rows).unwrap_or_else(|| "(none)".into())
    };
    let valid = || Raw::ok(json!({"has_pat": true, "pat_valid": true, "rejection_reason": null}));
    let no_pat = || Raw::ok(json!({"has_pat": false, "pat_valid": false, "rejection_reason": NO_PAT}));
    let post = |uids: &[usize]| {
        let rows: Vec<_> = post_rows().into_iter().filter(|(t, _)| uids.contains(&(t.uid as usize))).collect();
        report::post_next_step(&rows).unwrap_or_else(|| "(none)".into())
    };
    let lines = [
        format!("check, all valid:            {}", check(vec![valid(), valid()])),
        format!("check, 1 of 2 lacks it:      {}", check(vec![valid(), no_pat()])),
        format!("check, 0/3, none answers:    {}", check(vec![Raw::Timeout, Raw::Timeout, Raw::ConnectionRefused])),
        format!("post, all covered:           {}", post(&[0, 1])),
        format!("post, 1 identity locked:     {}", post(&[0, 5])),
        format!("post, locked and silent:     {}", post(&[0, 5, 7])),
        format!("post, silent:                {}", post(&[0, 7])),
    ];
    insta::assert_snapshot!("next_steps", lines.join("\n"));
}

// ---- status -----------------------------------------------------------------------------

/// `status` (human and `--json`) from a fixed state file: one validator of each coverage.
#[test]
fn status_output_is_pinned() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (five_min_ago, at_midnight) = (now - 330_000, 1_798_675_200_000u64);
    let entry = |uid: u16, coverage: &str, check: Option<(&str, Option<&str>)>, sent: Option<&str>, failures: u32| {
        json!({
            "target": target(uid),
            "coverage": coverage,
            "last_check": check.map(|(status, reason)| json!({"status": status, "reason": reason, "at_ms": five_min_ago})),
            "last_broadcast": sent.map(|status| json!({"status": status, "reason": null, "at_ms": five_min_ago})),
            "axon_uuid": null,
            "reachable": uid != 4,
            "failures": failures,
            "next_check_ms": at_midnight,
            "owes_broadcast": false,
            "hold": if coverage == "held" { json!("identity_locked") } else { Value::Null },
        })
    };
    let state: State = serde_json::from_value(json!({
        "version": 1,
        "tracker": {
            "validators": {
                "0": entry(0, "covered", Some(("valid", None)), None, 0),
                "1": entry(1, "covered", Some(("no_pat", Some(NO_PAT))), Some("accepted"), 0),
                "2": entry(2, "unconfirmed", Some(("inconclusive", Some(GITHUB_UNAVAILABLE))), None, 0),
                "3": entry(3, "failing", Some(("store_unavailable", Some(STORE_UNAVAILABLE))), None, 2),
                "4": entry(4, "failing", Some(("no_response", Some("timed out"))), None, 3),
                "5": entry(5, "held", Some(("no_pat", Some(NO_PAT))), Some("identity_locked"), 0),
            },
            "pat": "valid",
        },
        "pat": {
            "masked": "***wxyz", "salt": "00", "fingerprint": "00", "github_login": "octo-miner",
            "expires": "2027-01-31 00:00:00 UTC", "verdict": "valid", "reason": null, "validated_ms": five_min_ago,
        },
        "last_sweep_ms": five_min_ago,
        "next_sweep_ms": at_midnight,
        "source": "chain wss://entrypoint-finney.opentensor.ai:443 at block 4000000",
        "updated_ms": now - 45_000,
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    StateFile::in_dir(dir.path()).save(&state).unwrap();
    let state_dir = dir.path().to_str().unwrap();

    let out = common::agent(&["status", "--state-dir", state_dir], &[]);
    assert_eq!(common::code(&out), 3, "partial coverage: {}", common::all_output(&out));
    insta::assert_snapshot!("status_text", ages_hidden(&common::text(&out.stdout)));

    let out = common::agent(&["status", "--state-dir", state_dir, "--json"], &[]);
    assert_eq!(common::code(&out), 3, "{}", common::all_output(&out));
    let mut json = common::stdout_json(&out);
    hide_times(&mut json, now);
    insta::assert_snapshot!("status_json", report::python_json(&json, true));

    // Part 15 item 4: coverage only as known now. GitHub rejects the PAT: nobody is covered.
    let mut rejected = state.clone();
    rejected.tracker.pat = gittensor_miner_agent::github::PatStanding::Rejected;
    if let Some(pat) = rejected.pat.as_mut() {
        (pat.verdict, pat.reason) = (rejected.tracker.pat, Some("GitHub GET /user: 401 Bad credentials".into()));
    }
    StateFile::in_dir(dir.path()).save(&rejected).unwrap();
    let out = common::agent(&["status", "--state-dir", state_dir], &[]);
    assert_eq!(common::code(&out), 3, "{}", common::all_output(&out));
    let said = common::text(&out.stdout);
    assert!(!said.contains("┆ covered"), "{said}");
    insta::assert_snapshot!("status_text_pat_rejected", ages_hidden(&said));

    // Every validator silent for ten minutes (longer than a liveness interval): said first.
    let since = now - 600_000;
    let mut silent = serde_json::to_value(&state).unwrap();
    for e in silent["tracker"]["validators"].as_object_mut().unwrap().values_mut() {
        e["reachable"] = json!(false);
    }
    silent["alerts"] =
        json!({"silent_since": {"0": since, "1": since, "2": since, "3": since, "4": since, "5": since}});
    let silent: State = serde_json::from_value(silent).unwrap();
    StateFile::in_dir(dir.path()).save(&silent).unwrap();
    let out = common::agent(&["status", "--state-dir", state_dir], &[]);
    assert_eq!(common::code(&out), 3, "{}", common::all_output(&out));
    let said = common::text(&out.stdout).replace(&gittensor_miner_agent::clock::clock_utc(since), "HH:MM UTC");
    assert!(said.starts_with("NO VALIDATOR HAS ANSWERED SINCE"), "{said}");
    assert!(said.contains("\n0/6 validators hold your valid PAT (2 more did when last reachable)"), "{said}");
    insta::assert_snapshot!("status_text_none_reachable", ages_hidden(&said));
}

/// "45 s ago" → "N s ago": the only part of `status` that depends on when the test runs.
fn ages_hidden(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = ["s ago", "min ago", "h ago"].iter().filter_map(|unit| rest.find(&format!(" {unit}"))).min() {
        let digits = rest[..at].trim_end_matches(|c: char| c.is_ascii_digit());
        out.push_str(digits);
        out.push('N');
        rest = &rest[at..];
        let unit_end = rest.find("ago").unwrap() + 3;
        out.push_str(&rest[..unit_end]);
        rest = &rest[unit_end..];
    }
    out.push_str(rest);
    out
}

/// Times relative to the test's start, as offsets.
fn hide_times(value: &mut Value, now: u64) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.ends_with("_ms") {
                    if let Some(ms) = v.as_u64().filter(|ms| *ms <= now && now - ms < 3_600_000) {
                        *v = json!(format!("now - {} s", (now - ms) / 1000));
                    }
                } else {
                    hide_times(v, now);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| hide_times(v, now)),
        _ => {}
    }
}
