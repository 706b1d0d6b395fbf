//! The Done-when of Part 7, on real axons: for the same validators, every reference key of
//! `check --json` and `post --all --json` equals what `gitt miner check/post --json` prints
//! (`success` aside), the reference's answers coming from bittensor 10.3.1's own `Dendrite`
//! (`tests/reference/gitt_json.py`). One validator of each kind the emulator can play.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const BAD_PAT: &str = "ghp_RevokedLongAgo_00000000";
const FLAKY_PAT: &str = "ghp_GitHubDownForIt_1111111";

/// uid 0 valid · 1 no PAT · 2 invalid PAT · 3 inconclusive (its GitHub look-up fails) ·
/// 4 store unavailable · 5 does not know our hotkey (403) · 6 down (refused) · 7 silent.
fn network() -> Emulator {
    let emu = Emulator::start(8);
    emu.preload(&[0]);
    emu.control(json!({"op": "github_token", "token": BAD_PAT, "valid": false}));
    emu.control(json!({"op": "preload", "uid": 2, "token": BAD_PAT}));
    emu.control(json!({"op": "github_token", "token": FLAKY_PAT, "status": 502}));
    emu.control(json!({"op": "preload", "uid": 3, "token": FLAKY_PAT}));
    emu.control(json!({"op": "store_unavailable", "uid": 4, "on": true}));
    emu.control(json!({"op": "allow", "uid": 5, "allowed": false}));
    emu.control(json!({"op": "down", "uid": 6}));
    emu.control(json!({"op": "delay", "uid": 7, "seconds": 30}));
    emu
}

fn gitt(emu: &Emulator, mode: &str) -> Value {
    let info = emu.dir.path().join("network.json");
    std::fs::write(&info, emu.info.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/gitt_json.py");
    let out = Command::new(python())
        .arg(script)
        .args([info.to_str().unwrap(), mode, "2", "octo-miner"])
        .env("GITTENSOR_MINER_PAT", PAT)
        .output()
        .unwrap();
    assert!(out.status.success(), "reference driver failed:\n{}", all_output(&out));
    // bittensor may log to stdout before the JSON: the object is the last thing printed.
    let stdout = text(&out.stdout);
    let start = stdout.rfind("\n{\n").map_or(0, |i| i + 1);
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Ours restricted to the reference's keys equals the reference, `success` aside, keys in
/// the reference's order and before ours.
fn assert_same_reference_keys(ours: &Value, theirs: &Value) {
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(ours)[..keys(theirs).len()], keys(theirs)[..]);
    for (key, value) in theirs.as_object().unwrap() {
        match key.as_str() {
            "success" => {}
            "results" => {
                let (ours, theirs) = (ours["results"].as_array().unwrap(), value.as_array().unwrap());
                assert_eq!(ours.len(), theirs.len());
                for (our_row, their_row) in ours.iter().zip(theirs) {
                    assert_eq!(keys(our_row)[..keys(their_row).len()], keys(their_row)[..]);
                    for (k, v) in their_row.as_object().unwrap() {
                        assert_eq!(
                            &our_row[k], v,
                            "uid {}: `{k}`\nours:   {our_row}\ntheirs: {their_row}",
                            their_row["uid"]
                        );
                    }
                }
            }
            _ => assert_eq!(&ours[key], value, "`{key}`"),
        }
    }
}

#[test]
fn check_and_post_all_print_what_gitt_prints() {
    let emu = network();
    let config = emu.write_config(
        "check_timeout_secs = 2\nbroadcast_timeout_secs = 2\n[retry]\nbase_secs = 0.2\nmax_secs = 0.5\npost_budget_secs = 3\n",
    );
    let config = config.to_str().unwrap();

    let theirs = gitt(&emu, "check");
    let out = agent(&["check", "--config", config, "--json"], &[]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let ours = stdout_json(&out);
    assert_same_reference_keys(&ours, &theirs);
    let statuses: Vec<&str> =
        ours["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "valid",
            "no_pat",
            "invalid_pat",
            "inconclusive",
            "store_unavailable",
            "blacklisted",
            "no_response",
            "no_response"
        ],
        "one of each kind"
    );

    // gitt first: it sends to everyone, so the agent's `--all` then meets the same validators.
    let theirs = gitt(&emu, "post");
    let out = agent(&["post", "--all", "--config", config, "--json"], &[("GITTENSOR_MINER_PAT", PAT)]);
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let ours = stdout_json(&out);
    assert_same_reference_keys(&ours, &theirs);
    assert_eq!(
        (theirs["accepted"].clone(), theirs["rejected"].clone(), theirs["no_response"].clone()),
        // 2 and 3 hold a PAT of another GitHub account (pinned): identity locked.
        (json!(2), json!(3), json!(3)),
        "{theirs}"
    );
}
