//! `run`, the daemon, against real bittensor axons (and the fake chain): it repairs
//! coverage on its own and tells systemd and the operator what is going on.

mod common;

use std::time::{Duration, Instant};

use common::fake_chain::{ChainSpec, FakeChain};
use common::*;
use serde_json::json;

const PAT_ENV: (&str, &str) = ("GITTENSOR_MINER_PAT", PAT);

fn state_json(emu: &Emulator) -> String {
    std::fs::read_to_string(emu.dir.path().join("state/state.json")).unwrap_or_default()
}

#[test]
fn a_validator_that_restarts_without_its_store_gets_the_pat_back_soon() {
    let emu = Emulator::start(3);
    emu.preload(&[0, 1, 2]);
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "no READY: {}", daemon.log());
    assert!(
        wait_until(Duration::from_secs(10), || notify.status().is_some_and(|s| s.starts_with("covered 3/3"))),
        "{:?}",
        notify.status()
    );
    assert_eq!(emu.counts("broadcasts"), [0, 0, 0]);

    let restarted = Instant::now();
    emu.control(json!({"op": "restart", "uid": 1, "lose_store": true}));
    assert!(wait_until(Duration::from_secs(15), || emu.counts("broadcasts")[1] == 1), "not repaired: {}", daemon.log());
    let delay = restarted.elapsed();
    eprintln!("repair delay after a validator restart that lost its store: {delay:?}");
    assert!(wait_until(Duration::from_secs(10), || emu.counts("checks")[1] >= 3));
    assert_eq!(emu.counts("broadcasts"), [0, 1, 0], "only the validator that lost it");
    let log = daemon.log();
    assert!(log.contains("coverage lost"), "{log}");
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    assert!(
        !log.contains(PAT)
            && !state_json(&emu).contains(PAT)
            && !std::fs::read_to_string(&daemon.stdout).unwrap().contains(PAT)
    );
}

#[test]
fn a_fully_covered_network_gets_zero_broadcasts_over_several_sweeps() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let config = emu.write_config(FAST_DAEMON);
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    // Sweeps every 3 s: at least three sweeps' worth of checks.
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks").iter().all(|&c| c >= 3)), "{}", daemon.log());
    assert_eq!(emu.counts("broadcasts"), [0, 0]);
    assert!(daemon.log().matches("sweep: covered 2/2 validators").count() >= 2, "{}", daemon.log());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn a_silent_validator_is_retried_on_the_backoff_schedule_and_no_faster() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    emu.control(json!({"op": "delay", "uid": 1, "seconds": 60}));
    // Timeout 0.5 s, backoff from 1 s doubling to a 4 s cap, sweeps every 30 s.
    let config = emu.write_config(
        "check_timeout_secs = 0.5\n[retry]\nbase_secs = 1\nfactor = 2.0\nmax_secs = 4\n[daemon]\nsweep_interval_secs = 30\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.1\nliveness_interval_secs = 1\nchain_refresh_secs = 60\n",
    );
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks")[1] >= 1), "{}", daemon.log());
    let started = Instant::now();
    let first = emu.counts("checks")[1];
    std::thread::sleep(Duration::from_secs(12));
    let retries = emu.counts("checks")[1] - first;
    let elapsed = started.elapsed().as_secs_f64();
    // Each attempt waits out the 0.5 s timeout and then at least the 1 s base delay.
    let fastest_allowed = (elapsed / 1.5).floor() as u64 + 1;
    eprintln!("silent validator: {retries} retries in {elapsed:.1} s (schedule allows at most {fastest_allowed})");
    assert!(retries >= 2, "it is retried");
    assert!(retries <= fastest_allowed, "{retries} retries in {elapsed:.1} s is faster than the schedule");
    assert_eq!(emu.counts("broadcasts"), [0, 0], "never sent the PAT: it never said it lacks it");
    assert!(daemon.log().contains("outcome=\"failing\""), "{}", daemon.log());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn a_newly_eligible_validator_is_covered_before_the_next_sweep() {
    let emu = Emulator::start(2);
    let node = FakeChain::start(ChainSpec::new(74, vec![emu.miner_neuron(), emu.validator_neuron(0)]));
    let config = emu.write_chain_config(
        &node.url,
        "[daemon]\nsweep_interval_secs = 600\nsweep_jitter_secs = 0\nchain_refresh_secs = 1\nliveness_interval_secs = 1",
    );
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts")[0] == 1), "{}", daemon.log());
    let joined = Instant::now();
    node.spec.lock().unwrap().neurons.push(emu.validator_neuron(1));
    assert!(wait_until(Duration::from_secs(10), || emu.counts("broadcasts")[1] == 1), "{}", daemon.log());
    eprintln!(
        "newly eligible validator covered {:?} after it appeared on chain (next sweep in 600 s)",
        joined.elapsed()
    );
    assert!(daemon.log().contains("validator 2 (") && daemon.log().contains("is now eligible"), "{}", daemon.log());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn a_revoked_pat_stops_every_check_and_broadcast_and_raises_an_error() {
    let emu = Emulator::start(2);
    emu.control(json!({"op": "github_token", "token": PAT, "valid": false}));
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(
        wait_until(Duration::from_secs(20), || notify.status().is_some_and(|s| s.contains("PAT REJECTED"))),
        "{}",
        daemon.log()
    );
    // Several sweeps' worth of time: validators are not made to ask GitHub about a dead token.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(emu.counts("checks"), [0, 0]);
    assert_eq!(emu.counts("broadcasts"), [0, 0]);
    let log = daemon.log();
    assert!(log.contains("ERROR") && log.contains("GitHub REJECTS the PAT"), "{log}");
    assert!(notify.status().unwrap().contains("PAT REJECTED by GitHub"), "{:?}", notify.status());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn sighup_with_a_new_pat_sends_it_to_every_validator() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let credentials = emu.dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("github-pat"), format!("{PAT}\n")).unwrap();
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(
        &config,
        &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap()), ("NOTIFY_SOCKET", notify.path.to_str().unwrap())],
    );
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "{}", daemon.log());
    assert!(daemon.log().contains("systemd credential"), "{}", daemon.log());

    let rotated = "ghp_RotatedToken_1a2b3c4d5e6f";
    emu.control(json!({"op": "github_token", "token": rotated, "login": "octo-miner", "id": 4242}));
    std::fs::write(credentials.join("github-pat"), rotated).unwrap();
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || emu.counts("broadcasts") == [1, 1]), "{}", daemon.log());
    assert!(wait_until(Duration::from_secs(5), || notify.count("READY=1") == 2));
    assert_eq!(notify.count("RELOADING=1"), 1);
    let log = daemon.log();
    assert!(log.contains("the PAT changed") && !log.contains(rotated) && !log.contains(PAT), "{log}");
    assert!(!state_json(&emu).contains(rotated));
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn sigterm_mid_sweep_exits_zero_promptly() {
    let emu = Emulator::start(1);
    emu.control(json!({"op": "delay", "uid": 0, "seconds": 60}));
    let config = emu.write_config("check_timeout_secs = 30\n");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    // The check is in flight (the validator holds it for 60 s).
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks")[0] == 1), "{}", daemon.log());
    let asked = Instant::now();
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0), "{}", daemon.log());
    eprintln!("stopped {:?} after SIGTERM, mid-check", asked.elapsed());
    assert!(notify.count("STOPPING=1") >= 1);
}

