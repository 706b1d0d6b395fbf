//! `check` and `post` against real bittensor 10.3.1 axons running gittensor's PAT semantics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gittensor_miner_agent::synapse::{self, CheckStatus};
use gittensor_miner_agent::transport::axon_v10::{build_request, Dendrite};
use gittensor_miner_agent::transport::{Provenance, Target, Transport};
use gittensor_miner_agent::wallet::Hotkey;
use serde_json::{json, Value};

const PAT_ENV: (&str, &str) = ("GITTENSOR_MINER_PAT", PAT);
const FAST_RETRY: &str = "check_timeout_secs = 1\nbroadcast_timeout_secs = 2\n[retry]\nbase_secs = 0.2\nfactor = 2.0\nmax_secs = 1\npost_budget_secs = 4\n";

fn result_for(json: &Value, uid: u64) -> &Value {
    json["results"].as_array().unwrap().iter().find(|r| r["uid"] == uid).unwrap()
}

#[test]
fn full_coverage_exits_zero_and_prints_the_reference_json() {
    let emu = Emulator::start(3);
    emu.preload(&[0, 1, 2]);
    let config = emu.write_config("");
    let out = agent(&["check", "--config", config.to_str().unwrap(), "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let json = stdout_json(&out);
    // The reference's keys, in the reference's order, with its meanings.
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        &keys[..9],
        [
            "success",
            "total_validators",
            "valid",
            "no_pat",
            "invalid_pat",
            "inconclusive",
            "no_response",
            "skipped",
            "results"
        ]
    );
    assert_eq!(
        (json["success"].clone(), json["total_validators"].clone(), json["valid"].clone()),
        (json!(true), json!(3), json!(3))
    );
    let row = result_for(&json, 1);
    assert_eq!((row["has_pat"].clone(), row["pat_valid"].clone()), (json!(true), json!(true)));
    assert!(row["hotkey"].as_str().unwrap().ends_with("..."));
    assert_eq!(emu.counts("broadcasts"), [0, 0, 0], "check never sends the PAT");
}

#[test]
fn check_reports_partial_coverage_with_its_own_exit_code() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    let config = emu.write_config("");
    let out = agent(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("1/2 validators have a valid PAT stored."), "{stdout}");
    assert!(stdout.contains("No PAT stored for this miner"), "{stdout}");
    assert_eq!(
        stdout.trim_end().lines().last(),
        Some("Next step: `gittensor-miner-agent post` sends the PAT to the validator that lacks it, and nowhere else."),
        "it ends with what to do: {stdout}"
    );
    emu.preload(&[1]);
    let covered = agent(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code(&covered), 0, "{}", all_output(&covered));
    assert!(!text(&covered.stdout).contains("Next step"), "nothing to do: {}", text(&covered.stdout));
}

#[test]
fn post_sends_the_pat_only_to_the_validator_that_lacks_it() {
    let emu = Emulator::start(3);
    emu.preload(&[0, 2]);
    let config = emu.write_config("");
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--json"], &[PAT_ENV]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(emu.counts("broadcasts"), [0, 1, 0]);
    let json = stdout_json(&out);
    assert_eq!(json["success"], true);
    assert_eq!(json["github_login"], "octo-miner");
    assert_eq!((json["accepted"].clone(), json["sent"].clone()), (json!(3), json!(1)));
    assert_eq!(result_for(&json, 1)["status"], "accepted");
    assert_eq!(result_for(&json, 0)["status"], "already_valid");
    assert_eq!(
        (result_for(&json, 0)["accepted"].clone(), result_for(&json, 0)["broadcast"].clone()),
        (json!(true), json!(false))
    );
    // And the validator really holds it now.
    let out = agent(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
}

#[test]
fn post_all_sends_to_every_eligible_validator() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    let config = emu.write_config("");
    let out = agent(&["post", "--all", "--config", config.to_str().unwrap()], &[PAT_ENV]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(emu.counts("broadcasts"), [1, 1]);
    assert_eq!(emu.counts("checks"), [0, 0]);
}

/// gittensor issue #1481: `gitt miner post` exits 0 and reports success when a validator
/// never answered. We retry it, then say plainly that coverage is partial.
#[test]
fn a_silent_validator_is_retried_and_partial_coverage_is_reported() {
    let emu = Emulator::start(3);
    emu.control(json!({"op": "delay", "uid": 2, "seconds": 30}));
    let config = emu.write_config(FAST_RETRY);
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--json"], &[PAT_ENV]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let json = stdout_json(&out);
    assert_eq!(json["success"], false);
    assert_eq!((json["accepted"].clone(), json["no_response"].clone()), (json!(2), json!(1)));
    let silent = result_for(&json, 2);
    assert_eq!((silent["status"].clone(), silent["status_code"].clone()), (json!("no_response"), json!(408)));
    assert_eq!(silent["accepted"], Value::Null, "no answer: the reference's null");
    assert_eq!(silent["rejection_reason"], Value::Null, "bittensor leaves the reason null: ours is `detail`");
    assert!(silent["detail"].as_str().is_some_and(|d| !d.is_empty()), "{silent}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not every eligible validator holds your PAT"), "{stderr}");
    // Retried (more than one check), but on the schedule: base 0.2 s doubling to a 1 s
    // cap within 4 s, each attempt also waiting out a 1 s timeout, allows at most 4.
    let checks = emu.counts("checks")[2];
    assert!((2..=4).contains(&checks), "silent validator checked {checks} times");
    assert_eq!(
        emu.counts("broadcasts"),
        [1, 1, 0],
        "the PAT is never sent to a validator that did not say it lacks it"
    );
}

