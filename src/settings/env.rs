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
    /// The template unit's instance (one per hotkey): `--instance`, else
    /// `$GITTENSOR_MINER_AGENT_INSTANCE` (which the unit sets).
    pub instance: Option<String>,
    /// The files of the service meant: that instance's, or the plain unit's.
    pub service_paths: super::ServicePaths,
}

/// The packaged service's files ([`Env::service_paths`]), as found when the environment was captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceFiles {
    /// Its config ([`super::SYSTEM_CONFIG`] for the plain unit).
    pub config: bool,
    /// Its copy of the miner's hotkey the unit hands over ([`super::SERVICE_HOTKEY`]).
    pub hotkey: bool,
    /// Its PAT: encrypted ([`crate::secrets::SERVICE_CREDENTIAL`]), or the root-only plain file
    /// beside it (systemd before 250).
    pub pat: bool,
}

impl Env {
    /// The environment now, for the instance `--instance` names (`None`: none named).
    pub fn capture(instance_flag: Option<&str>) -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let credentials = var("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let hotkey_credential = var(HOTKEY_CREDENTIAL_ENV)
            .zip(credentials)
            .map(|(name, dir)| dir.join(name))
            // A credential that is a FIFO, a device or huge is kept, so loading it says so.
            .filter(|path| match crate::files::read_bounded(path, crate::files::HOTKEY_LIMIT) {
                Ok(bytes) => !crate::secrets::is_unset_credential(&bytes),
                Err(crate::files::ReadError::Io(_)) => false,
                Err(_) => true,
            });
        let instance = instance_flag
            .map(str::to_owned)
            .or_else(|| var(super::INSTANCE_ENV).map(|v| v.to_string_lossy().into_owned()));
        let service_paths = super::ServicePaths::of(instance.as_deref());
        // `exists`, not `is_file`: a file root may not read yet is still the service's.
        let exists = |path: &Path| path.exists();
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
                config: exists(&service_paths.config),
                hotkey: exists(&service_paths.hotkey),
                pat: exists(&service_paths.pat) || exists(&crate::secrets::plain_credential_path(&service_paths.pat)),
            },
            instance,
            service_paths,
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
pub(crate) fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| line.strip_prefix("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}