#[test]
fn an_agent_restart_resumes_from_state_without_rebroadcasting() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    let config = emu.write_config("[daemon]\nsweep_interval_secs = 600\nliveness_interval_secs = 1\n");
    let mut first = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts") == [0, 1]), "{}", first.log());
    assert!(wait_until(Duration::from_secs(5), || state_json(&emu).contains("\"covered\"")));
    assert_eq!(first.stop(Duration::from_secs(5)), Some(0));
    let checks_before = emu.counts("checks");

    let mut second = Daemon::spawn(&config, &[PAT_ENV]);
    std::thread::sleep(Duration::from_secs(4));
    assert!(second.log().contains("resuming from the state file"), "{}", second.log());
    assert_eq!(emu.counts("broadcasts"), [0, 1], "no broadcast storm after a restart");
    // Each may have restarted while the agent was away, unseen by a new process's probes:
    // asked once again (no PAT sent), within a liveness interval, and then left alone.
    let once_more: Vec<u64> = checks_before.iter().map(|c| c + 1).collect();
    assert_eq!(emu.counts("checks"), once_more, "each validator checked once after the agent's return");
    assert_eq!(second.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn a_corrupt_state_file_is_moved_aside_and_the_agent_runs_on() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let state_dir = emu.dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(state_dir.join("state.json"), b"{\"version\":1,\"tracker\":{\"validators\":{\"0\":").unwrap();
    let config = emu.write_config(FAST_DAEMON);
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || state_json(&emu).contains("\"covered\"")), "{}", daemon.log());
    assert!(daemon.log().contains("the state file is unusable ("), "{}", daemon.log());
    let aside: Vec<_> = std::fs::read_dir(&state_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(
        &config,
        &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap()), ("WATCHDOG_USEC", "2000000")],
    );
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "{}", daemon.log());
    let ready_at = notify.messages.lock().unwrap().iter().find(|(_, m)| m.contains("READY=1")).unwrap().0;
    std::thread::sleep(Duration::from_secs(5));
    // WATCHDOG_USEC = 2 s: a ping at least every second while the loop makes progress.
    let pings: Vec<_> = notify
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, m)| *at > ready_at && m.contains("WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    assert!(pings.len() >= 4, "{} pings in 5 s", pings.len());
    // The loop aims for a ping every second; what matters is that none is late enough
    // for systemd's 2 s watchdog to fire, even on a loaded CI machine.
    let longest_gap = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest_gap < Duration::from_secs(2), "gap {longest_gap:?}");
    let status = notify.status().unwrap();
    assert!(status.starts_with("covered 2/2 validators") && status.contains("next sweep"), "{status}");
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    assert!(notify.all().last().unwrap().contains("STOPPING=1"));

    // `status` reads the same state without the network.
    let out = agent(
        &[
            "status",
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            emu.dir.path().join("state").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 4, "the agent stopped: {}", all_output(&out));
    let json = stdout_json(&out);
    assert_eq!(json["agent"]["state"], "stopped");
    assert_eq!(json["summary"]["covered"], 2);
    assert_eq!(json["pat"]["masked"], "***5b4a");
    assert!(!all_output(&out).contains(PAT));
}

#[test]
fn without_a_pat_the_first_run_fails_fast_with_one_clear_line() {
    let emu = Emulator::start(1);
    let config = emu.write_config("");
    let mut daemon = Daemon::spawn(&config, &[]);
    assert_eq!(daemon.wait(Duration::from_secs(10)), Some(78), "{}", daemon.log());
    let log = daemon.log();
    let errors: Vec<_> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("pat set"), "{log}");
}

