//! Bad input from the operator: a clear error naming the culprit and the fix, exit 1, no panic.

mod common;

use common::*;

fn config_with(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const ONE_VALIDATOR: &str = "\n[[validators]]\nuid = 0\nhotkey = \"5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi\"\nip = \"127.0.0.1\"\nport = 9\n";

#[test]
fn an_unknown_config_key_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&dir, "min_vtrst = 0.3\n");
    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(err.contains(&config) && err.contains("min_vtrst") && err.contains("config.example.toml"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn a_missing_config_file_given_explicitly_is_an_error() {
    let out = agent(&["check", "--config", "/nonexistent/agent.toml"], &[]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: cannot read config file /nonexistent/agent.toml: it does not exist; check the path given to --config"
    );
}

#[test]
fn an_unquoted_network_name_is_told_to_be_quoted_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&dir, "netuid = 74\nnetwork = finney\n");
    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: config file {config}, line 2: `network = finney`: text must be in quotes: `network = \"finney\"`"
        )
    );
}

/// `pat` reads only the config: `--help` lists none of the chain's or wallet's flags, and
/// every flag says what it does.
#[test]
fn pat_commands_list_only_the_flags_they_use() {
    for command in ["set", "status", "delete"] {
        let out = agent(&["pat", command, "--help"], &[]);
        assert_eq!(code(&out), 0);
        let help = text(&out.stdout);
        for unused in ["--network", "--rpc-url", "--netuid", "--min-vtrust", "--min-stake", "--wallet", "--hotkey"] {
            assert!(!help.contains(unused), "pat {command} --help lists {unused}:\n{help}");
        }
        assert!(help.contains("--config"), "{help}");
    }
    for args in [&["status", "--help"][..], &["pat", "status", "--help"]] {
        let help = text(&agent(args, &[]).stdout);
        let json = help.lines().find(|l| l.trim_start().starts_with("--json")).unwrap_or_default();
        assert!(json.contains("JSON"), "{args:?}: --json has no help text:\n{help}");
    }
}

#[test]
fn a_missing_hotkey_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&dir, &format!("wallets_dir = {:?}\nwallet = \"nope\"\n{ONE_VALIDATOR}", dir.path()));
    let out = agent(&["check", "--config", &config, "--json"], &[]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(err.contains("nope/hotkeys/default") && err.contains("does not exist"), "{err}");
    let json = stdout_json(&out);
    assert_eq!(json["success"], false);
    assert_eq!(json["error"]["type"], "cli_error");
}

#[test]
fn an_encrypted_hotkey_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("hotkey");
    std::fs::write(&keyfile, b"$NACL\x8f\x01\x02ciphertext").unwrap();
    let config = config_with(&dir, &format!("hotkey_file = {keyfile:?}\n{ONE_VALIDATOR}"));
    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(err.contains("is encrypted") && err.contains(keyfile.to_str().unwrap()), "{err}");
}

#[test]
fn an_unreadable_hotkey_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("hotkey-dir");
    std::fs::create_dir(&keyfile).unwrap(); // reading a directory fails like a permission error
    let config = config_with(&dir, &format!("hotkey_file = {keyfile:?}\n{ONE_VALIDATOR}"));
    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("cannot be read"), "{}", text(&out.stderr));
}

#[test]
fn post_without_any_pat_says_how_to_store_one() {
    let emu = Emulator::start(1);
    let config = emu.write_config("");
    let out = agent(&["post", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("gittensor-miner-agent pat set"), "{}", text(&out.stderr));
    assert_eq!(emu.counts("broadcasts"), [0]);
}

#[test]
fn a_bad_flag_value_is_blamed_on_the_flag() {
    let out = agent(&["check", "--min-vtrust", "7"], &[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("--min-vtrust"), "{}", text(&out.stderr));
}

/// The agent under a deadline and a 4 GiB address-space cap: a read that never ends (a FIFO)
/// or never stops growing (`/dev/zero`) fails the test instead of hanging it or filling the
/// machine.
fn agent_within_bounds(args: &[&str]) -> std::process::Output {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_gittensor-miner-agent"))
        .args(args)
        .env_remove("GITTENSOR_MINER_PAT")
        .env_remove("GITTENSOR_MINER_AGENT_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Generous: the answer takes milliseconds; only a hang comes near this.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("`{}` still ran after 30 s: {}", args.join(" "), text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn fifo_in(dir: &tempfile::TempDir) -> String {
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo failed");
    fifo.to_str().unwrap().to_owned()
}

#[test]
fn a_config_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo_in(&dir);
    for (config, what) in [("/dev/zero", "a character device"), (fifo.as_str(), "a FIFO (named pipe)")] {
        let out = agent_within_bounds(&["check", "--config", config]);
        assert_eq!(code(&out), 1, "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr).trim_end(),
            format!("error: cannot read config file {config}: it is {what}, not a regular file; point --config at the agent's TOML config file")
        );
    }
}

#[test]
fn a_hotkey_file_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo_in(&dir);
    let config = config_with(&dir, ONE_VALIDATOR);
    for (keyfile, what) in [("/dev/zero", "a character device"), (fifo.as_str(), "a FIFO (named pipe)")] {
        let out = agent_within_bounds(&["check", "--config", &config, "--hotkey-file", keyfile]);
        assert_eq!(code(&out), 1, "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "hotkey file {keyfile} cannot be read: it is {what}, not a regular file; point `--hotkey-file`"
            )),
            "{err}"
        );
        assert!(err.contains("the hotkey file btcli wrote"), "{err}");
    }
}