#[test]
fn a_validator_that_comes_back_during_the_retries_gets_the_pat() {
    let emu = Emulator::start(2);
    emu.control(json!({"op": "down", "uid": 1}));
    let config =
        emu.write_config("check_timeout_secs = 1\n[retry]\nbase_secs = 0.5\nmax_secs = 1\npost_budget_secs = 20\n");
    let config_arg = config.to_str().unwrap().to_owned();
    let run = std::thread::spawn(move || agent(&["post", "--config", &config_arg, "--json"], &[PAT_ENV]));
    std::thread::sleep(Duration::from_secs(3));
    emu.control(json!({"op": "up", "uid": 1}));
    let out = run.join().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(emu.counts("broadcasts"), [1, 1]);
    assert!(text(&out.stderr).contains("retrying"), "{}", text(&out.stderr));
}

#[test]
fn identity_locked_is_reported_as_not_fixable_by_resending() {
    let emu = Emulator::start(2);
    emu.control(json!({"op": "pin_identity", "uid": 1, "github_id": "999"}));
    let config = emu.write_config(FAST_RETRY);
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--json"], &[PAT_ENV]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let json = stdout_json(&out);
    assert_eq!(result_for(&json, 1)["status"], "identity_locked");
    assert_eq!(result_for(&json, 1)["accepted"], false);
    assert!(text(&out.stderr).contains("re-sending cannot fix it"), "{}", text(&out.stderr));
    assert_eq!(emu.counts("broadcasts"), [1, 1], "no second attempt at a locked identity");

    // The summary says what can help, not "again later": post again would not.
    let out = agent(&["post", "--config", config.to_str().unwrap()], &[PAT_ENV]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let said = all_output(&out);
    let last = text(&out.stdout).trim_end().lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("Next step: 1 validator pinned another GitHub account"), "{said}");
    assert!(last.contains("first registered") && last.contains("re-register the hotkey"), "{said}");
    assert!(!said.contains("again later"), "{said}");
}

#[test]
fn store_unavailable_is_retried_and_never_treated_as_missing() {
    let emu = Emulator::start(1);
    emu.control(json!({"op": "store_unavailable", "uid": 0, "on": true}));
    let config = emu.write_config(FAST_RETRY);
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--json"], &[PAT_ENV]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let json = stdout_json(&out);
    let row = result_for(&json, 0);
    assert_eq!(row["status"], "store_unavailable");
    // It answered (200) and holds no PAT of ours: the reference's categories count that as
    // rejected, as `gitt miner post` would have been. Ours say it was not sent, and why.
    assert_eq!((row["accepted"].clone(), row["status_code"].clone()), (json!(false), json!(200)));
    assert_eq!(row["rejection_reason"], "Validator PAT store temporarily unavailable; please retry.");
    assert_eq!(row["broadcast"], false);
    assert!(row["detail"].as_str().unwrap().starts_with("not sent"), "{row}");
    assert_eq!((json["rejected"].clone(), json["no_response"].clone()), (json!(1), json!(0)));
    assert_eq!(emu.counts("broadcasts"), [0]);
    assert!(emu.counts("checks")[0] >= 2, "retried");
}

#[test]
fn a_hotkey_the_validator_does_not_know_is_blacklisted_with_403() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    emu.control(json!({"op": "allow", "uid": 0, "allowed": false}));
    let config = emu.write_config("");
    let out = agent(&["check", "--config", config.to_str().unwrap(), "--json"], &[]);
    assert_eq!(code(&out), 3);
    let json = stdout_json(&out);
    assert_eq!(
        (result_for(&json, 0)["status"].clone(), result_for(&json, 0)["status_code"].clone()),
        (json!("blacklisted"), json!(403))
    );
    assert_eq!(json["no_response"], 1, "the reference counts a 403 as no_response");
    assert!(text(&out.stderr).contains("not see this hotkey as registered"));
}