#[test]
fn a_cron_expression_drives_the_sweeps() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    // Every 2 seconds by cron, although the interval says 10 minutes.
    let config = emu.write_config("[daemon]\nsweep_interval_secs = 600\nsweep_cron = \"*/2 * * * * *\"\nsweep_spread_secs = 0.1\nliveness_interval_secs = 0\n");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks")[0] >= 3), "{}", daemon.log());
    assert!(notify.status().unwrap().contains("sweeps by cron"), "{:?}", notify.status());
    assert_eq!(emu.counts("broadcasts"), [0]);
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn an_expiring_pat_is_warned_about_and_shown_in_the_status() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 3 + 12);
    let expiry = soon.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    emu.control(json!({"op": "github_token", "token": PAT, "login": "octo-miner", "id": 4242, "expiry": expiry}));
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(
        wait_until(Duration::from_secs(20), || notify.status().is_some_and(|s| s.contains("PAT expires in 3 d"))),
        "{:?}",
        notify.status()
    );
    let log = daemon.log();
    assert_eq!(log.matches("the PAT expires soon").count(), 1, "warned once a day, not on every check: {log}");
    assert!(log.contains("WARN"), "{log}");
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

#[test]
fn when_no_validator_is_reachable_the_operator_gets_an_error() {
    let emu = Emulator::start(2);
    emu.control(json!({"op": "down", "uid": 0}));
    emu.control(json!({"op": "down", "uid": 1}));
    let config = emu.write_config(FAST_DAEMON);
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(
        wait_until(Duration::from_secs(20), || daemon.log().contains("no validator is reachable")),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().lines().any(|l| l.contains("ERROR") && l.contains("no validator is reachable")));
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

/// A tmpfs of one page, mounted over the state directory and filled up (needs root, as
/// the packaging test does).
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    fn mount(dir: &std::path::Path) -> FullDisk {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4k", "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs (the test needs root)");
        let _ = std::fs::write(dir.join("filler"), vec![0u8; 64 * 1024]); // fails once full, as intended
        FullDisk(dir.to_owned())
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_when_writing_state_is_survived() {
    let emu = Emulator::start(1);
    let config = emu.write_config(FAST_DAEMON);
    let _full = FullDisk::mount(&emu.dir.path().join("state"));
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts") == [1]), "{}", daemon.log());
    assert!(wait_until(Duration::from_secs(10), || emu.counts("checks")[0] >= 3), "still working: {}", daemon.log());
    assert_eq!(daemon.log().matches("cannot write the state file").count(), 1, "said once: {}", daemon.log());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

// ---- Each validator on its own pipeline ----------------------------------------------

/// A hung validator (TCP accepted, never answered) and a slow one (answers in 10 s, like a
/// validator whose GitHub look-ups retry) are in flight while a third restarts without its
/// store: liveness sees the new axon and it gets the PAT back without waiting for either.
/// Sweeps are 10 minutes apart, so only the liveness probe can explain the repair; checks
/// time out after 15 s, so a design where one validator's request blocks another's shows.
#[test]
fn a_hung_and_a_slow_validator_do_not_delay_repairing_one_that_lost_its_store() {
    let emu = Emulator::start(3);
    emu.preload(&[0, 1, 2]);
    emu.control(json!({"op": "delay", "uid": 0, "seconds": 600})); // hung
    emu.control(json!({"op": "delay", "uid": 1, "seconds": 14})); // slow
    let liveness = Duration::from_secs(2);
    let config = emu.write_config(
        "check_timeout_secs = 15\nbroadcast_timeout_secs = 15\n[daemon]\nsweep_interval_secs = 600\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.2\nliveness_interval_secs = 2\nchain_refresh_secs = 600\n",
    );
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    // The slow validator's first check is in flight from here on, for 14 s.
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks") == [1, 1, 1]), "{}", daemon.log());
    let slow_asked = Instant::now();
    // An axon accepts any nonce from the last 5 s, so a restart right after our last request
    // to it looks like nothing happened; the probe tells them apart once that has passed.
    std::thread::sleep(Duration::from_secs(6));

    let asked_to_restart = Instant::now();
    emu.control(json!({"op": "restart", "uid": 2, "lose_store": true}));
    let back_up = Instant::now();
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts")[2] == 1), "not repaired: {}", daemon.log());
    let repaired = Instant::now();
    let delay = repaired - back_up;
    eprintln!(
        "repair delay with one hung and one slow validator: {delay:?} after the restarted axon was up ({:?} including the restart itself); liveness interval {liveness:?}",
        repaired - asked_to_restart
    );
    assert!(
        repaired - slow_asked < Duration::from_secs(14),
        "the repair came only after the slow validator answered ({:?} after its check began)",
        repaired - slow_asked
    );
    assert!(delay <= liveness + Duration::from_secs(1), "repair took {delay:?}: {}", daemon.log());
    assert_eq!(emu.counts("broadcasts"), [0, 0, 1], "only the validator that lost it");
    let log = daemon.log();
    assert!(log.contains(") restarted (new axon uuid): checking it now"), "{log}");
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

// ---- Restarts at any moment (bittensor's recent-nonce window) ---------------------------

/// A validator that restarts without its store 0.2, 1, 3 or 6 s after the agent's last
/// request to it: a probe carrying a still-recent nonce would be accepted by the new
/// process too (and make us known to it, hiding the restart for good), so probes wait for
/// the window (4 s + the ping's 1 s, as bittensor 10.x computes it) to pass. Each restart
/// is repaired within that hold + one liveness interval + 1 s of the new axon being up.
#[test]
fn a_restart_at_any_moment_after_our_last_request_is_repaired_within_the_hold_and_one_interval() {
    let delays = [0.2, 1.0, 3.0, 6.0];
    let emu = Emulator::start(delays.len());
    emu.preload(&[0, 1, 2, 3]);
    for (uid, seconds) in delays.iter().enumerate() {
        emu.control(json!({"op": "restart_after_check", "uid": uid, "seconds": seconds, "lose_store": true}));
    }
    let liveness = Duration::from_secs(1);
    let config = emu.write_config(
        "[daemon]\nsweep_interval_secs = 600\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.1\nliveness_interval_secs = 1\nchain_refresh_secs = 600\n",
    );
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    // The first check of each (the last request before its restart) arms its restart.
    let mut back_up: [Option<Instant>; 4] = [None; 4];
    let mut repaired: [Option<Instant>; 4] = [None; 4];
    let give_up = Instant::now() + Duration::from_secs(40);
    while repaired.iter().any(Option::is_none) && Instant::now() < give_up {
        let stats = emu.stats();
        for (uid, v) in stats["validators"].as_array().unwrap().iter().enumerate() {
            if back_up[uid].is_none() && v["restarts"].as_u64() == Some(1) {
                back_up[uid] = Some(Instant::now());
            }
            if repaired[uid].is_none() && back_up[uid].is_some() && v["broadcasts"].as_u64() == Some(1) {
                repaired[uid] = Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The bound (hold + one interval + 1 s for a check and a broadcast) is exact on the
    // simulation's paused clock; here, real axons on a loaded 2-core machine get 3 s more for
    // their round trips. Without the hold the sweep (600 s) is what repairs them.
    let bound = Duration::from_millis(5_250) + liveness + Duration::from_secs(1) + Duration::from_secs(3);
    for (uid, seconds) in delays.iter().enumerate() {
        let (Some(up), Some(done)) = (back_up[uid], repaired[uid]) else {
            panic!("validator {uid} (restarted {seconds} s after our check) was not repaired: {}", daemon.log());
        };
        let delay = done - up;
        eprintln!("restart {seconds} s after our last request: repaired {delay:?} after the new axon was up");
        assert!(
            delay <= bound,
            "restart {seconds} s after our request: repaired after {delay:?}, over {bound:?}: {}",
            daemon.log()
        );
    }
    assert_eq!(emu.counts("broadcasts"), [1, 1, 1, 1], "each restarted validator got the PAT once");
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

/// A validator that restarted without its store while the agent was stopped: the agent's
/// new process is a stranger to every axon, so its probes cannot tell; it checks each
/// validator within a liveness interval of its start and repairs this one within liveness
/// + check timeout of its return.
#[test]
fn a_validator_that_restarted_while_the_agent_was_stopped_is_repaired_soon_after_its_return() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let config = emu.write_config(
        "check_timeout_secs = 5\n[daemon]\nsweep_interval_secs = 600\nsweep_jitter_secs = 0\nsweep_spread_secs = 60\nliveness_interval_secs = 2\nchain_refresh_secs = 600\n",
    );
    let mut first = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(
        wait_until(Duration::from_secs(20), || state_json(&emu).matches("\"covered\"").count() >= 2),
        "{}",
        first.log()
    );
    assert_eq!(first.stop(Duration::from_secs(5)), Some(0));
    emu.control(json!({"op": "restart", "uid": 1, "lose_store": true}));

    let returned = Instant::now();
    let mut second = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts")[1] == 1), "not repaired: {}", second.log());
    let delay = returned.elapsed();
    eprintln!("restart while the agent was stopped: repaired {delay:?} after the agent's return");
    let bound = Duration::from_secs(2 + 5);
    assert!(delay <= bound, "repaired {delay:?} after the agent's return, over liveness + check timeout {bound:?}");
    assert_eq!(emu.counts("broadcasts"), [0, 1]);
    assert_eq!(second.stop(Duration::from_secs(5)), Some(0));
}

// ---- SIGTERM at every phase -------------------------------------------------------------

/// SIGTERM: exit status 0 within 1 s, STOPPING=1 on the notify socket and no READY=1
/// after it. Returns the time from the signal to the exit.
fn sigterm_stops_cleanly(daemon: &mut Daemon, notify: &NotifySocket, phase: &str) -> Duration {
    let signalled = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait(Duration::from_secs(5));
    let took = signalled.elapsed();
    eprintln!("{phase}: exited {status:?} {took:?} after SIGTERM");
    assert_eq!(status, Some(0), "{phase}: {}", daemon.log());
    assert!(took <= Duration::from_secs(1), "{phase}: took {took:?} to stop: {}", daemon.log());
    // Datagrams sent before the exit are queued on our socket; give the reader a moment.
    assert!(
        wait_until(Duration::from_secs(2), || notify.count("STOPPING=1") >= 1),
        "{phase}: no STOPPING=1 in {:?}",
        notify.all()
    );
    let messages = notify.all();
    let notices: Vec<&str> = messages
        .iter()
        .flat_map(|m| m.lines())
        .filter(|l| !l.starts_with("STATUS=") && !l.starts_with("MONOTONIC_USEC="))
        .collect();
    eprintln!("{phase}: systemd heard {notices:?}");
    let stopping = messages.iter().position(|m| m.lines().any(|l| l == "STOPPING=1")).unwrap();
    assert!(
        !messages[stopping..].iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{phase}: READY=1 after STOPPING=1: {messages:?}"
    );
    took
}

fn notify_env(notify: &NotifySocket) -> (&'static str, &str) {
    ("NOTIFY_SOCKET", notify.path.to_str().unwrap())
}

#[test]
fn sigterm_while_github_does_not_answer_at_start_up_exits_zero_within_a_second() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let github = SilentListener::start();
    let config = emu.write_config_with_github(&format!("http://127.0.0.1:{}", github.port), "");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, notify_env(&notify)]);
    // READY does not wait for GitHub's verdict; the question to GitHub is out.
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "no READY: {}", daemon.log());
    assert!(wait_until(Duration::from_secs(10), || github.accepted() >= 1), "GitHub never asked: {}", daemon.log());
    sigterm_stops_cleanly(&mut daemon, &notify, "start-up, GitHub silent");
    assert_eq!(emu.counts("checks"), [0], "no check before GitHub's verdict");
}

#[test]
fn sigterm_during_a_first_chain_read_that_never_answers_exits_zero_within_a_second() {
    let emu = Emulator::start(1);
    let node = SilentListener::start();
    let config = emu.write_chain_config(&format!("ws://127.0.0.1:{}", node.port), "");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, notify_env(&notify)]);
    // READY comes as the loop starts, before the first chain read answers (it never does).
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "no READY: {}", daemon.log());
    assert!(wait_until(Duration::from_secs(10), || node.accepted() >= 1), "chain never asked: {}", daemon.log());
    sigterm_stops_cleanly(&mut daemon, &notify, "first chain read, node silent");
    assert_eq!(emu.counts("checks"), [0]);
}

