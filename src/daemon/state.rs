//! The daemon's persisted state: what each validator last said, its axon uuid, backoff
//! deadlines, the last broadcasts and the alert hook's open incidents. Never the PAT: only its masked form and a salted
//! fingerprint, to notice after a restart that the PAT changed.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the directory), readable by
//! the service's group (mode 0640). A corrupt file is moved aside and rebuilt.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};

use super::alerts::Alerting;
use crate::github::PatStanding;
use crate::reconcile::tracker::Tracker;
use crate::secrets::Pat;

pub const STATE_FILE: &str = "state.json";
const VERSION: u32 = 1;

/// What the state file remembers of the PAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatRecord {
    /// `***` + last four characters.
    pub masked: String,
    /// SHA3-256 of a random salt and the PAT: tells "same PAT" without storing it.
    pub salt: String,
    pub fingerprint: String,
    pub github_login: Option<String>,
    pub expires: Option<String>,
    /// GitHub's last word on it, with GitHub's reason.
    pub verdict: PatStanding,
    pub reason: Option<String>,
    pub validated_ms: Option<u64>,
}

impl PatRecord {
    pub fn new(pat: &Pat) -> Self {
        let salt = hex::encode(rand::random::<[u8; 16]>());
        let fingerprint = fingerprint(&salt, pat);
        PatRecord {
            masked: pat.masked(),
            salt,
            fingerprint,
            github_login: None,
            expires: None,
            verdict: PatStanding::Unknown,
            reason: None,
            validated_ms: None,
        }
    }

    pub fn matches(&self, pat: &Pat) -> bool {
        fingerprint(&self.salt, pat) == self.fingerprint
    }
}

fn fingerprint(salt: &str, pat: &Pat) -> String {
    let mut hasher = Sha3_256::new();
    hasher.update(salt.as_bytes());
    hasher.update(pat.expose().as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub tracker: Tracker,
    pub pat: Option<PatRecord>,
    pub last_sweep_ms: Option<u64>,
    pub next_sweep_ms: Option<u64>,
    /// Where the validator set came from last.
    pub source: Option<String>,
    /// When the file was last written: at least every [`HEARTBEAT`] while the agent runs.
    pub updated_ms: u64,
    /// The agent process behind the file, so that `status` tells a running agent from a
    /// stopped one. Absent in files written before it existed.
    #[serde(default)]
    pub agent: Option<AgentProcess>,
    /// The alert hook's open incidents: a restart resolves what it announced, once, and
    /// does not announce again what is still open. Absent in files written before it existed.
    #[serde(default)]
    pub alerts: Alerting,
}

/// The longest a running agent goes without writing its state file.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProcess {
    pub pid: u32,
    pub started_ms: u64,
    /// Set by a clean stop.
    pub stopped_ms: Option<u64>,
    /// The boot it runs in (`/proc/sys/kernel/random/boot_id`): absent where `/proc/sys` is
    /// hidden (the units' `ProcSubset=pid`) and in files written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// Its start time in clock ticks since boot (`/proc/self/stat` field 22): with the pid,
    /// what tells it from a later process that got the same pid, whatever either is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl AgentProcess {
    /// This process, started at `now_ms`.
    pub fn this(now_ms: u64) -> Self {
        AgentProcess {
            pid: std::process::id(),
            started_ms: now_ms,
            stopped_ms: None,
            boot_id: crate::proc_identity::boot_id(),
            start_ticks: crate::proc_identity::own_start_ticks(),
        }
    }
}

/// Whether the agent that wrote a state file still runs, as far as the file (and, where it
/// can be seen, the process table) tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    Yes,
    /// It stopped cleanly at this time.
    Stopped {
        at_ms: u64,
    },
    /// Its process is gone without a clean stop (a crash, a kill, a power cut).
    Died {
        last_seen_ms: u64,
    },
    /// No write for three heartbeats: it is hung, or gone where we cannot see its process.
    Stale {
        last_seen_ms: u64,
    },
}

