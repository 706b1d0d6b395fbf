//! `pat set | status | delete` through the Linux kernel keyring, with GitHub faked.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::json;

/// Runs the agent in its own kernel session keyring, feeding `stdin`.
fn agent_in_session(args: &[&str], stdin: &str) -> Output {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator/new_keyring_session.py");
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(python())
        .arg(helper)
        .arg(env!("CARGO_BIN_EXE_gittensor-miner-agent"))
        .args(args)
        .env_remove("GITTENSOR_MINER_PAT")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A config for the kernel keyring, with an account unique to this test run so that
/// parallel or earlier runs never share the entry.
fn keyring_config(emu: &Emulator, name: &str) -> String {
    let account = format!("{name}-{}", std::process::id());
    let config = emu.dir.path().join("pat.toml");
    std::fs::write(
        &config,
        format!(
            "github_api_url = {:?}\n[pat]\nstore = \"keyutils\"\naccount = {account:?}\n",
            emu.info["github_url"].as_str().unwrap()
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

#[test]
fn pat_set_status_delete_round_trip_in_the_kernel_keyring() {
    let emu = Emulator::start(0);
    emu.control(json!({"op": "github_token", "token": PAT, "login": "octo-miner", "id": 4242, "expiry": "2027-01-31 00:00:00 UTC"}));
    let config = keyring_config(&emu, "test");
    let config = config.as_str();

    let set = agent_in_session(&["pat", "set", "--stdin", "--config", config], &format!("{PAT}\n"));
    assert_eq!(code(&set), 0, "{}", all_output(&set));
    let said = text(&set.stdout);
    assert!(said.contains("@octo-miner") && said.contains("***5b4a") && said.contains("2027-01-31"), "{said}");

    // Another process, another session: found through the persistent keyring.
    let status = agent_in_session(&["pat", "status", "--json", "--config", config], "");
    assert_eq!(code(&status), 0, "{}", all_output(&status));
    let json = stdout_json(&status);
    assert!(json["source"].as_str().unwrap().contains("keyutils"), "{json}");
    assert_eq!(json["github"]["login"], "octo-miner");
    assert_eq!(json["github"]["expires"], "2027-01-31 00:00:00 UTC");
    assert_eq!(json["pat"], "***5b4a");

    let delete = agent_in_session(&["pat", "delete", "--config", config], "");
    assert_eq!(code(&delete), 0, "{}", all_output(&delete));
    let gone = agent_in_session(&["pat", "status", "--config", config], "");
    assert_eq!(code(&gone), 1);
    assert!(text(&gone.stderr).contains("pat set"), "{}", all_output(&gone));

    for out in [&set, &status, &delete, &gone] {
        assert!(!all_output(out).contains(PAT), "the PAT leaked");
    }
}

#[test]
fn pat_set_refuses_a_pat_github_rejects_and_stores_nothing() {
    let emu = Emulator::start(0);
    let config = keyring_config(&emu, "reject");
    let config = config.as_str();
    let set = agent_in_session(&["pat", "set", "--stdin", "--config", config], "ghp_unknown_token_000000\n");
    assert_eq!(code(&set), 1);
    assert!(text(&set.stderr).contains("GitHub rejects this PAT"), "{}", all_output(&set));
    assert!(!all_output(&set).contains("ghp_unknown_token_000000"));
    let status = agent_in_session(&["pat", "status", "--config", config], "");
    assert_eq!(code(&status), 1, "nothing was stored");
}

#[test]
fn pat_set_never_takes_the_pat_from_the_command_line() {
    let out = agent(&["pat", "set", PAT], &[]);
    assert_eq!(code(&out), 2, "clap refuses a positional PAT: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unexpected argument"), "{}", text(&out.stderr));
}