#[test]
fn sigterm_mid_broadcast_exits_zero_within_a_second() {
    let emu = Emulator::start(1);
    emu.control(json!({"op": "delay_broadcast", "uid": 0, "seconds": 60}));
    let config = emu.write_config("broadcast_timeout_secs = 30\n");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, notify_env(&notify)]);
    // The validator said it lacks the PAT and is now holding the broadcast.
    assert!(wait_until(Duration::from_secs(20), || emu.counts("broadcasts") == [1]), "{}", daemon.log());
    sigterm_stops_cleanly(&mut daemon, &notify, "mid-broadcast");
}

#[test]
fn sigterm_right_after_sighup_exits_zero_within_a_second_and_never_says_ready_again() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, notify_env(&notify)]);
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "no READY: {}", daemon.log());
    daemon.signal("HUP");
    sigterm_stops_cleanly(&mut daemon, &notify, "during a reload");
}

/// A PAT credential that never finishes reading: a FIFO nobody writes to (a hung keyring
/// or credential read). Returns the credentials directory.
fn hanging_pat_credential(emu: &Emulator) -> std::path::PathBuf {
    let credentials = emu.dir.path().join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    let pat = credentials.join("github-pat");
    let _ = std::fs::remove_file(&pat);
    let status = std::process::Command::new("mkfifo").arg(&pat).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    credentials
}