#[test]
fn an_oversize_config_or_hotkey_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big_config = dir.path().join("big.toml");
    // Valid TOML all the way: only its size is wrong.
    std::fs::write(&big_config, "#".repeat(1024 * 1024) + "\n").unwrap();
    let big_config = big_config.to_str().unwrap();
    let out = agent_within_bounds(&["check", "--config", big_config]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("error: cannot read config file {big_config}: it is larger than 1024 KiB, more than such a file ever holds; point --config at the agent's TOML config file")
    );

    let config = config_with(&dir, ONE_VALIDATOR);
    let big_key = dir.path().join("hotkey");
    std::fs::write(&big_key, " ".repeat(64 * 1024 + 1)).unwrap();
    let big_key = big_key.to_str().unwrap();
    let out = agent_within_bounds(&["check", "--config", &config, "--hotkey-file", big_key]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(err.contains(&format!("hotkey file {big_key} cannot be read: it is larger than 64 KiB")), "{err}");
}

/// A plain-text transport to another machine: `http://` GitHub would carry the PAT in clear
/// text, and a `ws://` chain decides who receives it. Refused, saying how to allow it; once
/// allowed, warned about each time it is used. (No peer is reached: the names do not resolve.)
#[test]
fn plain_text_transport_to_another_machine_is_refused_unless_allowed_and_then_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("hotkey");
    std::fs::write(&keyfile, format!(r#"{{"secretSeed":"0x{}"}}"#, "11".repeat(32))).unwrap();
    let hotkey = format!("hotkey_file = {:?}\n[pat]\nstore = \"none\"\n", keyfile.to_str().unwrap());
    let pat = [("GITTENSOR_MINER_PAT", PAT)];

    let config = config_with(&dir, &format!("rpc_url = \"ws://chain.invalid:9944\"\n{hotkey}"));
    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let err = text(&out.stderr);
    assert!(err.contains("rpc_url") && err.contains("plain-text ws:// to another machine"), "{err}");
    assert!(err.contains("allow_insecure_transport = true") && !err.contains("cannot connect"), "{err}");

    let config = config_with(&dir, &format!("github_api_url = \"http://github.invalid\"\n{hotkey}{ONE_VALIDATOR}"));
    let out = agent(&["post", "--config", &config], &pat);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let err = text(&out.stderr);
    assert!(err.contains("github_api_url") && err.contains("the PAT would travel in clear text"), "{err}");
    assert!(!err.contains("GitHub unreachable"), "nothing was sent: {err}");

    // Allowed: used, and said so each time.
    let allowed = format!("allow_insecure_transport = true\nrpc_url = \"ws://chain.invalid:9944\"\ngithub_api_url = \"http://github.invalid\"\n{hotkey}");
    let out = agent(&["check", "--config", &config_with(&dir, &allowed)], &[]);
    let err = text(&out.stderr);
    assert!(err.contains("cannot connect to the chain at ws://chain.invalid:9944"), "{err}");
    assert_eq!(
        err.matches("reading the chain from ws://chain.invalid:9944 over plain-text ws://").count(),
        2,
        "once per try: {err}"
    );
    let allowed =
        format!("allow_insecure_transport = true\ngithub_api_url = \"http://github.invalid\"\n{hotkey}{ONE_VALIDATOR}");
    let out = agent(&["post", "--config", &config_with(&dir, &allowed)], &pat);
    let err = text(&out.stderr);
    assert!(err.contains("sending the PAT to GitHub at http://github.invalid in clear text"), "{err}");
    assert!(!all_output(&out).contains(PAT));
}
