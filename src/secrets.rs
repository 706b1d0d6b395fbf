//! The GitHub PAT: where it is stored and how it is read. It is never logged; the most
//! that is ever shown is `***` plus its last four characters.

use std::fmt;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use serde::Deserialize;
use thiserror::Error;
use zeroize::Zeroizing;

/// The environment variable the reference CLI (`gitt miner post`) reads too.
pub const PAT_ENV: &str = "GITTENSOR_MINER_PAT";
/// Keyring "service" under which the PAT is filed.
pub const KEYRING_SERVICE: &str = "gittensor-miner-agent";

/// A GitHub personal access token. No `Display`; `Debug` shows only the masked form;
/// the memory is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Pat(Zeroizing<String>);

impl Pat {
    /// Trims surrounding whitespace (a pasted newline is not part of the token).
    pub fn new(raw: &str) -> Result<Self, SecretError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(SecretError::Empty);
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SecretError::BadCharacters);
        }
        Ok(Pat(Zeroizing::new(token.to_owned())))
    }

    /// The token itself, for the two places that must send it: GitHub and validators.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `***` plus the last four characters: enough to tell rotated tokens apart.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 8 {
            return "***".into();
        }
        format!("***{}", chars[chars.len() - 4..].iter().collect::<String>())
    }
}

impl fmt::Debug for Pat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pat({})", self.masked())
    }
}

/// Which OS credential store holds the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeyringStore {
    /// The desktop Secret Service (GNOME Keyring, KWallet) when a session bus offers it,
    /// else the kernel keyring.
    Auto,
    /// Freedesktop Secret Service over D-Bus (desktops).
    SecretService,
    /// The Linux kernel's persistent keyring (servers without a desktop session).
    Keyutils,
    /// Do not use a keyring (environment variable only).
    None,
}

impl fmt::Display for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyringStore::Auto => "auto",
            KeyringStore::SecretService => "secret-service",
            KeyringStore::Keyutils => "keyutils",
            KeyringStore::None => "none",
        })
    }
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("the PAT is empty")]
    Empty,
    #[error("the PAT contains whitespace or control characters; paste only the token")]
    BadCharacters,
    #[error(
        "keyring store is `none`: no keyring to use; set `pat.store` in the config to `keyutils` or `secret-service`"
    )]
    NoStore,
    #[error("the {store} keyring cannot be opened ({detail}); try another `pat.store` in the config (`keyutils` works on servers without a desktop session)")]
    StoreUnavailable { store: KeyringStore, detail: String },
    #[error("the {store} keyring failed: {detail}")]
    Keyring { store: KeyringStore, detail: String },
    /// The kernel keyring refused us both in this shell's session keyring and in a fresh one
    /// of our own: typically a `sudo`/`su` shell (no pam_keyinit) in a restricted container.
    #[error("the kernel keyring refuses to {action} the PAT here ({detail}){nothing}. For the service, use `sudo gittensor-miner-agent pat {command} --systemd`; for your own runs, run `gittensor-miner-agent pat {command}` in a login shell of the user who runs `post` (not through sudo or su), or set `pat.store = \"secret-service\"` on a desktop")]
    KernelKeyringRefused { action: &'static str, command: &'static str, nothing: &'static str, detail: String },
    #[error("no PAT found: store one with `gittensor-miner-agent pat set` (or set {PAT_ENV} for a one-off run)")]
    NotFound,
    /// `instance`: `" --instance NAME"` for an instance of the template unit, else empty.
    #[error("no PAT stored for the service: run `sudo gittensor-miner-agent pat set --systemd{instance}` (it restarts the service with it)")]
    NotFoundForService { instance: String },
    #[error(
        "the PAT credential {path} cannot be read ({detail}); store it again with `sudo gittensor-miner-agent pat set --systemd`"
    )]
    Credential { path: std::path::PathBuf, detail: String },
}