#[test]
fn sigterm_during_start_up_while_reading_the_pat_hangs_exits_zero_within_a_second() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let credentials = hanging_pat_credential(&emu);
    let config = emu.write_config("");
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon =
        Daemon::spawn(&config, &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap()), notify_env(&notify)]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(daemon.child.try_wait().unwrap(), None, "{}", daemon.log());
    assert_eq!(notify.count("READY=1"), 0, "still starting: the PAT read hangs");
    sigterm_stops_cleanly(&mut daemon, &notify, "start-up, PAT read hangs");
}

#[test]
fn sigterm_while_a_reload_hangs_reading_the_pat_exits_zero_within_a_second() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let credentials = emu.dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("github-pat"), format!("{PAT}\n")).unwrap();
    let config = emu.write_config(FAST_DAEMON);
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon =
        Daemon::spawn(&config, &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap()), notify_env(&notify)]);
    assert!(wait_until(Duration::from_secs(20), || notify.count("READY=1") == 1), "no READY: {}", daemon.log());
    hanging_pat_credential(&emu);
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(5), || notify.count("RELOADING=1") == 1), "{}", daemon.log());
    std::thread::sleep(Duration::from_millis(300)); // the reload is stuck on the PAT
    sigterm_stops_cleanly(&mut daemon, &notify, "reload hung reading the PAT");
}

/// Liveness costs a validator at rest nothing: no ERROR line in its log (the bittensor
/// axon logs every request it refuses) and no GitHub call — yet a restart is still caught by
/// the probe, at the price of one refused ping per restart.
#[test]
fn liveness_leaves_a_resting_validator_log_clean_and_still_catches_its_restart() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let interval = Duration::from_secs(1);
    let config = emu.write_config(
        "[daemon]\nsweep_interval_secs = 600\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.1\nliveness_interval_secs = 1\nchain_refresh_secs = 600\n",
    );
    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(
        wait_until(Duration::from_secs(20), || notify.status().is_some_and(|s| s.starts_with("covered 2/2"))),
        "{:?} {}",
        notify.status(),
        daemon.log()
    );
    let log_errors = |emu: &Emulator| emu.control(json!({"op": "stats"}))["log_errors"].clone();
    let github_calls = |emu: &Emulator| emu.control(json!({"op": "stats"}))["github"].clone();
    let (checks, github) = (emu.counts("checks"), github_calls(&emu));

    // Eight probes of each validator at rest (a probe every second).
    std::thread::sleep(8 * interval);
    assert_eq!(log_errors(&emu)["count"], 0, "a resting validator's log got error lines: {}", log_errors(&emu));
    assert_eq!(emu.counts("checks"), checks, "no check at rest between sweeps");
    assert_eq!(github_calls(&emu), github, "no GitHub call at rest");

    let restarted = Instant::now();
    emu.control(json!({"op": "restart", "uid": 1, "lose_store": true}));
    assert!(wait_until(Duration::from_secs(15), || emu.counts("broadcasts")[1] == 1), "not repaired: {}", daemon.log());
    let delay = restarted.elapsed();
    eprintln!("restart caught and repaired by liveness alone in {delay:?} (liveness interval {interval:?})");
    assert!(daemon.log().contains("validator 1 ("), "{}", daemon.log());
    assert_eq!(log_errors(&emu)["count"], 1, "one refused ping per restart: {}", log_errors(&emu));
    assert!(
        log_errors(&emu)["recent"][0].as_str().unwrap_or_default().contains("Nonce is too old"),
        "{}",
        log_errors(&emu)
    );

    // Quiet again once the restarted axon knows us.
    std::thread::sleep(5 * interval);
    assert_eq!(log_errors(&emu)["count"], 1, "{}", log_errors(&emu));
    assert_eq!(emu.counts("broadcasts"), [0, 1]);
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

