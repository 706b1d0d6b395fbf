//! Test harness: real bittensor 10.3.1 axons (tests/emulator/emulator.py) and the built binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The PAT the fake GitHub accepts in most tests. It must never appear in our output.
pub mod fake_chain;

pub const PAT: &str = "ghp_TestOnlyToken_9f8e7d6c5b4a";

/// The Python that has `bittensor==10.3.1`: `$GMA_TEST_PYTHON`, else the repo's `.venv`
/// (made by `scripts/test`). A missing one fails loudly: these tests must not skip.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GMA_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(venv.exists(), "no Python with bittensor at {}: run `scripts/test`, which creates it", venv.display());
    venv
}

pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub info: Value,
    pub dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl Emulator {
    /// Starts `count` validators on 127.0.0.1, each a real `bittensor.Axon`, plus fake GitHub.
    pub fn start(count: usize) -> Emulator {
        Emulator::start_with_miners(count, 1)
    }

    /// [`Emulator::start`] with `miners` miner hotkeys every validator knows (wallets `miner`,
    /// `miner2`, …; [`Emulator::miner`]), for several agents side by side.
    pub fn start_with_miners(count: usize, miners: usize) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator/emulator.py");
        let mut command = Command::new(python());
        command.arg(&script).arg("--validators").arg(count.to_string());
        if miners != 1 {
            command.arg("--miners").arg(miners.to_string());
        }
        let mut child = command
            .arg("--dir")
            .arg(dir.path().join("wallets"))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the validator emulator");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: bittensor logs to stdout, and a closed pipe makes it complain.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("emulator did not start within 120 s");
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("emulator said {line:?}: {e}"));
        let emulator = Emulator { child, _stdin: stdin, info, dir, http: reqwest::blocking::Client::new() };
        emulator.control(json!({"op": "github_token", "token": PAT, "login": "octo-miner", "id": 4242}));
        emulator
    }

    pub fn control(&self, op: Value) -> Value {
        let url = self.info["control_url"].as_str().unwrap();
        let response = self.http.post(url).json(&op).send().expect("emulator control API unreachable");
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert!(status.is_success(), "control {op} failed: {body}");
        body
    }

    pub fn stats(&self) -> Value {
        self.control(json!({"op": "stats"}))
    }

    /// Per-validator counter (`checks` or `broadcasts`), in uid order.
    pub fn counts(&self, what: &str) -> Vec<u64> {
        self.stats()["validators"].as_array().unwrap().iter().map(|v| v[what].as_u64().unwrap()).collect()
    }

    /// Every validator already holds the miner's PAT.
    pub fn preload(&self, uids: &[u64]) {
        for uid in uids {
            self.control(json!({"op": "preload", "uid": uid, "token": PAT}));
        }
    }

    pub fn validator(&self, uid: usize) -> &Value {
        &self.info["validators"][uid]
    }

    /// The miner as a registered uid 0 on the fake chain.
    pub fn miner_neuron(&self) -> fake_chain::FakeNeuron {
        fake_chain::FakeNeuron::miner(0, account_bytes(self.info["miner"]["ss58"].as_str().unwrap()))
    }

    /// Emulated validator `i` as uid `i + 1` on the fake chain: serving, 0.9 vtrust, 100 000 α.
    pub fn validator_neuron(&self, i: usize) -> fake_chain::FakeNeuron {
        let v = self.validator(i);
        let port = v["port"].as_u64().unwrap() as u16;
        fake_chain::FakeNeuron::validator(
            i as u16 + 1,
            account_bytes(v["hotkey"].as_str().unwrap()),
            port,
            0.9,
            100_000,
        )
    }

    /// The miner and every emulated validator, as the chain lists them; further miners
    /// ([`Emulator::start_with_miners`]) follow as uids after the validators'.
    pub fn chain_neurons(&self) -> Vec<fake_chain::FakeNeuron> {
        let count = self.info["validators"].as_array().unwrap().len();
        let more = (1..self.miner_count()).map(|i| {
            fake_chain::FakeNeuron::miner((count + i) as u16, account_bytes(self.miner(i)["ss58"].as_str().unwrap()))
        });
        std::iter::once(self.miner_neuron()).chain((0..count).map(|i| self.validator_neuron(i))).chain(more).collect()
    }

    /// How many miner hotkeys the validators know.
    pub fn miner_count(&self) -> usize {
        self.info["miners"].as_array().map_or(1, Vec::len)
    }

    /// Miner `i` (0 is `miner`): `wallet`, `hotkey`, `ss58`, `hotkey_file`.
    pub fn miner(&self, i: usize) -> &Value {
        &self.info["miners"][i]
    }

    pub fn miner_hotkey_file(&self) -> String {
        self.info["miner"]["hotkey_file"].as_str().unwrap().to_owned()
    }

    /// A config that finds the validators through the chain at `rpc_url`, with `extra`
    /// TOML (sections allowed) after the top-level keys. `network = "local"`: the emulated
    /// validators serve on 127.0.0.1, which a public network's axons may not.
    pub fn write_chain_config(&self, rpc_url: &str, extra: &str) -> PathBuf {
        self.write_public_chain_config(rpc_url, &format!("network = \"local\"\n{extra}"))
    }

    /// [`Emulator::write_chain_config`] without `network = "local"`: as a miner on finney
    /// configures it, where only public axons may receive the PAT.
    pub fn write_public_chain_config(&self, rpc_url: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("chain.toml");
        let text = format!(
            "rpc_url = {rpc_url:?}\nhotkey_file = {:?}\ngithub_api_url = {:?}\n{extra}\n[pat]\nstore = \"none\"\n",
            self.miner_hotkey_file(),
            self.info["github_url"].as_str().unwrap()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A config naming the emulated validators as a static list, with `extra` TOML
    /// appended to the top-level keys.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        self.write_config_with_github(self.info["github_url"].as_str().unwrap(), extra)
    }

    /// [`Emulator::write_config`], with GitHub's API at `github_url` instead of the fake one.
    pub fn write_config_with_github(&self, github_url: &str, extra: &str) -> PathBuf {
        let mut text = format!(
            "hotkey_file = {:?}\ngithub_api_url = {github_url:?}\n{extra}\n[pat]\nstore = \"none\"\n",
            self.miner_hotkey_file(),
        );
        for v in self.info["validators"].as_array().unwrap() {
            text.push_str(&format!(
                "\n[[validators]]\nuid = {}\nhotkey = {}\nip = {}\nport = {}\n",
                v["uid"], v["hotkey"], v["ip"], v["port"]
            ));
        }
        let path = self.dir.path().join("agent.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SS58 address as the 32 raw bytes the chain stores.
pub fn account_bytes(ss58: &str) -> [u8; 32] {
    use std::str::FromStr;
    subxt::utils::AccountId32::from_str(ss58).unwrap().0
}

/// The binary under test: `GMA_TEST_BIN` when set (e.g. the aarch64 musl release build), else
/// this build's; run through `GMA_TEST_RUNNER` when set (e.g. `qemu-aarch64-static`, where
/// binfmt_misc does not run foreign binaries by itself). qemu-user is the process: its pid,
/// signals, sockets and exit status are the emulated agent's.
pub fn agent_command() -> Command {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let bin = set("GMA_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_gittensor-miner-agent").into());
    match set("GMA_TEST_RUNNER") {
        Some(runner) => {
            let mut cmd = Command::new(runner);
            cmd.arg(bin);
            cmd
        }
        None => Command::new(bin),
    }
}

/// Runs the built binary with a clean environment: no user config, no stray PAT.
pub fn agent(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = agent_command();
    cmd.args(args)
        .env_remove("GITTENSOR_MINER_PAT")
        .env_remove("GITTENSOR_MINER_AGENT_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("JOURNAL_STREAM")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run gittensor-miner-agent")
}

pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr))
    })
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything the process wrote, for secret-leak assertions.
pub fn all_output(output: &Output) -> String {
    format!("{}{}", text(&output.stdout), text(&output.stderr))
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

// ---- The daemon under test ------------------------------------------------------------

/// A `NOTIFY_SOCKET` the test owns: every datagram `sd_notify` sends, in order.
pub struct NotifySocket {
    pub path: PathBuf,
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, String)>>>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock().unwrap().push((std::time::Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
        });
        NotifySocket { path, messages }
    }

    pub fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().iter().map(|(_, m)| m.clone()).collect()
    }

    pub fn count(&self, line: &str) -> usize {
        self.all().iter().filter(|m| m.lines().any(|l| l == line)).count()
    }

    /// The latest `STATUS=` text.
    pub fn status(&self) -> Option<String> {
        self.all().iter().rev().find_map(|m| m.lines().find_map(|l| l.strip_prefix("STATUS=").map(str::to_owned)))
    }
}