/// Where a PAT was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatSource {
    Credential { path: std::path::PathBuf },
    Keyring { store: KeyringStore, account: String },
    Environment,
}

impl fmt::Display for PatSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatSource::Credential { path } => write!(f, "systemd credential {}", path.display()),
            PatSource::Keyring { store, account } => {
                write!(f, "{store} keyring (service {KEYRING_SERVICE}, account {account})")
            }
            PatSource::Environment => write!(f, "environment variable {PAT_ENV}"),
        }
    }
}

/// The PAT's home in one keyring store. Store calls block (D-Bus, syscalls): call them
/// from a blocking context.
pub struct PatKeyring {
    store_kind: KeyringStore,
    store: Arc<CredentialStore>,
    account: String,
}

impl PatKeyring {
    /// Opens the configured store; `auto` prefers the Secret Service and falls back to
    /// the kernel keyring when no session bus answers (a server, a systemd service).
    pub fn open(kind: KeyringStore, account: &str) -> Result<Self, SecretError> {
        let (store_kind, store) = match kind {
            KeyringStore::None => return Err(SecretError::NoStore),
            KeyringStore::SecretService => (kind, open_secret_service()?),
            KeyringStore::Keyutils => (kind, open_keyutils()?),
            KeyringStore::Auto => match open_secret_service() {
                Ok(store) => (KeyringStore::SecretService, store),
                Err(e) => {
                    tracing::debug!(error = %e, "Secret Service unavailable, using the kernel keyring");
                    (KeyringStore::Keyutils, open_keyutils()?)
                }
            },
        };
        Ok(PatKeyring { store_kind, store, account: account.to_owned() })
    }

    pub fn source(&self) -> PatSource {
        PatSource::Keyring { store: self.store_kind, account: self.account.clone() }
    }

    fn entry(&self) -> Result<Entry, SecretError> {
        Entry::new_in_store(&self.store, KEYRING_SERVICE, &self.account).map_err(|e| self.failed(e))
    }

    fn failed(&self, e: keyring_core::Error) -> SecretError {
        SecretError::Keyring { store: self.store_kind, detail: e.to_string() }
    }

    /// `Ok(None)` when the store holds no PAT for this account. In the kernel keyring, when
    /// this shell's session keyring cannot reach it (`sudo`, `su`), it is looked for again
    /// from a session keyring of our own, where the user's persistent keyring is linked in.
    pub fn get(&self) -> Result<Option<Pat>, SecretError> {
        let read = |entry: &Entry| match entry.get_password() {
            Ok(raw) => Ok(Some(Zeroizing::new(raw))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        };
        let raw = match self.entry().and_then(|entry| read(&entry).map_err(|e| self.failed(e))) {
            Ok(Some(raw)) => Some(raw),
            _ if self.store_kind != KeyringStore::Keyutils => None,
            // This session holds none: another may have stored it in the persistent keyring.
            Ok(None) => self
                .in_private_session(&SecretError::NotFound, "read", "set", "")
                .ok()
                .and_then(|private| read(&private).ok().flatten()),
            Err(refused) => {
                let private = self.in_private_session(&refused, "read", "set", "")?;
                read(&private).map_err(|e| refused_here("read", "set", "", e))?
            }
        };
        raw.map(|raw| Pat::new(&raw)).transpose()
    }

    /// Stores the PAT, all of it or nothing: in the kernel keyring a key that reached this
    /// shell's session keyring but not the persistent one is taken out again.
    pub fn set(&self, pat: &Pat) -> Result<Stored, SecretError> {
        if self.store_kind != KeyringStore::Keyutils {
            self.entry()?.set_password(pat.expose()).map_err(|e| self.failed(e))?;
            return Ok(Stored::Keyring);
        }
        let in_this_session =
            self.entry().and_then(|entry| store_in_kernel_session(&entry, pat).map_err(|e| self.failed(e)));
        let Err(refused) = in_this_session else { return Ok(Stored::Keyring) };
        tracing::debug!(error = %refused, "this session's kernel keyring refused the PAT; trying a session keyring of our own");
        let private = self.in_private_session(&refused, "store", "set", ": nothing was stored")?;
        store_in_kernel_session(&private, pat).map_err(|e| refused_here("store", "set", ": nothing was stored", e))?;
        Ok(Stored::PersistentOnly)
    }

    /// `Ok(false)` when there was nothing to delete.
    pub fn delete(&self) -> Result<bool, SecretError> {
        let deleted = |entry: &Entry| match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(e),
        };
        match self.entry().and_then(|entry| deleted(&entry).map_err(|e| self.failed(e))) {
            Ok(true) => Ok(true),
            other if self.store_kind != KeyringStore::Keyutils => other,
            Ok(false) => Ok(self
                .in_private_session(&SecretError::NotFound, "delete", "delete", "")
                .is_ok_and(|private| deleted(&private).unwrap_or(false))),
            Err(refused) => {
                let private = self.in_private_session(&refused, "delete", "delete", "")?;
                deleted(&private).map_err(|e| refused_here("delete", "delete", "", e))
            }
        }
    }