/// `status` never shows a dead agent's last word as the present: a clean stop, and a kill
/// that left no chance to say goodbye, both give exit 4 and say so.
#[test]
fn status_tells_a_running_agent_from_a_stopped_or_killed_one() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let config = emu.write_config("[daemon]\nsweep_interval_secs = 600\nliveness_interval_secs = 0\n");
    let (config_arg, state_dir) = (config.to_str().unwrap(), emu.dir.path().join("state"));
    let state_dir = state_dir.to_str().unwrap();
    let status = || agent(&["status", "--config", config_arg, "--state-dir", state_dir], &[]);
    let status_json =
        || stdout_json(&agent(&["status", "--config", config_arg, "--state-dir", state_dir, "--json"], &[]));

    let notify = NotifySocket::bind(emu.dir.path());
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("NOTIFY_SOCKET", notify.path.to_str().unwrap())]);
    assert!(
        wait_until(Duration::from_secs(20), || notify.status().is_some_and(|s| s.starts_with("covered 1/1"))),
        "{:?} {}",
        notify.status(),
        daemon.log()
    );
    assert!(wait_until(Duration::from_secs(5), || code(&status()) == 0), "{}", all_output(&status()));
    assert_eq!(status_json()["agent"]["state"], "running");

    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    let out = status();
    assert_eq!(code(&out), 4, "a stopped agent: {}", all_output(&out));
    assert!(text(&out.stdout).contains("THE AGENT IS NOT RUNNING: it stopped at"), "{}", all_output(&out));
    assert_eq!(status_json()["agent"]["state"], "stopped");

    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || status_json()["agent"]["state"] == "running"), "{}", daemon.log());
    daemon.signal("KILL");
    assert!(daemon.wait(Duration::from_secs(5)).is_none_or(|_| true));
    let out = status();
    assert_eq!(code(&out), 4, "a killed agent: {}", all_output(&out));
    assert!(text(&out.stdout).contains("its process is gone without a clean stop"), "{}", all_output(&out));
}

/// `status` knows its agent by pid, boot and start time, not by name: an agent run through a
/// link with another name (a wrapper, a container entrypoint) is running; a process named
/// like the agent that now holds a dead agent's pid is not it.
#[test]
fn status_knows_its_agent_by_identity_not_by_name() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let config = emu.write_config("[daemon]\nsweep_interval_secs = 600\nliveness_interval_secs = 0\n");
    let (config_arg, state_dir) = (config.to_str().unwrap(), emu.dir.path().join("state"));
    let state_dir = state_dir.to_str().unwrap();
    let status = || agent(&["status", "--config", config_arg, "--state-dir", state_dir], &[]);
    let status_json =
        || stdout_json(&agent(&["status", "--config", config_arg, "--state-dir", state_dir, "--json"], &[]));

    let wrapper = emu.dir.path().join("miner-wrapper");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gittensor-miner-agent"), &wrapper).unwrap();
    let mut daemon = Daemon::spawn_program(&wrapper, &config, &[PAT_ENV]);
    let comm = || std::fs::read_to_string(format!("/proc/{}/comm", daemon.child.id())).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(20), || emu.counts("checks") == [1]), "{}", daemon.log());
    assert_eq!(comm().trim_end(), "miner-wrapper");
    assert!(wait_until(Duration::from_secs(5), || code(&status()) == 0), "{}", all_output(&status()));
    assert_eq!(status_json()["agent"]["state"], "running");

    // It dies; a process named like the agent gets its pid (written into the state here, as
    // a reused pid would be).
    daemon.signal("KILL");
    let _ = daemon.wait(Duration::from_secs(5));
    let impostor_path = emu.dir.path().join("gittensor-miner-agent");
    std::os::unix::fs::symlink("/bin/sleep", &impostor_path).unwrap();
    let mut impostor = std::process::Command::new(&impostor_path).arg("60").spawn().unwrap();
    let state_file = emu.dir.path().join("state/state.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert!(state["agent"]["start_ticks"].is_u64(), "{state}");
    state["agent"]["pid"] = json!(impostor.id());
    std::fs::write(&state_file, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let out = status();
    let _ = impostor.kill();
    let _ = impostor.wait();
    assert_eq!(code(&out), 4, "a dead agent whose pid another process holds: {}", all_output(&out));
    assert!(text(&out.stdout).contains("its process is gone without a clean stop"), "{}", all_output(&out));
}

/// Before the agent ever ran there is no state: `status` says so and what to do, not a bare
/// "No such file or directory".
#[test]
fn status_before_the_first_run_says_how_to_start_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&["status", "--state-dir", dir.path().to_str().unwrap()], &[]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let said = all_output(&out);
    assert!(said.contains("the agent has not run here yet") && said.contains("systemctl enable --now"), "{said}");
    assert!(!said.contains("os error"), "{said}");
}