#[test]
fn the_pat_never_appears_in_any_output_at_any_verbosity() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    emu.control(json!({"op": "pin_identity", "uid": 1, "github_id": "999"}));
    let config = emu.write_config(FAST_RETRY);
    for verbosity in ["", "-v", "-vv"] {
        let mut args = vec!["post", "--config", config.to_str().unwrap()];
        if !verbosity.is_empty() {
            args.push(verbosity);
        }
        for json in [false, true] {
            let mut args = args.clone();
            if json {
                args.push("--json");
            }
            let out = agent(&args, &[PAT_ENV, ("RUST_LOG", if verbosity == "-vv" { "trace" } else { "info" })]);
            let all = all_output(&out);
            assert!(!all.contains(PAT), "PAT leaked with {args:?}:\n{all}");
            assert!(!all.contains(&PAT[4..]), "PAT body leaked with {args:?}");
        }
    }
}

#[test]
fn a_revoked_pat_is_refused_before_anything_is_sent() {
    let emu = Emulator::start(1);
    emu.control(json!({"op": "github_token", "token": PAT, "valid": false}));
    let config = emu.write_config("");
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--json"], &[PAT_ENV]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let json = stdout_json(&out);
    assert_eq!(json["success"], false);
    assert!(json["error"]["message"].as_str().unwrap().contains("GitHub rejects the PAT"));
    assert_eq!(emu.counts("broadcasts"), [0]);
}

// ---- The transport, driven directly, against the real axon ------------------------------

fn target(emu: &Emulator, uid: usize) -> Target {
    let v = emu.validator(uid);
    Target {
        uid: uid as u16,
        hotkey: v["hotkey"].as_str().unwrap().into(),
        ip: v["ip"].as_str().unwrap().parse().unwrap(),
        port: v["port"].as_u64().unwrap() as u16,
    }
}

