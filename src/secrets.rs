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
    /// Writing or removing one of the service's PAT files (`pat set|delete --systemd`).
    #[error(
        "cannot {action} {path} ({detail}); `pat … --systemd` works on the service's files: run it as root (sudo)"
    )]
    CredentialFile { action: &'static str, path: std::path::PathBuf, detail: String },
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
/// The systemd release that brought `systemd-creds` and `LoadCredentialEncrypted=`.
pub const SYSTEMD_CREDS_SINCE: u32 = 250;
/// The drop-in `pat set --systemd` writes where there is no `systemd-creds`, in the unit's
/// `/etc/systemd/system/UNIT.service.d/`.
pub const PLAIN_DROPIN: &str = "plain-pat.conf";

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

/// Beside the encrypted credential `….cred`: `….plain`, the PAT as a root-only file, for a
/// systemd without `systemd-creds` (before 250), handed over with `LoadCredential=`.
pub fn plain_credential_path(encrypted: &std::path::Path) -> std::path::PathBuf {
    encrypted.with_extension("plain")
}

/// The drop-in that hands `plain` to `unit` (`gittensor-miner-agent` or `…@NAME`). Only a
/// systemd without `LoadCredentialEncrypted=` gets it: there the unit's line is an unknown
/// key, ignored, and this `LoadCredential=` is the only one for the id. (Where both are
/// known, a second line for one id is a duplicate that systemd warns about.)
pub fn plain_dropin(unit: &str, plain: &std::path::Path) -> String {
    format!(
        "# Written by `gittensor-miner-agent pat set --systemd`: this systemd has no systemd-creds\n\
         # (it came with systemd {SYSTEMD_CREDS_SINCE}), so the PAT is a root-only file, not encrypted at rest.\n\
         # `pat set --systemd` on systemd {SYSTEMD_CREDS_SINCE} or newer encrypts it and removes this file;\n\
         # `pat delete --systemd` removes it too. For {unit}.service.\n\
         [Service]\n\
         LoadCredential={SERVICE_CREDENTIAL_NAME}:{}\n",
        plain.display()
    )
}

/// The service's PAT on disk and the unit that loads it: every file `pat set --systemd` may
/// write for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredential {
    /// `systemctl`'s name for the unit (no `.service`).
    pub unit: String,
    /// `….cred`, encrypted by `systemd-creds` (systemd 250 and newer).
    pub encrypted: std::path::PathBuf,
    /// `….plain`, root-only, not encrypted (systemd before 250).
    pub plain: std::path::PathBuf,
    /// `/etc/systemd/system/UNIT.service.d/plain-pat.conf`, loading `plain`.
    pub dropin: std::path::PathBuf,
}

/// How `pat set --systemd` stored the PAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredForService {
    /// Encrypted with `systemd-creds`; `dropped_plain`: a plain file (and its drop-in) from
    /// an older systemd was removed.
    Encrypted { dropped_plain: bool },
    /// `systemd-creds` is missing: a root-only file and the drop-in that loads it;
    /// `dropin_written`: the drop-in is new or changed (systemd must reload its units).
    Plain { dropin_written: bool },
}

impl StoredForService {
    /// Whether systemd must re-read its unit files (`systemctl daemon-reload`) before the
    /// next start sees the change.
    pub fn units_changed(&self) -> bool {
        matches!(
            self,
            StoredForService::Encrypted { dropped_plain: true } | StoredForService::Plain { dropin_written: true }
        )
    }
}

/// `systemd-creds` with `args`; `Ok(None)` when there is no `systemd-creds` to run (a systemd
/// before 250).
fn systemd_creds(
    program: &str,
    path: &std::path::Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, SecretError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let failed = |detail: String| SecretError::Credential { path: path.into(), detail };
    let spawned = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(format!("cannot run systemd-creds ({e})"))),
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!("systemd-creds failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(Some(out.stdout))
}

/// Creates `dir` root-only (0700) when missing.
fn credentials_dir(path: &std::path::Path) -> Result<(), SecretError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| SecretError::CredentialFile {
        action: "create",
        path: dir.into(),
        detail: e.to_string(),
    })
}

/// Removes `path`; `Ok(false)` when it was not there.
fn remove_if_present(path: &std::path::Path) -> Result<bool, SecretError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SecretError::CredentialFile { action: "remove", path: path.into(), detail: e.to_string() }),
    }
}