/// Metrics on the loopback listener and in the textfile say what the status line says, and
/// the alert hook hears each incident once (after its grace period) and its end once: a
/// validator that is down is `validator_unreachable`, never `coverage_lost`; one that answers
/// without the PAT and cannot take it is `coverage_lost`, naming what it answered.
#[test]
fn metrics_and_the_alert_hook_follow_a_validator_lost_and_repaired() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let dir = emu.dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (textfile, heard, hook_env) = (dir.join("agent.prom"), dir.join("alerts.log"), dir.join("hook.env"));
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nenv > {}\necho \"$GMA_EVENT $GMA_STATE $GMA_SUBJECT\" >> {}\ncat > /dev/null\n",
            hook_env.display(),
            heard.display()
        ),
    )
    .unwrap();
    // As under systemd: a credentials directory (empty here, so the PAT comes from the
    // environment) beside the PAT variable. The hook must see neither.
    let credentials = dir.join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = emu.write_config(&format!(
        "{FAST_DAEMON}[metrics]\ntextfile = {:?}\nlisten = \"127.0.0.1:{port}\"\n[alerts]\ncommand = {:?}\ngrace_secs = 2\nunreachable_grace_secs = 2\n",
        textfile.display().to_string(),
        hook.display().to_string()
    ));
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV, ("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())]);
    let scrape = || {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")).and_then(|r| r.text()).unwrap_or_default()
    };
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    let covered = |n: usize| format!("gittensor_miner_agent_validators{{agent=\"default\",coverage=\"covered\"}} {n}");
    assert!(wait_until(Duration::from_secs(20), || has(&scrape(), &covered(2))), "{}\n{}", scrape(), daemon.log());
    assert!(has(&std::fs::read_to_string(&textfile).unwrap(), &covered(2)));
    assert!(scrape().contains("gittensor_miner_agent_pat_github_verdict{agent=\"default\",verdict=\"valid\"} 1"));

    emu.control(json!({"op": "down", "uid": 1}));
    assert!(wait_until(Duration::from_secs(20), || has(&scrape(), &covered(1))), "{}", scrape());
    let fired = || std::fs::read_to_string(&heard).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || fired().contains("validator_unreachable firing validator 1 (")),
        "{}",
        daemon.log()
    );
    assert!(
        scrape().contains("gittensor_miner_agent_validator_silent_since_timestamp_seconds{agent=\"default\",uid=\"1\"")
    );
    emu.control(json!({"op": "up", "uid": 1}));
    assert!(
        wait_until(Duration::from_secs(20), || fired().contains("validator_unreachable resolved validator 1 (")),
        "{}\n{}",
        fired(),
        daemon.log()
    );
    assert!(wait_until(Duration::from_secs(10), || has(&scrape(), &covered(2))), "{}", scrape());
    assert!(!fired().contains("coverage_lost"), "down is not coverage lost: {}", fired());

    // It loses its store, and every re-sent PAT times out: it answers "no PAT" past the grace.
    emu.control(json!({"op": "delay_broadcast", "uid": 1, "seconds": 5}));
    emu.control(json!({"op": "lose_store", "uid": 1}));
    assert!(
        wait_until(Duration::from_secs(20), || fired().contains("coverage_lost firing validator 1 (")),
        "{}\n{}",
        fired(),
        daemon.log()
    );
    assert!(
        daemon.log().contains("has been without your valid PAT for 0 min: it answered \"no PAT\" at "),
        "{}",
        daemon.log()
    );
    assert!(scrape()
        .contains("gittensor_miner_agent_validator_without_pat_since_timestamp_seconds{agent=\"default\",uid=\"1\""));
    emu.control(json!({"op": "delay_broadcast", "uid": 1, "seconds": 0}));
    assert!(
        wait_until(Duration::from_secs(20), || fired().contains("coverage_lost resolved validator 1 (")),
        "{}\n{}",
        fired(),
        daemon.log()
    );
    assert!(wait_until(Duration::from_secs(10), || has(&scrape(), &covered(2))), "{}", scrape());
    for event in ["validator_unreachable", "coverage_lost"] {
        for state in ["firing", "resolved"] {
            let line = format!("{event} {state} validator 1 (");
            assert_eq!(fired().matches(&line).count(), 1, "once per incident: {}", fired());
        }
    }
    // The hook's environment: ours is not passed on, only PATH and its GMA_* variables.
    let env = std::fs::read_to_string(&hook_env).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split_once('=').map(|(name, _)| name)).collect();
    for secret in ["GITTENSOR_MINER_PAT", "CREDENTIALS_DIRECTORY"] {
        assert!(!names.contains(&secret), "the hook was given {secret}: {env}");
    }
    assert!(!env.contains(PAT), "the hook can see the PAT: {env}");
    for wanted in ["PATH", "GMA_EVENT", "GMA_STATE", "GMA_SUBJECT", "GMA_MESSAGE", "GMA_AGENT"] {
        assert!(names.contains(&wanted), "the hook was not given {wanted}: {env}");
    }
    assert!(scrape().contains("gittensor_miner_agent_checks_total{agent=\"default\",uid=\"1\""), "{}", scrape());
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
}

/// The unit's reload runs `run --check-config` first. systemd hands the hotkey credential to
/// the running service, not to that check, so a good config passes without it; a broken one
/// is refused with the reason and exit 78.
#[test]
fn check_config_judges_the_config_alone_as_the_units_reload_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "netuid = 74\n[daemon]\nsweep_interval_secs = 600\n").unwrap();
    let as_reload = [("GITTENSOR_MINER_AGENT_HOTKEY_CREDENTIAL", "hotkey")];
    let out = agent(&["run", "--config", config.to_str().unwrap(), "--check-config"], &as_reload);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert!(text(&out.stdout).starts_with("config OK: "), "{}", all_output(&out));

    std::fs::write(&config, format!("{}\nthis line is not toml\n", std::fs::read_to_string(&config).unwrap())).unwrap();
    let out = agent(&["run", "--config", config.to_str().unwrap(), "--check-config"], &as_reload);
    assert_eq!(code(&out), 78, "{}", all_output(&out));
    let said = text(&out.stderr);
    assert!(
        said.contains("the new config is invalid, so the running agent keeps its current one") && said.contains("line"),
        "{said}"
    );
}

