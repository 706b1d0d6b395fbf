//! Several hotkeys on one machine: the template unit `gittensor-miner-agent@NAME.service`
//! runs one agent per instance NAME, each with files of its own. This module is the one
//! place that knows where they are (the unit files in `systemd/` spell the same paths):
//!
//! | | plain unit | instance NAME |
//! |---|---|---|
//! | config | `/etc/gittensor-miner-agent/config.toml` | `/etc/gittensor-miner-agent/NAME.toml` |
//! | hotkey copy | `/etc/gittensor-miner-agent/hotkey` | `/etc/gittensor-miner-agent/NAME.hotkey` |
//! | PAT | `…/credentials/github-pat.cred` | `…/credentials/NAME.github-pat.cred` |
//! | PAT, systemd < 250 | `…/credentials/github-pat.plain` | `…/credentials/NAME.github-pat.plain` |
//! | its drop-in | `/etc/systemd/system/gittensor-miner-agent.service.d/plain-pat.conf` | `…/gittensor-miner-agent@NAME.service.d/plain-pat.conf` |
//! | state | `/var/lib/gittensor-miner-agent` | `/var/lib/gittensor-miner-agent/NAME` |

use std::path::{Path, PathBuf};

/// Where the packaged service's files live.
pub const ETC_DIR: &str = "/etc/gittensor-miner-agent";
/// Where the operator's (and `pat set --systemd`'s) drop-ins for the units go.
pub const UNIT_DROPIN_DIR: &str = "/etc/systemd/system";
/// The plain unit (`.service` left off, as `systemctl` takes it).
pub const UNIT: &str = "gittensor-miner-agent";

/// Why a name cannot be an instance's: one line, for clap's usage error and for the config error.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("an instance name has 1 to 64 characters".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.starts_with('-') {
        return Err(format!(
            "{name:?} is not an instance name: use letters, digits, `_` and `-` (not first), e.g. `alice` or `hotkey-2`"
        ));
    }
    // `config` would share the plain unit's config.toml; `default` is the plain unit's name
    // in metrics, alerts and `status`.
    if matches!(name, "config" | "default") {
        return Err(format!("{name:?} is taken by the plain unit: choose another instance name"));
    }
    Ok(())
}

/// The files of one service: the plain unit's, or those of an instance of the template unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePaths {
    /// `None` for the plain unit.
    pub instance: Option<String>,
    pub config: PathBuf,
    /// The copy of the miner's hotkey file the unit hands over (`LoadCredential=hotkey:…`).
    pub hotkey: PathBuf,
    /// The encrypted PAT (`pat set --systemd`, `LoadCredentialEncrypted=github-pat:…`); on a
    /// systemd without `systemd-creds` (before 250), the plain file beside it ([`Self::credential`]).
    pub pat: PathBuf,
    /// Where the unit's `StateDirectory=` is.
    pub state_dir: PathBuf,
}

impl Default for ServicePaths {
    fn default() -> Self {
        ServicePaths::of(None)
    }
}

impl ServicePaths {
    /// The plain unit's files (`None`), or instance `name`'s (validated by the caller).
    pub fn of(instance: Option<&str>) -> ServicePaths {
        let etc = Path::new(ETC_DIR);
        match instance {
            None => ServicePaths {
                instance: None,
                config: PathBuf::from(super::SYSTEM_CONFIG),
                hotkey: PathBuf::from(super::SERVICE_HOTKEY),
                pat: PathBuf::from(crate::secrets::SERVICE_CREDENTIAL),
                state_dir: PathBuf::from(super::SYSTEM_STATE_DIR),
            },
            Some(name) => ServicePaths {
                instance: Some(name.to_owned()),
                config: etc.join(format!("{name}.toml")),
                hotkey: etc.join(format!("{name}.hotkey")),
                pat: crate::secrets::service_credential_path(Some(name)),
                state_dir: Path::new(super::SYSTEM_STATE_DIR).join(name),
            },
        }
    }

    /// The unit, as `systemctl` and `journalctl -u` take it: `gittensor-miner-agent` or
    /// `gittensor-miner-agent@NAME`.
    pub fn unit(&self) -> String {
        match &self.instance {
            None => UNIT.to_owned(),
            Some(name) => format!("{UNIT}@{name}"),
        }
    }