/// `gittensor-miner-agent run` in the background, its stderr captured to a file.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub stdout: PathBuf,
}

impl Daemon {
    /// The binary under test ([`agent_command`]: `GMA_TEST_BIN`, `GMA_TEST_RUNNER`).
    pub fn spawn(config: &Path, envs: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_command(agent_command(), config, envs)
    }

    /// [`Daemon::spawn`] of the agent as `program` (a renamed copy, a link with another name).
    pub fn spawn_program(program: &Path, config: &Path, envs: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_command(Command::new(program), config, envs)
    }

    fn spawn_command(mut cmd: Command, config: &Path, envs: &[(&str, &str)]) -> Daemon {
        let dir = config.parent().unwrap();
        let log = dir.join(format!(
            "agent-{}.log",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let stdout = log.with_extension("out");
        let state_dir = dir.join("state");
        cmd.args(["run", "--config", config.to_str().unwrap(), "--state-dir", state_dir.to_str().unwrap()])
            .env_remove("GITTENSOR_MINER_PAT")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .env_remove("STATE_DIRECTORY")
            .env("RUST_LOG", "gittensor_miner_agent=trace")
            .env("NO_COLOR", "1")
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Daemon { child: cmd.spawn().expect("cannot start the agent"), log, stdout }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status (waiting at most `limit`).
    pub fn stop(&mut self, limit: Duration) -> Option<i32> {
        self.signal("TERM");
        self.wait(limit)
    }

    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// A daemon config for the emulated validators with every interval shortened.
pub const FAST_DAEMON: &str = "check_timeout_secs = 1\nbroadcast_timeout_secs = 2\n[retry]\nbase_secs = 0.5\nfactor = 2.0\nmax_secs = 2\n[daemon]\nsweep_interval_secs = 3\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.5\nliveness_interval_secs = 0.5\nchain_refresh_secs = 1\n";

/// A peer on 127.0.0.1 that accepts TCP connections and never says a word (a hung GitHub,
/// chain node or validator): every connection is held open for the life of the test.
pub struct SilentListener {
    pub port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentListener {
    pub fn start() -> SilentListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        SilentListener { port, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Runs `cmd` with `stdin` written to it, and collects what it printed.
pub fn output_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