    /// A fresh session keyring of our own (what pam_keyinit gives a login; `sudo` and `su`
    /// on Debian give none), with the user's persistent keyring linked in, and this entry in it.
    fn in_private_session(
        &self,
        refused: &SecretError,
        action: &'static str,
        command: &'static str,
        nothing: &'static str,
    ) -> Result<Entry, SecretError> {
        let fail = |detail: String| SecretError::KernelKeyringRefused { action, command, nothing, detail };
        join_new_session_keyring().map_err(|e| fail(format!("{refused}; a session keyring of our own: {e}")))?;
        self.entry().map_err(|e| fail(e.to_string()))
    }
}

/// Where `pat set` left the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In the store, as a login session keeps it.
    Keyring,
    /// Only in the user's persistent kernel keyring: this shell's session keyring would not
    /// take it (`sudo`, `su`). The kernel drops it after days unused
    /// (`/proc/sys/kernel/keys/persistent_keyring_expiry`).
    PersistentOnly,
}

fn refused_here(
    action: &'static str,
    command: &'static str,
    nothing: &'static str,
    e: keyring_core::Error,
) -> SecretError {
    SecretError::KernelKeyringRefused { action, command, nothing, detail: e.to_string() }
}

/// Adds the PAT to the session keyring and links it into the persistent one, which keeps
/// it beyond this session; when the second step fails, the first is undone.
fn store_in_kernel_session(entry: &Entry, pat: &Pat) -> Result<(), keyring_core::Error> {
    let Some(cred) = entry.as_any().downcast_ref::<linux_keyutils_keyring_store::Cred>() else {
        return entry.set_password(pat.expose());
    };
    let denied = |what: String| keyring_core::Error::NoStorageAccess(what.into());
    let persistent =
        cred.persistent.ok_or_else(|| denied("no persistent keyring can be linked to this session".into()))?;
    let key = cred.session.add_key(&cred.description, pat.expose()).map_err(|e| denied(format!("{e:?}")))?;
    if let Err(e) = persistent.link_key(key) {
        // Never half-stored: a PAT only in a session keyring is lost with the session.
        if cred.session.unlink_key(key).is_err() {
            let _ = key.invalidate();
        }
        return Err(denied(format!("the persistent keyring: {e:?}")));
    }
    Ok(())
}

/// Joins a new, empty session keyring: `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`, as
/// pam_keyinit does for a login. It changes only the calling thread's credentials. The
/// syscall number comes from libc, which carries it for every Linux target.
#[cfg(target_os = "linux")]
fn join_new_session_keyring() -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: with a NULL name the kernel reads no memory of ours; the call only replaces
    // this thread's session keyring.
    let joined =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<libc::c_char>()) };
    if joined < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
