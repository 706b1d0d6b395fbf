//! The product as a miner gets it: the .deb installed into a fresh Debian bookworm root,
//! a real systemd booted in it (systemd-nspawn), emulated validators and the fake chain on
//! the host's 127.0.0.1. `tests/systemd/runner.sh` acts inside as the operator would; this
//! side steers the validators and checks what systemd, the journal and dpkg showed.
//!
//! Needs root, debootstrap, systemd-nspawn, cargo-deb and lintian: `scripts/test` installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_chain::{ChainSpec, FakeChain};
use common::*;
use serde_json::json;

/// The PAT the operator rotates to.
const NEW_PAT: &str = "ghp_TestOnlyToken_rotated_0a1b";

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

/// A minimal bookworm with systemd, made once and copied for each run.
fn base_root() -> PathBuf {
    let base = repo().join("target/e2e/base");
    // The marker names what was included, so a changed list rebuilds the base.
    let marker = base.join(".complete-systemd-dbus-ca-procps");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&base);
        run(Command::new("debootstrap")
            .args(["--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates,procps", "bookworm"])
            .arg(&base));
        std::fs::write(marker, b"").unwrap();
    }
    base
}

fn build_deb() -> PathBuf {
    run(&mut Command::new(repo().join("packaging/build-deb")));
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
fn the_deb_installs_runs_heals_reloads_survives_a_freeze_and_purges_in_real_systemd() {
    for tool in ["debootstrap", "systemd-nspawn", "cargo-deb", "lintian"] {
        require(tool);
    }
    let deb = build_deb();

    // lintian: no errors (overrides, if any, are documented in packaging/).
    let lint = Command::new("lintian").args(["--fail-on", "error"]).arg(&deb).output().unwrap();
    assert!(lint.status.success(), "lintian found errors:\n{}{}", text(&lint.stdout), text(&lint.stderr));

    // Kept after a failure for a look (the journal is persistent:
    // `journalctl -D target/e2e/run/root/var/log/journal -u gittensor-miner-agent`).
    let work = Workdir(repo().join("target/e2e/run"));
    let _ = std::fs::remove_dir_all(work.path());
    std::fs::create_dir_all(work.path()).unwrap();
    let root = work.path().join("root");
    run(Command::new("cp").arg("-a").arg(base_root()).arg(&root));
    std::fs::write(root.join("etc/keep-me"), b"not the package's").unwrap();
    std::fs::create_dir_all(root.join("var/log/journal")).unwrap();
    std::fs::copy(&deb, root.join("pkg.deb")).unwrap();
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

    // The network the agent will see: three validators and a chain on 127.0.0.1.
    let emu = Emulator::start(3);
    emu.preload(&[0, 1, 2]);
    let chain = FakeChain::start(ChainSpec::new(74, emu.chain_neurons()));

    // The operator's edits, as the README says: the config, and the hotkey file.
    std::fs::write(
        &config_path,
        format!(
            "# edited by the operator\nrpc_url = {:?}\ngithub_api_url = {:?}\ncheck_timeout_secs = 3\n[daemon]\nsweep_interval_secs = 5\nsweep_jitter_secs = 0\nsweep_spread_secs = 1\nliveness_interval_secs = 1\nchain_refresh_secs = 5\n[retry]\nbase_secs = 0.5\nmax_secs = 2\n",
            chain.url,
            emu.info["github_url"].as_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::copy(emu.miner_hotkey_file(), root.join("etc/gittensor-miner-agent/hotkey")).unwrap();
    // Faster watchdog and restart for the test only.
    let dropin = root.join("etc/systemd/system/gittensor-miner-agent.service.d");
    std::fs::create_dir_all(&dropin).unwrap();
    std::fs::write(dropin.join("e2e.conf"), "[Service]\nWatchdogSec=6s\nRestartSec=2s\nTimeoutAbortSec=3s\n").unwrap();

    // The in-container driver.
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("pat"), format!("{PAT}\n")).unwrap();
    std::fs::copy(repo().join("tests/systemd/runner.sh"), root.join("usr/local/bin/e2e-runner.sh")).unwrap();
    std::fs::copy(repo().join("tests/systemd/e2e-runner.service"), root.join("etc/systemd/system/e2e-runner.service"))
        .unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/e2e-runner.service",
        root.join("etc/systemd/system/multi-user.target.wants/e2e-runner.service"),
    )
    .unwrap();

    let console = std::fs::File::create(work.path().join("console.log")).unwrap();
    let machine = format!("gma-e2e-{}", std::process::id());
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
            .args(["--no-pager", "-u", "gittensor-miner-agent"])
            .output();
        out.map(|o| text(&o.stdout)).unwrap_or_default()
    };

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut repair_delay = None;
    let mut rotation_delay = None;
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
        if shared.join("await-loss").exists() && repair_delay.is_none() && !shared.join("repaired").exists() {
            let before = emu.counts("broadcasts")[1];
            let lost = Instant::now();
            emu.control(json!({"op": "restart", "uid": 1, "lose_store": true}));
            assert!(
                wait_until(Duration::from_secs(60), || emu.counts("broadcasts")[1] > before),
                "the service did not repair the validator:\n{}",
                journal()
            );
            repair_delay = Some(lost.elapsed());
            std::fs::write(shared.join("repaired"), b"").unwrap();
        }
        if shared.join("await-rotation").exists() && !shared.join("rotation-ready").exists() {
            emu.control(json!({"op": "github_token", "token": NEW_PAT, "login": "octo-miner", "id": 4242}));
            std::fs::write(shared.join("pat2"), format!("{NEW_PAT}\n")).unwrap();
            std::fs::write(shared.join("rotation-ready"), b"").unwrap();
        }
        if shared.join("rotation-stored").exists() && !shared.join("rotation-seen").exists() {
            let new_tail = &NEW_PAT[NEW_PAT.len() - 4..];
            let holds_new = || {
                let stats = emu.stats();
                (0..3).all(|uid| {
                    stats["validators"][uid]["stored_pat_tails"].as_object().is_some_and(|tails| {
                        !tails.is_empty() && tails.values().all(|tail| tail == new_tail)
                    })
                })
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
            std::fs::write(shared.join("rotation-seen"), b"").unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = wait_child(&mut boot.0, Duration::from_secs(60));
    let read = |name: &str| std::fs::read_to_string(shared.join(name)).unwrap_or_default();
    eprintln!("repair delay inside real systemd: {repair_delay:?}; every validator held the rotated PAT {rotation_delay:?} after `pat set --systemd` returned");

    // The unconfigured first run: one clear line, exit 78, no restart loop.
    let first = read("first-run.txt");
    assert_eq!(field(&first, "ExecMainStatus"), "78", "{first}");
    assert_eq!(field(&first, "NRestarts"), "0", "{first}");
    let journal = read("first-run-journal.txt");
    let said: Vec<&str> = journal.lines().filter(|l| l.contains("cannot start")).collect();
    assert_eq!(said.len(), 1, "{journal}");
    assert!(said[0].contains("pat set"), "{journal}");

    assert!(read("pat-set.txt").contains("rc=0"), "{}", read("pat-set.txt"));
    let status = read("status.txt");
    assert!(status.contains("active (running)"), "{status}");
    assert!(status.contains("Status: \"covered 3/3 validators"), "{status}");
    assert!(read("agent-status.txt").contains("3/3 validators hold your valid PAT"), "{}", read("agent-status.txt"));

    // The rotation: `pat set --systemd` restarted the service, which sent the new PAT.
    let rotate = read("rotate.txt");
    assert!(rotate.contains("rc=0") && rotate.contains("Restarted gittensor-miner-agent"), "{rotate}");
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

    let security = read("security.txt");
    let exposure: f64 = security
        .lines()
        .find_map(|l| l.split("Overall exposure level for gittensor-miner-agent.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level:\n{security}"));
    eprintln!("systemd-analyze security: {exposure}");
    assert!(exposure <= 2.0, "exposure {exposure}:\n{security}");

    let verbose = read("journal-verbose.txt");
    for field in ["VALIDATOR_UID=", "OUTCOME=", "COVERED=", "ELIGIBLE="] {
        assert!(verbose.contains(field), "{field} missing from the journal");
    }
    assert!(full_journal.contains("coverage lost") && full_journal.contains("sweep: covered 3/3"), "{full_journal}");
    assert!(full_journal.contains("reloading configuration and PAT"), "{full_journal}");

    let stop = read("stop.txt");
    assert_eq!((field(&stop, "ActiveState"), field(&stop, "Result")), ("inactive".into(), "success".into()), "{stop}");
    let stopped = read("status-stopped.txt");
    assert!(stopped.contains("rc=4") && stopped.contains("THE AGENT IS NOT RUNNING"), "{stopped}");

    let purge = read("purge.txt");
    for gone in [
        "/usr/bin/gittensor-miner-agent",
        "/etc/gittensor-miner-agent",
        "/var/lib/gittensor-miner-agent",
        "/var/lib/private/gittensor-miner-agent",
    ] {
        assert!(purge.contains(&format!("absent {gone}")), "{purge}");
    }
    assert!(purge.contains("present /etc/keep-me") && purge.contains("user kept"), "{purge}");

    // The PAT appears nowhere: not in the journal, systemctl output, or any file we read.
    for name in [
        "status.txt",
        "journal.txt",
        "journal-verbose.txt",
        "first-run-journal.txt",
        "pat-set.txt",
        "rotate.txt",
        "bad-reload.txt",
        "bad-reload-status.txt",
        "restarts.txt",
        "agent-status.txt",
        "runner.out",
    ] {
        assert!(!read(name).contains(PAT) && !read(name).contains(NEW_PAT), "a PAT leaked into {name}");
    }
    drop(boot);
    let _ = std::fs::remove_dir_all(work.path());
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