/// The miner's hotkey (from the emulator's real wallet) and a dendrite signing with it.
fn miner_dendrite(emu: &Emulator) -> (Arc<Hotkey>, Dendrite) {
    let hotkey = Arc::new(Hotkey::load(emu.miner_hotkey_file().as_ref()).unwrap());
    let dendrite = Dendrite::new(hotkey.clone());
    (hotkey, dendrite)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Proves the acceptance tests can fail: the real axon checks our signature.
#[test]
fn a_tampered_signature_is_refused_by_the_real_axon_with_401() {
    let emu = Emulator::start(1);
    let (hotkey, dendrite) = miner_dendrite(&emu);
    let target = target(&emu, 0);
    let call = synapse::pat_check_call(Duration::from_secs(5));
    runtime().block_on(async {
        let genuine = dendrite.call(&target, &call).await.unwrap();
        assert_eq!(genuine.http_status, 200);
        assert_eq!(genuine.provenance, Provenance::Unsigned, "bittensor 10.3.1 does not sign 200 answers");

        let mut request = build_request(&hotkey, dendrite.uuid(), dendrite.next_nonce(), &target, &call);
        let signature = &mut request.headers.iter_mut().find(|(k, _)| k == "bt_header_dendrite_signature").unwrap().1;
        let last = signature.pop().unwrap();
        signature.push(if last == '0' { '1' } else { '0' });
        let refused = dendrite.send(&target, request, call.timeout).await.unwrap();
        assert_eq!(refused.http_status, 401);
        assert!(refused.message.as_deref().unwrap_or_default().contains("Signature mismatch"), "{:?}", refused.message);
        // The axon's error answers are signed: this one verifies against the validator.
        assert_eq!(refused.provenance, Provenance::Verified);
        assert!(refused.axon_uuid.is_some());
        assert_eq!(synapse::classify_check(&Ok(refused)).status, CheckStatus::Refused);
    });
    assert_eq!(emu.counts("checks"), [1], "the tampered request never reached the handler");
}

/// A validator answering on an endpoint the chain gives to another hotkey (a moved or
/// spoofed axon) is detected: its signed answer does not verify against the hotkey we meant.
#[test]
fn an_answer_signed_by_another_hotkey_is_not_trusted() {
    let emu = Emulator::start(2);
    let (_, dendrite) = miner_dendrite(&emu);
    // Validator 1's hotkey, validator 0's endpoint.
    let mut wrong = target(&emu, 0);
    wrong.hotkey = target(&emu, 1).hotkey;
    let reply = runtime().block_on(dendrite.call(&wrong, &synapse::pat_check_call(Duration::from_secs(5))));
    let reply = reply.unwrap();
    assert_eq!(reply.http_status, 401, "the real axon refuses a request meant for another hotkey");
    assert_eq!(reply.provenance, Provenance::Forged);
    assert_eq!(synapse::classify_check(&Ok(reply)).status, CheckStatus::Malformed);
}

/// Our clock running behind (an old nonce) is reported as clock skew by the real axon's
/// own message, not as "validator refused us".
#[test]
fn a_nonce_outside_the_axons_window_is_classified_as_clock_skew() {
    let emu = Emulator::start(1);
    let (hotkey, dendrite) = miner_dendrite(&emu);
    let target = target(&emu, 0);
    let call = synapse::pat_check_call(Duration::from_secs(5));
    let minute_ago = dendrite.next_nonce() - 60_000_000_000;
    let request = build_request(&hotkey, dendrite.uuid(), minute_ago, &target, &call);
    let reply = runtime().block_on(dendrite.send(&target, request, call.timeout)).unwrap();
    assert_eq!(reply.http_status, 401);
    let answer = synapse::classify_check(&Ok(reply));
    assert_eq!(answer.status, CheckStatus::ClockSkew, "{:?}", answer.rejection_reason);
    assert!(answer.rejection_reason.unwrap().contains("clock"));
}

/// A hostile peer on a validator's endpoint: an endless body, or a body that trickles in.
/// The answer is capped and timed out; the call returns, classified, and nothing panics.
#[test]
fn oversized_and_trickling_answers_are_cut_off() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n");
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..800 {
                if i == 1 {
                    std::thread::sleep(Duration::from_millis(500)); // one byte-ish at a time
                    if stream.write_all(b" ").is_err() {
                        break;
                    }
                } else if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    });
    let hotkey = Arc::new(Hotkey::from_seed(&[7; 32]));
    let dendrite = Dendrite::new(hotkey);
    let target = Target {
        uid: 0,
        hotkey: Hotkey::from_seed(&[8; 32]).ss58().to_owned(),
        ip: "127.0.0.1".parse().unwrap(),
        port,
    };
    let call = synapse::pat_check_call(Duration::from_secs(2));
    runtime().block_on(async {
        let huge = dendrite.call(&target, &call).await;
        assert_eq!(
            huge.as_ref().unwrap_err(),
            &gittensor_miner_agent::transport::CallError::TooLarge { limit: 64 * 1024 }
        );
        assert_eq!(synapse::classify_check(&huge).status, CheckStatus::Malformed);
        let started = std::time::Instant::now();
        let trickle = dendrite.call(&target, &call).await;
        assert_eq!(trickle.as_ref().unwrap_err(), &gittensor_miner_agent::transport::CallError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(4), "the timeout bounds the whole answer");
        assert_eq!(synapse::classify_check(&trickle).status, CheckStatus::NoResponse);
    });
}

/// The liveness probe against a real axon: at rest it is accepted (no handler runs, nothing
/// above TRACE in the validator's log); after a restart the axon no longer knows our dendrite
/// and refuses it, naming its new instance; the probe after that is quiet again.
#[test]
fn liveness_is_quiet_at_rest_and_sees_a_restart_as_a_forgotten_dendrite() {
    use gittensor_miner_agent::transport::Liveness;
    let emu = Emulator::start(1);
    let (_, dendrite) = miner_dendrite(&emu);
    let target = target(&emu, 0);
    let rt = runtime();
    let quiet = Liveness::Alive { instance: None, forgot_us: false };
    assert_eq!(rt.block_on(dendrite.liveness(&target, Duration::from_secs(3))), quiet, "first contact");
    let answer = rt.block_on(dendrite.call(&target, &synapse::pat_check_call(Duration::from_secs(5)))).unwrap();
    assert_eq!(answer.http_status, 200, "our own nonces still work after the probe");
    // Past the axon's window for recent nonces (4 s plus the ping's 1 s), only its memory of
    // our dendrite lets a probe through.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(rt.block_on(dendrite.liveness(&target, Duration::from_secs(3))), quiet, "at rest");
    assert_eq!(emu.counts("checks"), [1], "the probe reached no handler");
    assert_eq!(emu.stats()["log_errors"]["count"], 0, "{}", emu.stats()["log_errors"]);

    emu.control(json!({"op": "restart", "uid": 0}));
    let uuid = emu.stats()["validators"][0]["uuid"].as_str().unwrap().to_owned();
    let after = rt.block_on(dendrite.liveness(&target, Duration::from_secs(3)));
    assert_eq!(after, Liveness::Alive { instance: Some(uuid), forgot_us: true });
    assert_eq!(emu.stats()["log_errors"]["count"], 1, "one refused ping per restart");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(rt.block_on(dendrite.liveness(&target, Duration::from_secs(3))), quiet, "re-introduced");
    assert_eq!(emu.stats()["log_errors"]["count"], 1);

    emu.control(json!({"op": "down", "uid": 0}));
    assert_eq!(rt.block_on(dendrite.liveness(&target, Duration::from_secs(3))), Liveness::Unreachable);
}

