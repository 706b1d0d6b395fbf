//! The environment, read once: what settings resolution needs from it, captured into a
//! value so that resolution (and its tests) never read the process's environment.

use std::path::PathBuf;

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
}

impl Env {
    pub fn capture() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let credentials = var("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let hotkey_credential = var(HOTKEY_CREDENTIAL_ENV)
            .zip(credentials)
            .map(|(name, dir)| dir.join(name))
            .filter(|path| std::fs::read(path).is_ok_and(|bytes| !crate::secrets::is_unset_credential(&bytes)));
        Env {
            home: var("HOME").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            config_file: var(super::CONFIG_ENV).map(PathBuf::from),
            state_directory: var("STATE_DIRECTORY")
                .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default())),
            hotkey_credential,
            service: var(HOTKEY_CREDENTIAL_ENV).is_some(),
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
