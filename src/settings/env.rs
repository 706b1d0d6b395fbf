//! The environment, read once: what settings resolution needs from it, captured into a
//! value so that resolution (and its tests) never read the process's environment.

use std::path::{Path, PathBuf};

/// The unit passes the hotkey as a systemd credential named by this variable
/// (`LoadCredential=hotkey:…`).
pub const HOTKEY_CREDENTIAL_ENV: &str = "GITTENSOR_MINER_AGENT_HOTKEY_CREDENTIAL";

#[derive(Debug, Clone, Default)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    /// `$GITTENSOR_MINER_AGENT_CONFIG`.
    pub config_file: Option<PathBuf>,
    /// systemd's `StateDirectory=` (`$STATE_DIRECTORY`, its first entry).
    pub state_directory: Option<PathBuf>,
    /// The service's hotkey credential, when one is installed (the unit's fallback `-`,
    /// "not installed yet", does not count).
    pub hotkey_credential: Option<PathBuf>,
    /// Running as the service: the hotkey is expected as a credential.
    pub service: bool,
    /// Running as root (effective uid 0): `sudo gittensor-miner-agent …` on a server means
    /// the service's files, not root's own wallets.
    pub root: bool,
    /// Which of the packaged service's files exist on this machine.
    pub service_files: ServiceFiles,
    /// `$GITTENSOR_MINER_AGENT_INSTANCE`: the template unit's instance (one per hotkey).
    pub instance: Option<String>,
}

/// The packaged service's files, as found when the environment was captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceFiles {
    /// [`super::SYSTEM_CONFIG`].
    pub config: bool,
    /// [`super::SERVICE_HOTKEY`], the copy of the miner's hotkey the unit hands over.
    pub hotkey: bool,
    /// [`crate::secrets::SERVICE_CREDENTIAL`], the service's encrypted PAT.
    pub pat: bool,
}

impl Env {
    pub fn capture() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let credentials = var("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let hotkey_credential = var(HOTKEY_CREDENTIAL_ENV)
            .zip(credentials)
            .map(|(name, dir)| dir.join(name))
            .filter(|path| std::fs::read(path).is_ok_and(|bytes| !crate::secrets::is_unset_credential(&bytes)));
        // `exists`, not `is_file`: a file root may not read yet is still the service's.
        let exists = |path: &str| Path::new(path).exists();
        Env {
            home: var("HOME").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            config_file: var(super::CONFIG_ENV).map(PathBuf::from),
            state_directory: var("STATE_DIRECTORY")
                .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default())),
            hotkey_credential,
            service: var(HOTKEY_CREDENTIAL_ENV).is_some(),
            root: effective_uid() == Some(0),
            service_files: ServiceFiles {
                config: exists(super::SYSTEM_CONFIG),
                hotkey: exists(super::SERVICE_HOTKEY),
                pat: exists(crate::secrets::SERVICE_CREDENTIAL),
            },
            instance: var(super::INSTANCE_ENV).map(|v| v.to_string_lossy().into_owned()),
        }
    }

    /// `~/.config`, or `$XDG_CONFIG_HOME`.
    pub fn user_config_dir(&self) -> Option<PathBuf> {
        self.xdg_config_home.clone().or_else(|| self.home.as_ref().map(|h| h.join(".config")))
    }

    /// `~/x` → `$HOME/x`.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), &self.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ if path == "~" => self.home.clone().unwrap_or_else(|| PathBuf::from(path)),
            _ => PathBuf::from(path),
        }
    }
}

/// The effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| line.strip_prefix("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}