/// Stores the PAT for the service: encrypted with `systemd-creds` where there is one (the
/// unit's `LoadCredentialEncrypted=`), else as a root-only 0600 file with a drop-in that hands
/// it over with `LoadCredential=`. Every instance's credential carries the same name,
/// `github-pat`, as each unit loads it.
pub fn store_service_credential(pat: &Pat, files: &ServiceCredential) -> Result<StoredForService, SecretError> {
    store_service_credential_with(SYSTEMD_CREDS, pat, files)
}

/// `systemd-creds`, found on `PATH`.
const SYSTEMD_CREDS: &str = "systemd-creds";

fn store_service_credential_with(
    program: &str,
    pat: &Pat,
    files: &ServiceCredential,
) -> Result<StoredForService, SecretError> {
    credentials_dir(&files.encrypted)?;
    let name = format!("--name={SERVICE_CREDENTIAL_NAME}");
    let target = files.encrypted.to_string_lossy();
    let encrypted =
        systemd_creds(program, &files.encrypted, &["encrypt", &name, "-", &target], Some(pat.expose().as_bytes()))?;
    if encrypted.is_some() {
        // A plain file left from before an upgrade to systemd 250+: the encrypted one replaces it.
        let dropped = remove_if_present(&files.dropin)?;
        let dropped = remove_if_present(&files.plain)? || dropped;
        return Ok(StoredForService::Encrypted { dropped_plain: dropped });
    }
    let written = |path: &std::path::Path, e: std::io::Error| SecretError::CredentialFile {
        action: "write",
        path: path.into(),
        detail: e.to_string(),
    };
    crate::files::write_atomic(&files.plain, pat.expose().as_bytes(), 0o600).map_err(|e| written(&files.plain, e))?;
    let dropin = plain_dropin(&files.unit, &files.plain);
    if std::fs::read_to_string(&files.dropin).is_ok_and(|old| old == dropin) {
        return Ok(StoredForService::Plain { dropin_written: false });
    }
    if let Some(dir) = files.dropin.parent() {
        std::fs::create_dir_all(dir).map_err(|e| written(dir, e))?;
    }
    crate::files::write_atomic(&files.dropin, dropin.as_bytes(), 0o644).map_err(|e| written(&files.dropin, e))?;
    Ok(StoredForService::Plain { dropin_written: true })
}

/// Decrypts the plain unit's [`SERVICE_CREDENTIAL`] (`post` as root); `Ok(None)` when absent.
pub fn read_service_credential() -> Result<Option<(Pat, PatSource)>, SecretError> {
    read_service_credential_at(std::path::Path::new(SERVICE_CREDENTIAL))
}

/// The service's PAT (`pat status --systemd`, `post` as root): the encrypted credential at
/// `encrypted`, decrypted, or else the plain file beside it ([`plain_credential_path`]);
/// `Ok(None)` when neither is there.
pub fn read_service_credential_at(encrypted: &std::path::Path) -> Result<Option<(Pat, PatSource)>, SecretError> {
    read_service_credential_with(SYSTEMD_CREDS, encrypted)
}

fn read_service_credential_with(
    program: &str,
    encrypted: &std::path::Path,
) -> Result<Option<(Pat, PatSource)>, SecretError> {
    let plain = plain_credential_path(encrypted);
    if !encrypted.exists() {
        return read_plain_credential(&plain);
    }
    let name = format!("--name={SERVICE_CREDENTIAL_NAME}");
    let source = encrypted.to_string_lossy();
    let Some(decrypted) = systemd_creds(program, encrypted, &["decrypt", &name, &source, "-"], None)? else {
        return Err(SecretError::Credential {
            path: encrypted.into(),
            detail: format!("it is encrypted and this system has no systemd-creds to decrypt it (it comes with systemd {SYSTEMD_CREDS_SINCE}); store the PAT again with `sudo gittensor-miner-agent pat set --systemd`, which keeps it as a root-only file here"),
        });
    };
    let raw = Zeroizing::new(String::from_utf8(decrypted).unwrap_or_default());
    Ok(Some((Pat::new(&raw)?, PatSource::Credential { path: encrypted.into() })))
}