    /// Every file `pat set --systemd` may write for this service: the encrypted credential,
    /// or (systemd before 250) the root-only plain file and the drop-in that loads it.
    pub fn credential(&self) -> crate::secrets::ServiceCredential {
        let unit = self.unit();
        crate::secrets::ServiceCredential {
            encrypted: self.pat.clone(),
            plain: crate::secrets::plain_credential_path(&self.pat),
            dropin: Path::new(UNIT_DROPIN_DIR).join(format!("{unit}.service.d")).join(crate::secrets::PLAIN_DROPIN),
            unit,
        }
    }

    /// What to add to a command for this service: `""` or `" --instance NAME"`.
    pub fn flag(&self) -> String {
        self.instance.as_ref().map(|name| format!(" --instance {name}")).unwrap_or_default()
    }

    /// The name `status` and metrics give it: the instance, or `default`.
    pub fn name(&self) -> &str {
        self.instance.as_deref().unwrap_or("default")
    }
}

/// The instances set up on this machine: every `/etc/gittensor-miner-agent/NAME.toml` whose
/// NAME is an instance name, sorted. (The plain unit's `config.toml` is not one.)
pub fn configured() -> Vec<String> {
    configured_in(Path::new(ETC_DIR))
}

fn configured_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_owned))
        .filter(|name| validate(name).is_ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_paths_and_unit_names() {
        for good in ["alice", "hotkey-2", "miner_3", "A1"] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        for bad in ["", "-x", "a/b", "..", "a.b", "a b", "ä", "config", "default", &"x".repeat(65)] {
            assert!(validate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_instance_has_files_of_its_own() {
        let alice = ServicePaths::of(Some("alice"));
        assert_eq!(alice.config, Path::new("/etc/gittensor-miner-agent/alice.toml"));
        assert_eq!(alice.hotkey, Path::new("/etc/gittensor-miner-agent/alice.hotkey"));
        assert_eq!(alice.pat, Path::new("/etc/gittensor-miner-agent/credentials/alice.github-pat.cred"));
        assert_eq!(alice.state_dir, Path::new("/var/lib/gittensor-miner-agent/alice"));
        let credential = alice.credential();
        assert_eq!(credential.plain, Path::new("/etc/gittensor-miner-agent/credentials/alice.github-pat.plain"));
        assert_eq!(
            credential.dropin,
            Path::new("/etc/systemd/system/gittensor-miner-agent@alice.service.d/plain-pat.conf")
        );
        assert_eq!(
            (alice.unit(), alice.flag(), alice.name()),
            ("gittensor-miner-agent@alice".into(), " --instance alice".into(), "alice")
        );
        let plain = ServicePaths::default();
        assert_eq!(plain.config, Path::new(super::super::SYSTEM_CONFIG));
        assert_eq!(plain.pat, Path::new(crate::secrets::SERVICE_CREDENTIAL));
        let credential = plain.credential();
        assert_eq!(credential.plain, Path::new("/etc/gittensor-miner-agent/credentials/github-pat.plain"));
        assert_eq!(credential.dropin, Path::new("/etc/systemd/system/gittensor-miner-agent.service.d/plain-pat.conf"));
        assert_eq!(
            (plain.unit(), plain.flag(), plain.name()),
            ("gittensor-miner-agent".into(), String::new(), "default")
        );
    }

    #[test]
    fn the_unit_files_spell_the_same_paths() {
        let template = include_str!("../../systemd/gittensor-miner-agent@.service");
        for line in [
            "ExecStart=/usr/bin/gittensor-miner-agent run --config /etc/gittensor-miner-agent/%i.toml",
            "LoadCredential=hotkey:/etc/gittensor-miner-agent/%i.hotkey",
            "LoadCredentialEncrypted=github-pat:/etc/gittensor-miner-agent/credentials/%i.github-pat.cred",
            "StateDirectory=gittensor-miner-agent/%i",
            "Environment=GITTENSOR_MINER_AGENT_INSTANCE=%i",
        ] {
            assert!(template.lines().any(|l| l == line), "the template unit lacks {line:?}");
        }
    }

    #[test]
    fn configured_instances_are_the_toml_files_with_instance_names() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["config.toml", "bob.toml", "alice.toml", "alice.hotkey", "not an.toml", "x.toml.dpkg-old"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("credentials")).unwrap();
        assert_eq!(configured_in(dir.path()), ["alice", "bob"]);
        assert!(configured_in(&dir.path().join("missing")).is_empty());
    }
}