impl State {
    /// `process_alive`: whether the recorded agent process still runs, when that can be
    /// seen from here (`None` when /proc hides other users' processes).
    pub fn running(&self, now_ms: u64, process_alive: impl Fn(&AgentProcess) -> Option<bool>) -> Running {
        let last_seen_ms = self.updated_ms;
        if let Some(at_ms) = self.agent.as_ref().and_then(|a| a.stopped_ms) {
            return Running::Stopped { at_ms };
        }
        if let Some(Some(false)) = self.agent.as_ref().map(&process_alive) {
            return Running::Died { last_seen_ms };
        }
        if now_ms.saturating_sub(last_seen_ms) > 3 * HEARTBEAT.as_millis() as u64 {
            return Running::Stale { last_seen_ms };
        }
        Running::Yes
    }
}

/// How loading went.
#[derive(Debug)]
pub enum Loaded {
    Fresh,
    Resumed(Box<State>),
    /// The file was unreadable or corrupt; it was moved to `moved_to` (if it could be).
    Rebuilt {
        reason: String,
        moved_to: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn in_dir(dir: &Path) -> Self {
        StateFile { path: dir.join(STATE_FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file for `status`: errors are reported, nothing is moved.
    pub fn read(&self) -> io::Result<State> {
        let bytes = fs::read(&self.path)?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Reads the file for the daemon: a corrupt one is moved aside so it is rebuilt.
    pub fn load(&self, now_ms: u64) -> Loaded {
        match fs::read(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Loaded::Fresh,
            Err(e) => Loaded::Rebuilt {
                reason: format!("cannot read {}: {e}", self.path.display()),
                moved_to: self.move_aside(now_ms),
            },
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) if state.version == VERSION => Loaded::Resumed(Box::new(state)),
                Ok(state) => Loaded::Rebuilt {
                    reason: format!("{} has version {}, expected {VERSION}", self.path.display(), state.version),
                    moved_to: self.move_aside(now_ms),
                },
                Err(e) => Loaded::Rebuilt {
                    reason: format!("{} is corrupt: {e}", self.path.display()),
                    moved_to: self.move_aside(now_ms),
                },
            },
        }
    }

    fn move_aside(&self, now_ms: u64) -> Option<PathBuf> {
        let aside = self.path.with_extension(format!("json.corrupt-{now_ms}"));
        fs::rename(&self.path, &aside).ok().map(|()| aside)
    }

    /// Atomic replace: a crash or a full disk leaves the previous file intact.
    pub fn save(&self, state: &State) -> io::Result<()> {
        let mut state = state.clone();
        state.version = VERSION;
        let bytes = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        // Group-readable: the service group may read the state (`status`).
        crate::files::write_atomic(&self.path, &bytes, 0o640)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_state_file_tells_whether_its_agent_still_runs() {
        let minute = 60_000;
        let running = State {
            updated_ms: 10 * minute,
            agent: Some(AgentProcess { pid: 42, started_ms: 0, stopped_ms: None, boot_id: None, start_ticks: None }),
            ..State::default()
        };
        let alive = |_: &AgentProcess| Some(true);
        let unknown = |_: &AgentProcess| None;
        let gone = |_: &AgentProcess| Some(false);
        assert_eq!(running.running(11 * minute, alive), Running::Yes);
        assert_eq!(running.running(13 * minute, unknown), Running::Yes, "three heartbeats of grace");
        assert_eq!(running.running(14 * minute, unknown), Running::Stale { last_seen_ms: 10 * minute });
        assert_eq!(running.running(14 * minute, alive), Running::Stale { last_seen_ms: 10 * minute }, "alive but hung");
        assert_eq!(running.running(11 * minute, gone), Running::Died { last_seen_ms: 10 * minute });
        let stopped = State {
            agent: Some(AgentProcess {
                pid: 42,
                started_ms: 0,
                stopped_ms: Some(10 * minute),
                boot_id: None,
                start_ticks: None,
            }),
            ..running.clone()
        };
        assert_eq!(stopped.running(10 * minute, alive), Running::Stopped { at_ms: 10 * minute });
        let before_this_existed = State { agent: None, ..running };
        assert_eq!(before_this_existed.running(11 * minute, gone), Running::Yes);
        assert_eq!(before_this_existed.running(20 * minute, gone), Running::Stale { last_seen_ms: 10 * minute });
    }

    use super::*;

    #[test]
    fn saves_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        assert!(matches!(file.load(1), Loaded::Fresh));
        let state = State { last_sweep_ms: Some(42), ..Default::default() };
        file.save(&state).unwrap();
        match file.load(2) {
            Loaded::Resumed(loaded) => assert_eq!(loaded.last_sweep_ms, Some(42)),
            other => panic!("{other:?}"),
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn open_incidents_are_kept_and_a_file_from_before_them_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        let mut state = State { last_sweep_ms: Some(1), ..Default::default() };
        let settings = super::super::alerts::AlertSettings {
            command: "/bin/true".into(),
            grace: std::time::Duration::ZERO,
            repeat: std::time::Duration::from_secs(3600),
            unreachable_grace: std::time::Duration::ZERO,
        };
        let tracker = Tracker { pat: PatStanding::Rejected, ..Default::default() };
        let situation = super::super::alerts::Situation {
            tracker: &tracker,
            pat: PatStanding::Rejected,
            pat_reason: None,
            days_to_expiry: None,
            expiry_warning_days: 14,
            now_ms: 5,
        };
        assert_eq!(state.alerts.events(&settings, &situation).len(), 1);
        file.save(&state).unwrap();
        let loaded = file.read().unwrap();
        assert_eq!(loaded.alerts, state.alerts);
        assert_eq!(loaded.alerts.open()[0].first_fired_ms, 5);

        let mut old: serde_json::Value = serde_json::from_slice(&fs::read(file.path()).unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("alerts");
        fs::write(file.path(), serde_json::to_vec(&old).unwrap()).unwrap();
        match file.load(6) {
            Loaded::Resumed(loaded) => assert!(loaded.alerts.open().is_empty() && loaded.last_sweep_ms == Some(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        fs::write(file.path(), b"{\"version\": 1, \"tracker\": [garbage").unwrap();
        match file.load(7) {
            Loaded::Rebuilt { moved_to: Some(aside), reason } => {
                assert!(reason.contains("corrupt"), "{reason}");
                assert!(aside.exists() && aside.to_string_lossy().ends_with("corrupt-7"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(file.load(8), Loaded::Fresh));
    }

    #[test]
    fn the_pat_is_recognised_but_never_stored() {
        let pat = Pat::new("ghp_SuperSecretTokenValue1234").unwrap();
        let record = PatRecord::new(&pat);
        assert!(record.matches(&pat));
        assert!(!record.matches(&Pat::new("ghp_AnotherTokenValue99990000").unwrap()));
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("SuperSecretTokenValue"), "{json}");
        assert_eq!(record.masked, "***1234");
    }

    #[test]
    fn a_failed_save_leaves_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        file.save(&State { last_sweep_ms: Some(1), ..Default::default() }).unwrap();
        // A directory others may write to makes the write fail.
        fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert!(file.save(&State { last_sweep_ms: Some(2), ..Default::default() }).is_err());
        assert_eq!(file.read().unwrap().last_sweep_ms, Some(1));
    }

    /// Part 12 item 8: the old write opened `state.json.tmp` following links, and then
    /// changed the mode of whatever the link named.
    #[test]
    fn a_symlink_planted_at_the_old_temporary_path_is_not_followed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("shadow");
        fs::write(&victim, "root:secret\n").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let file = StateFile::in_dir(dir.path());
        std::os::unix::fs::symlink(&victim, file.path().with_extension("json.tmp")).unwrap();

        file.save(&State { last_sweep_ms: Some(7), ..Default::default() }).unwrap();

        assert_eq!(fs::read_to_string(&victim).unwrap(), "root:secret\n");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(file.read().unwrap().last_sweep_ms, Some(7));
        let saved = fs::symlink_metadata(file.path()).unwrap();
        assert!(saved.file_type().is_file(), "state.json must be a file of its own");
        assert_eq!(saved.mode() & 0o7777, 0o640);
    }

    #[test]
    fn a_state_directory_others_may_write_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let file = StateFile::in_dir(dir.path());
        let err = file.save(&State::default()).unwrap_err().to_string();
        let shown = dir.path().display();
        assert_eq!(
            err,
            format!("directory {shown} is writable by group or others (mode 0777), so another user could replace the agent's files there: `chmod go-w {shown}`, or choose a directory only the agent's user may write")
        );
        assert!(!file.path().exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left behind");
    }
}