/// An alert hook that appends `event state subject` per run to `heard`.
fn recording_hook(dir: &std::path::Path, heard: &std::path::Path) -> std::path::PathBuf {
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$GMA_EVENT $GMA_STATE $GMA_SUBJECT\" >> {}\ncat > /dev/null\n", heard.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    hook
}

/// Part 15 item 2, as an operator meets it: GitHub revokes the PAT and the hook hears
/// `pat_rejected`; a restart while it is still rejected announces nothing again; the
/// operator stores a new PAT (`pat set --systemd` restarts the service) and the hook hears
/// it resolved, once. The incident lives in the state file between the processes.
#[test]
fn a_pat_rejected_before_a_restart_is_resolved_once_after_it() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    emu.control(json!({"op": "github_token", "token": PAT, "valid": false}));
    let heard = emu.dir.path().join("alerts.log");
    let hook = recording_hook(emu.dir.path(), &heard);
    let config = emu
        .write_config(&format!("{FAST_DAEMON}[alerts]\ncommand = {:?}\ngrace_secs = 2\n", hook.display().to_string()));
    let fired = || std::fs::read_to_string(&heard).unwrap_or_default();
    let github_calls = || emu.stats()["github"]["user_calls"].as_u64().unwrap_or(0);

    let mut first = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || fired().contains("pat_rejected firing the PAT")), "{}", first.log());
    assert!(
        wait_until(Duration::from_secs(5), || state_json(&emu).contains("\"pat_rejected\"")),
        "{}",
        state_json(&emu)
    );
    assert_eq!(first.stop(Duration::from_secs(5)), Some(0));

    // Restarted with the same PAT: GitHub rejects it again; the incident is still open.
    let asked = github_calls();
    let mut second = Daemon::spawn(&config, &[PAT_ENV]);
    assert!(wait_until(Duration::from_secs(20), || github_calls() > asked), "{}", second.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(second.stop(Duration::from_secs(5)), Some(0));
    assert_eq!(fired(), "pat_rejected firing the PAT\n", "still open: not announced again before repeat_secs");

    let rotated = "ghp_RotatedToken_9f8e7d6c5b4a";
    emu.control(json!({"op": "github_token", "token": rotated, "login": "octo-miner", "id": 4242}));
    let mut third = Daemon::spawn(&config, &[("GITTENSOR_MINER_PAT", rotated)]);
    assert!(
        wait_until(Duration::from_secs(20), || fired().contains("pat_rejected resolved the PAT")),
        "{}\n{}",
        fired(),
        third.log()
    );
    assert!(wait_until(Duration::from_secs(10), || emu.counts("broadcasts") == [1, 1]), "{}", third.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(third.stop(Duration::from_secs(5)), Some(0));
    assert_eq!(fired(), "pat_rejected firing the PAT\npat_rejected resolved the PAT\n", "resolved once");
    assert!(!state_json(&emu).contains("\"pat_rejected\""), "{}", state_json(&emu));
}

/// A running agent's memory holds the PAT: no core file may be written of it, and no
/// debugger of the same user may read it. The kernel shows a non-dumpable process by
/// giving its `/proc/PID/*` files to root, which only a process that does not run as root
/// can show; as root, the agent is run as `nobody` for this.
#[test]
fn a_running_agent_is_not_dumpable_and_its_core_limit_is_zero() {
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;

    let (github, validator) = (SilentListener::start(), SilentListener::start());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let we = std::fs::metadata("/proc/self").unwrap().uid();
    let agent_uid = if we == 0 { 65534 } else { we };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (hotkey, state, config) = (path.join("hotkey"), path.join("state"), path.join("agent.toml"));
    std::fs::write(&hotkey, format!(r#"{{"secretSeed":"0x{}"}}"#, "11".repeat(32))).unwrap();
    std::fs::set_permissions(&hotkey, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        &config,
        format!(
            "hotkey_file = {:?}\ngithub_api_url = \"http://127.0.0.1:{}\"\n{FAST_DAEMON}\n[pat]\nstore = \"none\"\n\n[[validators]]\nuid = 0\nhotkey = \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"\nip = \"127.0.0.1\"\nport = {}\n",
            hotkey.display().to_string(),
            github.port,
            validator.port
        ),
    )
    .unwrap();
    let log = path.join("agent.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gittensor-miner-agent"));
    cmd.args(["run", "--config", config.to_str().unwrap(), "--state-dir", state.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", path)
        .env("RUST_LOG", "gittensor_miner_agent=debug")
        .env(PAT_ENV.0, PAT_ENV.1)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if we == 0 {
        for owned in [&hotkey, &state] {
            chown(owned, Some(agent_uid), Some(agent_uid)).unwrap();
        }
        cmd.uid(agent_uid).gid(agent_uid);
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let running = wait_until(Duration::from_secs(20), || github.accepted() >= 1);
    let proc_dir = std::fs::metadata(format!("/proc/{pid}"));
    let status_file = std::fs::metadata(format!("/proc/{pid}/status"));
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(running, "the agent never asked GitHub: {}", read_log());

    // The process runs as `agent_uid` (its /proc directory keeps that owner) ...
    assert_eq!(proc_dir.unwrap().uid(), agent_uid, "{}", read_log());
    assert_ne!(agent_uid, 0);
    // ... and its files are root's: it made itself non-dumpable.
    assert_eq!(status_file.unwrap().uid(), 0, "the agent is dumpable: /proc/{pid}/status is not root's");
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap_or_default();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>(),
        ["Max", "core", "file", "size", "0", "0", "bytes"],
        "{limits}"
    );
    assert!(!read_log().contains("core dump of this process"), "{}", read_log());
}
