//! The product as a miner gets it: the .deb installed into a fresh Debian root, bullseye
//! (systemd 247, glibc 2.31), bookworm (systemd 252) and trixie (systemd 257), a real systemd
//! booted in it (systemd-nspawn),
//! emulated validators and the fake chain on the host's 127.0.0.1. `tests/systemd/runner.sh`
//! acts inside as the operator would — the plain unit for one hotkey, and two instances of the
//! template unit for two more, side by side — while this side steers the validators and checks
//! what systemd, the journal and dpkg showed.
//!
//! Needs root, debootstrap, systemd-nspawn, cargo-deb, lintian and musl-gcc: `scripts/test`
//! installs them. The suites run one after the other (one .deb, built once, from the static
//! musl binary: the same package serves all three).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::fake_chain::{ChainSpec, FakeChain};
use common::*;
use serde_json::json;

/// The PAT the operator rotates to.
const NEW_PAT: &str = "ghp_TestOnlyToken_rotated_0a1b";
/// The two instances of the template unit, one hotkey each (the emulator's `miner2`,
/// `miner3`), each with a PAT of its own GitHub account: (name, PAT, login, GitHub id).
const INSTANCES: [(&str, &str, &str, u64); 2] = [
    ("alice", "ghp_TestOnlyToken_alice_1a2b", "octo-alice", 5151),
    ("bob", "ghp_TestOnlyToken_bob_3c4d", "octo-bob", 6161),
];

/// One container at a time: they share the host's loopback, the .deb and two cores.
static SERIAL: Mutex<()> = Mutex::new(());
static DEB: OnceLock<PathBuf> = OnceLock::new();

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn require(tool: &str) {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: run scripts/test (it installs debootstrap, systemd-container, lintian and cargo-deb)"
    );
}

/// A minimal Debian `suite` with systemd, made once (target/e2e/base-SUITE) and copied for each run.
fn base_root(suite: &str) -> PathBuf {
    let base = repo().join(format!("target/e2e/base-{suite}"));
    // The marker names what was included, so a changed list rebuilds the base.
    let marker = base.join(".complete-systemd-dbus-ca-procps");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&base);
        run(Command::new("debootstrap")
            .args(["--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates,procps", suite])
            .arg(&base));
        std::fs::write(marker, b"").unwrap();
    }
    base
}

/// The .deb, built and checked by lintian once for every suite.
fn deb() -> &'static Path {
    DEB.get_or_init(|| {
        for tool in ["debootstrap", "systemd-nspawn", "cargo-deb", "lintian", "musl-gcc"] {
            require(tool);
        }
        let started = Instant::now();
        let deb = build_deb();
        // lintian: no errors (overrides, if any, are documented in packaging/).
        let lint = Command::new("lintian").args(["--fail-on", "error"]).arg(&deb).output().unwrap();
        assert!(lint.status.success(), "lintian found errors:\n{}{}", text(&lint.stdout), text(&lint.stderr));
        eprintln!("e2e: .deb built and linted in {:.0} s", started.elapsed().as_secs_f64());
        deb
    })
}

/// The static binary the .deb is built from: no glibc needed, so Debian 11's 2.31 runs it.
const DEB_TARGET: &str = "x86_64-unknown-linux-musl";

