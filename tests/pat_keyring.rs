//! `pat set | status | delete` through the Linux kernel keyring, with GitHub faked.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::json;

/// Runs the agent in its own kernel session keyring, feeding `stdin`.
fn agent_in_session(args: &[&str], stdin: &str) -> Output {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator/new_keyring_session.py");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(helper).arg(env!("CARGO_BIN_EXE_gittensor-miner-agent")).args(args);
    output_with_stdin(isolated(&mut cmd, home.path()), stdin)
}

/// No PAT from the environment, no desktop keyring, a home of its own.
fn isolated<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_remove("GITTENSOR_MINER_PAT")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
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

/// How the agent's process meets the kernel keyring when no login gave it a session keyring
/// of its own: Debian 12's `sudo` and `su` run no pam_keyinit.
#[derive(Clone, Copy, Debug)]
enum NoLoginSession {
    /// As this test runs (a sandbox or CI runner: typically no session keyring of its own,
    /// where adding a key works but linking it into the persistent keyring is refused).
    AsItComes,
    /// In the user-session keyring, joined by name: adding a key to it is refused.
    UserSessionKeyring,
}

/// Joins the caller's user-session keyring (`_uid_ses.<uid>`) as its session keyring, then
/// runs the command.
const JOIN_USER_SESSION_KEYRING: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
keyctl = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
libc.syscall(keyctl, 0, ctypes.c_long(-5), 1)  # KEYCTL_GET_KEYRING_ID: make sure it exists
if libc.syscall(keyctl, 1, ctypes.c_char_p(f"_uid_ses.{os.getuid()}".encode())) < 0:
    sys.exit(f"cannot join the user-session keyring: errno {ctypes.get_errno()}")
os.execvp(sys.argv[1], sys.argv[1:])
"#;

fn agent_without_login_session(how: NoLoginSession, args: &[&str], stdin: &str) -> Output {
    let home = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_gittensor-miner-agent");
    let mut cmd = match how {
        NoLoginSession::AsItComes => Command::new(bin),
        NoLoginSession::UserSessionKeyring => {
            let mut cmd = Command::new(python());
            cmd.args(["-c", JOIN_USER_SESSION_KEYRING, bin]);
            cmd
        }
    };
    cmd.args(args);
    output_with_stdin(isolated(&mut cmd, home.path()), stdin)
}

/// Live keys (not invalidated, revoked or dead) with this description, as /proc/keys lists
/// them; a key unlinked from every keyring is gone once the kernel's collector has run.
fn live_keys(description: &str) -> usize {
    let count = || {
        std::fs::read_to_string("/proc/keys")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!(" {description}:")))
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|flags| !flags.contains(['i', 'R', 'D'])))
            .count()
    };
    for _ in 0..50 {
        if count() <= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    count()
}

/// Found by a new operator on Debian 12: in a `sudo` shell `pat set` half-stored the key
/// (in the session keyring, not the persistent one), said "AccessDenied", and `pat status`
/// and `pat delete` then failed the same way. Now the agent takes a session keyring of its
/// own when the shell's will not do: it stores all of the PAT or none of it, and every
/// later run finds it through the persistent keyring.
#[test]
fn pat_set_status_delete_work_without_a_login_keyring_session() {
    let emu = Emulator::start(0);
    emu.control(json!({"op": "github_token", "token": PAT, "login": "octo-miner", "id": 4242}));
    for how in [NoLoginSession::AsItComes, NoLoginSession::UserSessionKeyring] {
        let name = format!("{how:?}").to_lowercase();
        let config = keyring_config(&emu, &name);
        let config = config.as_str();
        let description = format!("keyring:{name}-{}@gittensor-miner-agent", std::process::id());
        let run = |args: &[&str], stdin: &str| agent_without_login_session(how, args, stdin);

        let set = run(&["pat", "set", "--stdin", "--config", config], &format!("{PAT}\n"));
        assert_eq!(code(&set), 0, "{how:?}: {}", all_output(&set));
        assert!(text(&set.stdout).contains("Stored PAT ***5b4a for GitHub user @octo-miner"), "{}", all_output(&set));
        assert!(live_keys(&description) <= 1, "{how:?}: a copy was left half-stored in the session keyring");

        let status = run(&["pat", "status", "--json", "--config", config], "");
        assert_eq!(code(&status), 0, "{how:?}: {}", all_output(&status));
        assert_eq!(stdout_json(&status)["github"]["login"], "octo-miner");

        let delete = run(&["pat", "delete", "--config", config], "");
        assert_eq!(code(&delete), 0, "{how:?}: {}", all_output(&delete));
        assert!(text(&delete.stdout).starts_with("Deleted the PAT"), "{}", all_output(&delete));
        let gone = run(&["pat", "status", "--config", config], "");
        assert_eq!(code(&gone), 1, "{how:?}: {}", all_output(&gone));
        assert!(text(&gone.stderr).contains("no PAT found"), "{}", all_output(&gone));
        assert_eq!(live_keys(&description), 0, "{how:?}: deleted everywhere");

        for out in [&set, &status, &delete, &gone] {
            assert!(!all_output(out).contains(PAT), "the PAT leaked");
        }
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