fn join_new_session_keyring() -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(feature = "secret-service")]
fn open_secret_service() -> Result<Arc<CredentialStore>, SecretError> {
    // Without a session bus the D-Bus client would only time out; say so at once.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Err(SecretError::StoreUnavailable {
            store: KeyringStore::SecretService,
            detail: "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)".into(),
        });
    }
    zbus_secret_service_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| SecretError::StoreUnavailable { store: KeyringStore::SecretService, detail: e.to_string() })
}

/// A build without the `secret-service` feature (the .deb: servers): `auto` means the kernel
/// keyring, and asking for the Secret Service says why it is not there.
#[cfg(not(feature = "secret-service"))]
fn open_secret_service() -> Result<Arc<CredentialStore>, SecretError> {
    Err(SecretError::StoreUnavailable {
        store: KeyringStore::SecretService,
        detail: "this build has no Secret Service support (built without the `secret-service` cargo feature)".into(),
    })
}

fn open_keyutils() -> Result<Arc<CredentialStore>, SecretError> {
    linux_keyutils_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| SecretError::StoreUnavailable { store: KeyringStore::Keyutils, detail: e.to_string() })
}

/// The unit's fallback value (`SetCredential=<id>:-`) for a credential whose file is missing.
pub fn is_unset_credential(bytes: &[u8]) -> bool {
    matches!(bytes.trim_ascii(), b"" | b"-")
}

/// The PAT from systemd's credential directory, when the service was given one
/// (`LoadCredential=`/`LoadCredentialEncrypted=`): `Ok(None)` when there is none.
pub fn credential_pat(name: &str) -> Result<Option<(Pat, PatSource)>, SecretError> {
    let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else { return Ok(None) };
    let path = std::path::Path::new(&dir).join(name);
    match std::fs::read(&path) {
        // The unit's `SetCredential=github-pat:-` fallback: nothing stored yet.
        Ok(bytes) if is_unset_credential(&bytes) => Ok(None),
        Ok(bytes) => {
            let raw = Zeroizing::new(
                String::from_utf8(bytes)
                    .map_err(|_| SecretError::Credential { path: path.clone(), detail: "not UTF-8 text".into() })?,
            );
            Ok(Some((Pat::new(&raw)?, PatSource::Credential { path })))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SecretError::Credential { path, detail: e.to_string() }),
    }
}

/// The lookup: a systemd credential (when running as a service that has one), the
/// keyring, then `GITTENSOR_MINER_PAT` with a warning (an environment variable is readable
/// by anyone who can read the process).
pub fn find_pat(store: KeyringStore, account: &str, credential: &str) -> Result<(Pat, PatSource), SecretError> {
    if let Some(found) = credential_pat(credential)? {
        return Ok(found);
    }
    // A service started with credentials has no login keyring session: its PAT is the
    // credential (or, as a last resort, the environment).
    let service = std::env::var_os("CREDENTIALS_DIRECTORY").is_some();
    let mut keyring_problem = None;
    if store != KeyringStore::None && !service {
        match PatKeyring::open(store, account).and_then(|k| Ok((k.get()?, k.source()))) {
            Ok((Some(pat), source)) => return Ok((pat, source)),
            Ok((None, _)) => {}
            Err(e) => keyring_problem = Some(e),
        }
    }
    if let Ok(raw) = std::env::var(PAT_ENV) {
        let raw = Zeroizing::new(raw);
        let pat = Pat::new(&raw)?;
        tracing::warn!(
            "using the PAT from {PAT_ENV}: environment variables are readable by other processes of the same user; store it with `gittensor-miner-agent pat set` instead"
        );
        return Ok((pat, PatSource::Environment));
    }
    Err(keyring_problem.unwrap_or(if service {
        // The template unit names its instance here (`Environment=`): the fix is that instance's.
        let instance = std::env::var(crate::settings::INSTANCE_ENV).ok().filter(|name| !name.is_empty());
        SecretError::NotFoundForService {
            instance: instance.map(|name| format!(" --instance {name}")).unwrap_or_default(),
        }
    } else {
        SecretError::NotFound
    }))
}