fn build_deb() -> PathBuf {
    // As from a shell: ring's build script watches CARGO_MANIFEST_DIR, which `cargo test` sets,
    // so keeping it would make this release build and one by hand rebuild each other.
    run(Command::new(repo().join("packaging/build-deb"))
        .args(["--target", DEB_TARGET])
        .env_remove("CARGO_MANIFEST_DIR"));
    let dir = repo().join("target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop().expect("no .deb was built")
}

fn nspawn(root: &Path, args: &[&str]) -> String {
    run(Command::new("systemd-nspawn").args(["-q", "-D"]).arg(root).args(["--register=no", "--keep-unit"]).args(args))
}

fn field(text: &str, key: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_default().to_owned()
}

#[test]
fn debian_11_bullseye_installs_runs_two_hotkeys_beside_the_plain_unit_and_purges() {
    the_deb_in_real_systemd("bullseye");
}

#[test]
fn debian_12_bookworm_installs_runs_two_hotkeys_beside_the_plain_unit_and_purges() {
    the_deb_in_real_systemd("bookworm");
}

#[test]
fn debian_13_trixie_installs_runs_two_hotkeys_beside_the_plain_unit_and_purges() {
    the_deb_in_real_systemd("trixie");
}

/// What a validator stores for `hotkey`: the last four characters of the PAT, if any.
fn stored_tail(stats: &serde_json::Value, uid: usize, hotkey: &str) -> Option<String> {
    stats["validators"][uid]["stored_pat_tails"][hotkey].as_str().map(str::to_owned)
}

fn tail(pat: &str) -> &str {
    &pat[pat.len() - 4..]
}

/// systemd 247-249: no `systemd-creds`, so `pat set --systemd` keeps the PAT as a root-only
/// file with a drop-in; and the unit lines they do not know, which they must ignore.
fn without_systemd_creds(suite: &str) -> bool {
    suite == "bullseye"
}

/// The unit lines newer than systemd 247 (LoadCredentialEncrypted= 250, PrivateIPC= 248).
const NEWER_THAN_247: [&str; 2] = ["LoadCredentialEncrypted", "PrivateIPC"];

fn the_deb_in_real_systemd(suite: &str) {
    let deb = deb();
    let plain = without_systemd_creds(suite);
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();

    // Kept after a failure for a look (the journal is persistent:
    // `journalctl -D target/e2e/run-SUITE/root/var/log/journal -u gittensor-miner-agent`).
    let work = Workdir(repo().join(format!("target/e2e/run-{suite}")));
    let _ = std::fs::remove_dir_all(work.path());
    std::fs::create_dir_all(work.path()).unwrap();
    let root = work.path().join("root");
    run(Command::new("cp").arg("-a").arg(base_root(suite)).arg(&root));
    std::fs::write(root.join("etc/keep-me"), b"not the package's").unwrap();
    std::fs::create_dir_all(root.join("var/log/journal")).unwrap();
    std::fs::copy(deb, root.join("pkg.deb")).unwrap();
    nspawn(&root, &["dpkg", "-i", "/pkg.deb"]);

    // Upgrade with a locally edited conffile: the edit is kept, nothing prompts.
    let config_path = root.join("etc/gittensor-miner-agent/config.toml");
    let mut edited = std::fs::read_to_string(&config_path).unwrap();
    edited.push_str("\n# edited by the operator\n");
    std::fs::write(&config_path, &edited).unwrap();
    nspawn(&root, &["dpkg", "-i", "/pkg.deb"]);
    assert!(
        std::fs::read_to_string(&config_path).unwrap().contains("# edited by the operator"),
        "conffile edit lost on upgrade"
    );
    assert!(
        root.join("usr/lib/systemd/system/gittensor-miner-agent@.service").exists(),
        "the .deb does not ship the template unit"
    );

    // The network the agents will see: three validators that know three miner hotkeys (the
    // plain unit's and two instances'), and a chain on 127.0.0.1.
    let emu = Emulator::start_with_miners(3, 1 + INSTANCES.len());
    emu.preload(&[0, 1, 2]);
    for (_, pat, login, id) in INSTANCES {
        emu.control(json!({"op": "github_token", "token": pat, "login": login, "id": id}));
    }
    let chain = FakeChain::start(ChainSpec::new(74, emu.chain_neurons()));
    let hotkeys: Vec<String> =
        (0..emu.miner_count()).map(|i| emu.miner(i)["ss58"].as_str().unwrap().to_owned()).collect();

    // The operator's edits, as the README says: the config, and the hotkey file. `network =
    // "local"`: the chain's validators serve on 127.0.0.1, which only a local chain may say.
    let agent_config = |comment: &str| {
        format!(
            "# {comment}\nnetwork = \"local\"\nrpc_url = {:?}\ngithub_api_url = {:?}\ncheck_timeout_secs = 3\n[daemon]\nsweep_interval_secs = 5\nsweep_jitter_secs = 0\nsweep_spread_secs = 1\nliveness_interval_secs = 1\nchain_refresh_secs = 5\n[retry]\nbase_secs = 0.5\nmax_secs = 2\n",
            chain.url,
            emu.info["github_url"].as_str().unwrap()
        )
    };
    std::fs::write(&config_path, agent_config("edited by the operator")).unwrap();
    std::fs::copy(emu.miner_hotkey_file(), root.join("etc/gittensor-miner-agent/hotkey")).unwrap();
    // Faster watchdog and restart for the test only.
    let dropin = root.join("etc/systemd/system/gittensor-miner-agent.service.d");
    std::fs::create_dir_all(&dropin).unwrap();
    std::fs::write(dropin.join("e2e.conf"), "[Service]\nWatchdogSec=6s\nRestartSec=2s\nTimeoutAbortSec=3s\n").unwrap();

    // The in-container driver, and what the operator brings for each instance: a config, a
    // hotkey file and a PAT (installed inside as the README says).
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("pat"), format!("{PAT}\n")).unwrap();
    for (i, (name, pat, _, _)) in INSTANCES.iter().enumerate() {
        std::fs::write(shared.join(format!("{name}.toml")), agent_config(&format!("instance {name}"))).unwrap();
        std::fs::copy(emu.miner(i + 1)["hotkey_file"].as_str().unwrap(), shared.join(format!("{name}.hotkey")))
            .unwrap();
        std::fs::write(shared.join(format!("pat-{name}")), format!("{pat}\n")).unwrap();
    }
    std::fs::write(shared.join("instances"), INSTANCES.map(|(name, ..)| name).join(" ")).unwrap();
    std::fs::copy(repo().join("tests/systemd/runner.sh"), root.join("usr/local/bin/e2e-runner.sh")).unwrap();
    std::fs::copy(repo().join("tests/systemd/e2e-runner.service"), root.join("etc/systemd/system/e2e-runner.service"))
        .unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/e2e-runner.service",
        root.join("etc/systemd/system/multi-user.target.wants/e2e-runner.service"),
    )
    .unwrap();

    let console = std::fs::File::create(work.path().join("console.log")).unwrap();
    let machine = format!("gma-e2e-{suite}-{}", std::process::id());
    let boot = Command::new("systemd-nspawn")
        .args(["-q", "-D"])
        .arg(&root)
        .args(["-b", "--register=no", "--keep-unit", "-M", &machine])
        .arg(format!("--bind={}:/e2e", shared.display()))
        .stdin(Stdio::null())
        .stdout(console.try_clone().unwrap())
        .stderr(console)
        .spawn()
        .unwrap();
    let mut boot = Container(boot);
    let journal = || {
        let out = Command::new("journalctl")
            .arg("-D")
            .arg(root.join("var/log/journal"))
            .args(["--no-pager", "-u", "gittensor-miner-agent*"])
            .output();
        out.map(|o| text(&o.stdout)).unwrap_or_default()
    };

    let deadline = Instant::now() + Duration::from_secs(420);
    let mut repair_delay = None;
    let mut rotation_delay = None;
    let mut instances_delay = None;
    while !shared.join("done").exists() {
        assert!(
            Instant::now() < deadline,
            "the container run did not finish; runner log:\n{}",
            std::fs::read_to_string(shared.join("runner.out")).unwrap_or_default()
        );
        if let Some(status) = boot.0.try_wait().unwrap() {
            panic!(
                "the container exited early ({status}):\n{}",
                std::fs::read_to_string(work.path().join("console.log")).unwrap_or_default()
            );
        }
        // Each instance, started with its own PAT, sends it to every validator under its own hotkey.
        if shared.join("await-instances").exists() && !shared.join("instances-covered").exists() {
            let covered = || {
                let stats = emu.stats();
                (0..3).all(|uid| {
                    INSTANCES.iter().enumerate().all(|(i, (_, pat, ..))| {
                        stored_tail(&stats, uid, &hotkeys[i + 1]).as_deref() == Some(tail(pat))
                    })
                })
            };
            let asked = Instant::now();
            assert!(
                wait_until(Duration::from_secs(60), covered),
                "the instances never covered the validators: {}\n{}",
                emu.stats(),
                journal()
            );
            instances_delay = Some(asked.elapsed());
            std::fs::write(shared.join("instances-covered"), b"").unwrap();
        }
        if shared.join("await-loss").exists() && repair_delay.is_none() && !shared.join("repaired").exists() {
            let lost = Instant::now();
            emu.control(json!({"op": "restart", "uid": 1, "lose_store": true}));
            // Every agent (the plain unit and both instances) puts its own PAT back.
            let mut plain_back = None;
            let all_back = || {
                let stats = emu.stats();
                if plain_back.is_none() && stored_tail(&stats, 1, &hotkeys[0]).is_some() {
                    plain_back = Some(lost.elapsed());
                }
                hotkeys.iter().all(|hotkey| stored_tail(&stats, 1, hotkey).is_some())
            };
            assert!(
                wait_until(Duration::from_secs(60), all_back),
                "the services did not repair the validator: {}\n{}",
                emu.stats(),
                journal()
            );
            repair_delay = Some((plain_back, lost.elapsed()));
            std::fs::write(shared.join("repaired"), b"").unwrap();
        }
        if shared.join("await-rotation").exists() && !shared.join("rotation-ready").exists() {
            emu.control(json!({"op": "github_token", "token": NEW_PAT, "login": "octo-miner", "id": 4242}));
            std::fs::write(shared.join("pat2"), format!("{NEW_PAT}\n")).unwrap();
            std::fs::write(shared.join("rotation-ready"), b"").unwrap();
        }
        if shared.join("rotation-stored").exists() && !shared.join("rotation-seen").exists() {
            let holds_new = || {
                let stats = emu.stats();
                (0..3).all(|uid| stored_tail(&stats, uid, &hotkeys[0]).as_deref() == Some(tail(NEW_PAT)))
            };
            let stored = Instant::now();
            assert!(
                wait_until(Duration::from_secs(60), holds_new),
                "after `pat set --systemd` the validators never got the new PAT: {}\n{}\n{}",
                emu.stats(),
                std::fs::read_to_string(shared.join("rotate.txt")).unwrap_or_default(),
                journal()
            );
            rotation_delay = Some(stored.elapsed());
            // The instances' PATs are their own: the plain unit's rotation left them alone.
            let stats = emu.stats();
            for uid in 0..3 {
                for (i, (name, pat, ..)) in INSTANCES.iter().enumerate() {
                    assert_eq!(
                        stored_tail(&stats, uid, &hotkeys[i + 1]).as_deref(),
                        Some(tail(pat)),
                        "{name}: {stats}"
                    );
                }
            }
            std::fs::write(shared.join("rotation-seen"), b"").unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = wait_child(&mut boot.0, Duration::from_secs(60));
    let read = |name: &str| std::fs::read_to_string(shared.join(name)).unwrap_or_default();
    eprintln!("{suite}: repair delay inside real systemd (the plain unit's agent, then all three): {repair_delay:?}; every validator held the rotated PAT {rotation_delay:?} after `pat set --systemd` returned; both instances' PATs were seen at every validator {instances_delay:?} after the runner asked (their `enable --now` returned)");

    // The unconfigured first run: one clear line, exit 78, no restart loop.
    let first = read("first-run.txt");
    assert_eq!(field(&first, "ExecMainStatus"), "78", "{first}");
    assert_eq!(field(&first, "NRestarts"), "0", "{first}");
    let journal = read("first-run-journal.txt");
    let said: Vec<&str> = journal.lines().filter(|l| l.contains("cannot start")).collect();
    assert_eq!(said.len(), 1, "{journal}");
    assert!(said[0].contains("pat set"), "{journal}");

    let pat_set = read("pat-set.txt");
    assert!(pat_set.contains("rc=0"), "{pat_set}");
    // Where there is no systemd-creds the PAT is a root-only file, and `pat set` says so once;
    // where there is, it is encrypted as before, and no drop-in or plain file is made.
    let credentials = read("credentials.txt");
    if plain {
        assert_eq!(pat_set.matches("NOT ENCRYPTED at rest").count(), 1, "{pat_set}");
        assert!(pat_set.contains("no systemd-creds") && pat_set.contains("pat set --systemd"), "{pat_set}");
        for line in [
            "-rw------- root root /etc/gittensor-miner-agent/credentials/github-pat.plain",
            "LoadCredential=github-pat:/etc/gittensor-miner-agent/credentials/github-pat.plain",
            "LoadCredential=github-pat:/etc/gittensor-miner-agent/credentials/alice.github-pat.plain",
            "pat status rc=0",
        ] {
            assert!(credentials.lines().any(|l| l == line), "no {line:?} in:\n{credentials}");
        }
        assert!(!credentials.contains(".cred"), "{credentials}");
    } else {
        assert!(
            pat_set.contains(", encrypted, in /etc/gittensor-miner-agent/credentials/github-pat.cred"),
            "{pat_set}"
        );
        assert!(!pat_set.contains("NOT ENCRYPTED") && !credentials.contains(".plain"), "{credentials}");
        assert!(!credentials.contains("LoadCredential=github-pat"), "{credentials}");
        assert!(credentials.lines().any(|l| l == "pat status rc=0"), "{credentials}");
    }
    // The unit lines this systemd does not know are ignored with a warning, and nothing else
    // in the units is: every other line keeps its effect (the exposure below).
    let warnings = read("unit-warnings.txt");
    let unknown: std::collections::BTreeSet<&str> =
        warnings.lines().filter_map(|l| l.split("Unknown key name '").nth(1)?.split('\'').next()).collect();
    let expected: std::collections::BTreeSet<&str> =
        if plain { NEWER_THAN_247.into_iter().collect() } else { Default::default() };
    assert_eq!(unknown, expected, "{warnings}");
    assert_eq!(
        warnings.lines().filter(|l| !l.contains("Unknown key name")).collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "systemd warned about the units:\n{warnings}"
    );
    let status = read("status.txt");
    assert!(status.contains("active (running)"), "{status}");
    assert!(status.contains("Status: \"covered 3/3 validators"), "{status}");
    assert!(read("agent-status.txt").contains("3/3 validators hold your valid PAT"), "{}", read("agent-status.txt"));

    // The instances: an unconfigured one says which `pat set` it needs; set up, each runs
    // with its own files, is covered, and `status` shows each, and all of them together.
    let first = read("first-run-alice.txt");
    assert_eq!(field(&first, "ExecMainStatus"), "78", "{first}");
    assert!(
        read("first-run-alice-journal.txt").contains("pat set --systemd --instance alice"),
        "{}",
        read("first-run-alice-journal.txt")
    );
    for (name, pat, login, _) in INSTANCES {
        let set = read(&format!("pat-set-{name}.txt"));
        let file = if plain { "plain" } else { "cred" };
        assert!(
            set.contains("rc=0")
                && set.contains(&format!("@{login}"))
                && set.contains(&format!("/etc/gittensor-miner-agent/credentials/{name}.github-pat.{file}")),
            "{set}"
        );
        assert!(set.contains(&format!("gittensor-miner-agent@{name}")), "{set}");
        let status = read(&format!("status-{name}.txt"));
        assert!(status.contains("active (running)") && status.contains("Status: \"covered 3/3 validators"), "{status}");
        assert!(status.contains(&format!("gittensor miner agent ({name})")), "{status}");
        let agent_status = read(&format!("agent-status-{name}.txt"));
        assert!(
            agent_status.contains("3/3 validators hold your valid PAT") && agent_status.contains("rc=0"),
            "{agent_status}"
        );
        assert!(agent_status.contains(&format!("PAT ***{}", tail(pat))), "{agent_status}");
        let state = read(&format!("state-{name}.txt"));
        assert!(state.contains(&format!("/var/lib/gittensor-miner-agent/{name}/state.json")), "{state}");
    }
    let overview = read("overview.txt");
    eprintln!("{suite}: `gittensor-miner-agent status` with two instances beside the plain unit:\n{overview}");
    assert!(overview.contains("rc=0"), "{overview}");
    for agent in ["default", "alice", "bob"] {
        assert!(
            overview.lines().any(|l| l.contains(agent) && l.contains("3/3") && l.contains("running")),
            "{overview}"
        );
    }
    let overview: serde_json::Value =
        serde_json::from_str(&read("overview.json")).unwrap_or_else(|e| panic!("{e}: {}", read("overview.json")));
    assert_eq!(overview["success"], json!(true), "{overview}");
    let units: Vec<&str> = overview["agents"].as_array().unwrap().iter().map(|a| a["unit"].as_str().unwrap()).collect();
    assert_eq!(
        units,
        ["gittensor-miner-agent.service", "gittensor-miner-agent@alice.service", "gittensor-miner-agent@bob.service"]
    );
    let instance_reload = read("reload-alice.txt");
    assert!(
        instance_reload.contains("rc=0") && field(&instance_reload, "ActiveState") == "active",
        "{instance_reload}"
    );
    // An upgrade with the instances running restarts them, as it does the plain unit.
    let upgrade = read("upgrade.txt");
    assert!(upgrade.contains("dpkg rc=0"), "{upgrade}");
    for name in ["alice", "bob"] {
        let (before, after) = (field(&upgrade, &format!("before-{name}")), field(&upgrade, &format!("after-{name}")));
        assert!(
            !before.is_empty() && before != "0" && after != "0" && before != after,
            "{name} was not restarted by the upgrade: {upgrade}"
        );
    }

    // The rotation: `pat set --systemd` restarted the service, which sent the new PAT.
    let rotate = read("rotate.txt");
    assert!(rotate.contains("rc=0") && rotate.contains("Restarted gittensor-miner-agent:"), "{rotate}");
    assert!(rotation_delay.is_some(), "no rotation happened");

    // A broken config: `systemctl reload` fails, says why, and the agent runs on unchanged.
    let bad_reload = read("bad-reload.txt");
    assert!(!bad_reload.contains("rc=0"), "reload of a broken config reported success: {bad_reload}");
    assert_eq!(field(&bad_reload, "ActiveState"), "active", "{bad_reload}");
    let bad_status = read("bad-reload-status.txt");
    assert!(bad_status.contains("the new config is invalid"), "systemctl status does not say why: {bad_status}");

    // Nine restarts by hand within a minute, on top of the earlier starts: never refused.
    let restarts = read("restarts.txt");
    assert_eq!(restarts.matches("broken restart rc=").count(), 3, "{restarts}");
    assert_eq!(restarts.lines().filter(|l| *l == "restart rc=0").count(), 6, "{restarts}");
    assert!(!restarts.contains("repeated too quickly"), "{restarts}");
    assert_eq!(field(&restarts, "ActiveState"), "active", "{restarts}");

    let reload = read("reload.txt");
    assert_eq!((field(&reload, "ActiveState"), field(&reload, "NRestarts")), ("active".into(), "0".into()), "{reload}");

    let watchdog = read("watchdog.txt");
    assert_eq!(field(&watchdog, "ActiveState"), "active", "{watchdog}");
    assert!(field(&watchdog, "NRestarts").parse::<u32>().unwrap_or(0) >= 1, "{watchdog}");
    assert_ne!(field(&watchdog, "MainPID"), field(&watchdog, "OldPID"), "{watchdog}");
    let full_journal = read("journal.txt");
    assert!(full_journal.contains("Watchdog timeout"), "{full_journal}");

    // Hardening: the plain unit and an instance of the template unit alike.
    for (file, unit) in [
        ("security.txt", "gittensor-miner-agent.service"),
        ("security-alice.txt", "gittensor-miner-agent@alice.service"),
    ] {
        let security = read(file);
        let exposure: f64 = security
            .lines()
            .find_map(|l| l.split(&format!("Overall exposure level for {unit}: ")).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {unit}:\n{security}"));
        eprintln!("{suite}: systemd-analyze security {unit}: {exposure}");
        assert!(exposure <= 2.0, "{unit}: exposure {exposure}:\n{security}");
    }

    let verbose = read("journal-verbose.txt");
    for field in ["VALIDATOR_UID=", "OUTCOME=", "COVERED=", "ELIGIBLE="] {
        assert!(verbose.contains(field), "{field} missing from the journal");
    }
    assert!(full_journal.contains("coverage lost") && full_journal.contains("sweep: covered 3/3"), "{full_journal}");
    assert!(full_journal.contains("reloading configuration and PAT"), "{full_journal}");
    for name in ["alice", "bob"] {
        let instance_journal = read(&format!("journal-{name}.txt"));
        assert!(instance_journal.contains("sweep: covered 3/3"), "{name}: {instance_journal}");
    }

    let stop = read("stop.txt");
    assert_eq!((field(&stop, "ActiveState"), field(&stop, "Result")), ("inactive".into(), "success".into()), "{stop}");
    // Stopped, its runtime directory (the metrics textfile's) stays for node-exporter to read.
    assert!(stop.contains("runtime kept"), "{stop}");
    let stopped = read("status-stopped.txt");
    assert!(stopped.contains("rc=4") && stopped.contains("THE AGENT IS NOT RUNNING"), "{stopped}");
    // The overview with the plain unit stopped and the instances running: 4, and which one.
    let overview = read("overview-one-stopped.txt");
    assert!(overview.contains("rc=4") && overview.contains("default: THE AGENT IS NOT RUNNING"), "{overview}");
    assert!(overview.lines().any(|l| l.contains("alice") && l.contains("running")), "{overview}");
    let stopped = read("status-stopped-bob.txt");
    assert!(
        stopped.contains("rc=4") && stopped.contains("sudo systemctl start gittensor-miner-agent@bob"),
        "{stopped}"
    );

    let purge = read("purge.txt");
    for gone in [
        "/usr/bin/gittensor-miner-agent",
        "/etc/gittensor-miner-agent",
        "/var/lib/gittensor-miner-agent",
        "/var/lib/private/gittensor-miner-agent",
        "/usr/lib/systemd/system/gittensor-miner-agent@.service",
        "/etc/systemd/system/multi-user.target.wants/gittensor-miner-agent@alice.service",
        "/etc/systemd/system/multi-user.target.wants/gittensor-miner-agent@bob.service",
        "/etc/systemd/system/multi-user.target.wants/gittensor-miner-agent.service",
        // The drop-ins of `pat set --systemd` on systemd 247 (the instances' whole directories).
        "/etc/systemd/system/gittensor-miner-agent.service.d/plain-pat.conf",
        "/etc/systemd/system/gittensor-miner-agent@alice.service.d",
        "/etc/systemd/system/gittensor-miner-agent@bob.service.d",
        // Kept after a stop, so the purge removes the runtime directories itself.
        "/run/gittensor-miner-agent",
        "/run/gittensor-miner-agent@alice",
        "/run/gittensor-miner-agent@bob",
    ] {
        assert!(purge.contains(&format!("absent {gone}")), "{purge}");
    }
    assert!(purge.contains("present /etc/keep-me") && purge.contains("user kept"), "{purge}");

    // No PAT appears anywhere: not in the journal, systemctl output, or any file we read.
    let mut names: Vec<String> = [
        "status.txt",
        "journal.txt",
        "journal-verbose.txt",
        "first-run-journal.txt",
        "first-run-alice-journal.txt",
        "pat-set.txt",
        "rotate.txt",
        "bad-reload.txt",
        "bad-reload-status.txt",
        "restarts.txt",
        "agent-status.txt",
        "overview.txt",
        "overview.json",
        "credentials.txt",
        "unit-warnings.txt",
        "runner.out",
    ]
    .map(str::to_owned)
    .to_vec();
    for name in ["alice", "bob"] {
        for file in ["pat-set", "status", "agent-status", "journal"] {
            names.push(format!("{file}-{name}.txt"));
        }
    }
    let pats = [PAT, NEW_PAT, INSTANCES[0].1, INSTANCES[1].1];
    for name in &names {
        let content = read(name);
        assert!(!pats.iter().any(|pat| content.contains(pat)), "a PAT leaked into {name}");
    }
    drop(boot);
    let _ = std::fs::remove_dir_all(work.path());
    eprintln!("{suite}: the end-to-end run took {:.0} s", started.elapsed().as_secs_f64());
}

/// The booted container: killed if the test fails half-way.
struct Container(std::process::Child);

impl Drop for Container {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Workdir(PathBuf);

impl Workdir {
    fn path(&self) -> &Path {
        &self.0
    }
}

fn wait_child(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait().ok()
}