fn read_plain_credential(path: &std::path::Path) -> Result<Option<(Pat, PatSource)>, SecretError> {
    let failed = |detail: String| SecretError::Credential { path: path.into(), detail };
    let bytes = match crate::files::read_bounded(path, 64 * 1024) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(failed(e.to_string())),
    };
    let raw = Zeroizing::new(String::from_utf8(bytes.to_vec()).map_err(|_| failed("not UTF-8 text".into()))?);
    Ok(Some((Pat::new(&raw)?, PatSource::Credential { path: path.into() })))
}

/// What `pat delete --systemd` removed: the files it found, and whether systemd must reload
/// its units (a drop-in was among them).
pub fn delete_service_credential(files: &ServiceCredential) -> Result<(Vec<std::path::PathBuf>, bool), SecretError> {
    let mut removed = Vec::new();
    for path in [&files.encrypted, &files.plain] {
        if remove_if_present(path)? {
            removed.push(path.clone());
        }
    }
    let dropin = remove_if_present(&files.dropin)?;
    Ok((removed, dropin))
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

    /// A service credential's files under `dir`, as `ServicePaths::credential` lays them out.
    fn files_in(dir: &std::path::Path) -> ServiceCredential {
        let encrypted = dir.join("credentials/alice.github-pat.cred");
        ServiceCredential {
            unit: "gittensor-miner-agent@alice".into(),
            plain: plain_credential_path(&encrypted),
            encrypted,
            dropin: dir.join("systemd/gittensor-miner-agent@alice.service.d").join(PLAIN_DROPIN),
        }
    }

    /// A systemd before 250 (no `systemd-creds` to run): a root-only file, a drop-in that
    /// loads it, read back by `pat status --systemd`; a rotation rewrites the file only.
    #[test]
    fn without_systemd_creds_the_pat_is_a_0600_file_loaded_by_a_dropin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        let missing = "gittensor-test-no-such-systemd-creds";
        let first = Pat::new("ghp_TestOnlyToken_first_1111").unwrap();
        let how = store_service_credential_with(missing, &first, &files).unwrap();
        assert_eq!(how, StoredForService::Plain { dropin_written: true });
        assert!(how.units_changed());
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&files.plain), 0o600);
        assert_eq!(mode(files.plain.parent().unwrap()), 0o700);
        assert_eq!(std::fs::read_to_string(&files.plain).unwrap(), first.expose());
        assert!(!files.encrypted.exists());
        let dropin = std::fs::read_to_string(&files.dropin).unwrap();
        let load = format!("LoadCredential=github-pat:{}", files.plain.display());
        assert_eq!(dropin.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>(), ["[Service]", load.as_str()]);
        assert!(dropin.contains("not encrypted at rest"), "{dropin}");

        let (read, source) = read_service_credential_with(missing, &files.encrypted).unwrap().unwrap();
        assert_eq!((read, source), (first, PatSource::Credential { path: files.plain.clone() }));

        let rotated = Pat::new("ghp_TestOnlyToken_second_2222").unwrap();
        let how = store_service_credential_with(missing, &rotated, &files).unwrap();
        assert_eq!(how, StoredForService::Plain { dropin_written: false });
        assert!(!how.units_changed(), "a rotation needs no daemon-reload");
        assert_eq!(read_service_credential_with(missing, &files.encrypted).unwrap().unwrap().0, rotated);
        assert_eq!(mode(&files.plain), 0o600);

        let (removed, dropin) = delete_service_credential(&files).unwrap();
        assert_eq!((removed, dropin), (vec![files.plain.clone()], true));
        assert!(read_service_credential_with(missing, &files.encrypted).unwrap().is_none());
    }

    /// An encrypted credential this system cannot decrypt says what to do, and hides no plain
    /// file behind it.
    #[test]
    fn an_encrypted_credential_without_systemd_creds_says_to_store_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        std::fs::create_dir_all(files.encrypted.parent().unwrap()).unwrap();
        std::fs::write(&files.encrypted, b"Whxqht+dQJax1aZeCGLxmiAAAAABAAAADAAAABAAAAC").unwrap();
        let e = read_service_credential_with("gittensor-test-no-such-systemd-creds", &files.encrypted).unwrap_err();
        let said = e.to_string();
        assert!(said.contains("no systemd-creds") && said.contains("pat set --systemd"), "{said}");
    }
}