/// Where `pat set --systemd` keeps the service's PAT, encrypted by `systemd-creds` with the
/// host key (and the TPM when there is one); the unit loads it with `LoadCredentialEncrypted=`.
pub const SERVICE_CREDENTIAL: &str = "/etc/gittensor-miner-agent/credentials/github-pat.cred";
/// The credential's name, as the unit and `pat.credential` know it.
pub const SERVICE_CREDENTIAL_NAME: &str = "github-pat";

/// The encrypted PAT of the plain unit ([`SERVICE_CREDENTIAL`]), or of the template unit's
/// instance `NAME` (`credentials/NAME.github-pat.cred`, as `gittensor-miner-agent@.service`
/// loads it; the name is validated by the caller).
pub fn service_credential_path(instance: Option<&str>) -> std::path::PathBuf {
    match instance {
        None => SERVICE_CREDENTIAL.into(),
        Some(name) => {
            std::path::Path::new(SERVICE_CREDENTIAL).with_file_name(format!("{name}.{SERVICE_CREDENTIAL_NAME}.cred"))
        }
    }
}

fn systemd_creds(path: &std::path::Path, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, SecretError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let failed = |detail: String| SecretError::Credential { path: path.into(), detail };
    let mut child = Command::new("systemd-creds")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run systemd-creds ({e}); it comes with systemd 250 and newer")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!("systemd-creds failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(out.stdout)
}

/// Encrypts the PAT into `path` ([`service_credential_path`]; root only: the directory is 0700).
/// Every instance's credential carries the same name, `github-pat`, as each unit loads it.
pub fn store_service_credential(pat: &Pat, path: &std::path::Path) -> Result<(), SecretError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SecretError::Credential { path: dir.into(), detail: format!("{e} (run as root: sudo)") })?;
    let name = format!("--name={SERVICE_CREDENTIAL_NAME}");
    let target = path.to_string_lossy();
    systemd_creds(path, &["encrypt", &name, "-", &target], Some(pat.expose().as_bytes()))?;
    Ok(())
}

/// Decrypts the plain unit's [`SERVICE_CREDENTIAL`] (`post` as root); `Ok(None)` when absent.
pub fn read_service_credential() -> Result<Option<(Pat, PatSource)>, SecretError> {
    read_service_credential_at(std::path::Path::new(SERVICE_CREDENTIAL))
}

/// Decrypts the credential at `path` (for `pat status --systemd`); `Ok(None)` when absent.
pub fn read_service_credential_at(path: &std::path::Path) -> Result<Option<(Pat, PatSource)>, SecretError> {
    if !path.exists() {
        return Ok(None);
    }
    let name = format!("--name={SERVICE_CREDENTIAL_NAME}");
    let source = path.to_string_lossy();
    let raw = Zeroizing::new(
        String::from_utf8(systemd_creds(path, &["decrypt", &name, &source, "-"], None)?).unwrap_or_default(),
    );
    Ok(Some((Pat::new(&raw)?, PatSource::Credential { path: path.into() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_shows_at_most_the_last_four() {
        let pat = Pat::new("ghp_abcdefghijklmnopqrstuvwxyz0123456789").unwrap();
        assert_eq!(pat.masked(), "***6789");
        assert_eq!(format!("{pat:?}"), "Pat(***6789)");
        assert_eq!(Pat::new("short").unwrap().masked(), "***");
    }

    #[test]
    fn pasted_whitespace_is_trimmed_but_inner_whitespace_refused() {
        assert_eq!(Pat::new("  ghp_token123\n").unwrap().expose(), "ghp_token123");
        assert!(matches!(Pat::new(" \n"), Err(SecretError::Empty)));
        assert!(matches!(Pat::new("ghp_a b"), Err(SecretError::BadCharacters)));
    }
}