// ---- Each validator on its own pipeline; the budget is a deadline ------------------------

/// One validator accepts the connection and never answers; two lack the PAT. They get it
/// while the silent one's check (15 s timeout) is still in flight, and `post` stops at its
/// 5 s budget, not at the check's timeout: partial coverage, JSON still printed.
#[test]
fn post_covers_validators_while_a_silent_one_hangs_and_stops_at_the_retry_budget() {
    let emu = Emulator::start(3);
    emu.control(json!({"op": "delay", "uid": 0, "seconds": 600}));
    let config = emu.write_config("check_timeout_secs = 15\nbroadcast_timeout_secs = 15\n");
    let config_arg = config.to_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let run = std::thread::spawn(move || {
        let out = agent(&["post", "--config", &config_arg, "--json", "--retry-budget", "5"], &[PAT_ENV]);
        (out, std::time::Instant::now())
    });
    let covered = wait_until(Duration::from_secs(15), || emu.counts("broadcasts")[1..] == [1, 1]);
    let covered_after = started.elapsed();
    eprintln!("both validators that lacked the PAT got it {covered_after:?} after `post` started");
    let (out, exited) = run.join().unwrap();
    let took = exited - started;
    eprintln!("`post --retry-budget 5` exited {:?} after it started (code {})", took, code(&out));
    assert!(covered, "not covered: {}", all_output(&out));
    assert!(covered_after <= Duration::from_secs(3), "the silent validator held the others up: {covered_after:?}");
    assert_eq!(emu.counts("checks")[0], 1, "the silent validator's check was still in flight");
    assert!(took <= Duration::from_secs(7), "the 5 s budget is a deadline, yet `post` took {took:?}");
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let json = stdout_json(&out);
    assert_eq!(json["success"], false);
    assert_eq!((json["accepted"].clone(), json["no_response"].clone()), (json!(2), json!(1)));
    assert_eq!(result_for(&json, 0)["status"], "no_response");
    assert_eq!(result_for(&json, 1)["status"], "accepted");
    assert_eq!(emu.counts("broadcasts"), [0, 1, 1]);
}

#[test]
fn a_zero_or_negative_retry_budget_is_blamed_on_the_flag() {
    let emu = Emulator::start(1);
    let config = emu.write_config("");
    for value in ["0", "-1", "-0.5"] {
        let flag = format!("--retry-budget={value}");
        let out = agent(&["post", "--config", config.to_str().unwrap(), &flag], &[PAT_ENV]);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 1, "{flag}: {}", all_output(&out));
        assert!(stderr.contains("--retry-budget"), "{flag}: the error must name the flag: {stderr}");
        assert!(!stderr.contains("config file"), "{flag}: the config file is not to blame: {stderr}");
    }
    assert_eq!(emu.counts("checks"), [0]);
    assert_eq!(emu.counts("broadcasts"), [0]);
}

/// Written the usual way, with a space, `-1` is the flag's (bad) value, not an unknown option.
#[test]
fn a_negative_retry_budget_written_with_a_space_is_blamed_on_the_flag() {
    let out = agent(&["post", "--retry-budget", "-1", "--hotkey-file", "/nonexistent/hotkey"], &[PAT_ENV]);
    let stderr = text(&out.stderr);
    assert!([1, 2].contains(&code(&out)), "{}", all_output(&out));
    assert!(stderr.contains("--retry-budget"), "the error must name the flag: {stderr}");
}

#[test]
fn the_retry_budget_bounds_post_even_when_the_chain_never_answers() {
    let emu = Emulator::start(1);
    let node = SilentListener::start();
    let config = emu.write_chain_config(&format!("ws://127.0.0.1:{}", node.port), "");
    let started = std::time::Instant::now();
    let out = agent(&["post", "--config", config.to_str().unwrap(), "--retry-budget", "2"], &[PAT_ENV]);
    let took = started.elapsed();
    eprintln!("post with a silent chain node and a 2 s budget returned after {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {}", all_output(&out));
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("retry budget") && stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(emu.counts("broadcasts"), [0]);
}
