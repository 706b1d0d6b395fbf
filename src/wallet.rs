//! The miner's hotkey, read from a Bittensor wallet keyfile, and what it signs with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use schnorrkel::{signing_context, ExpansionMode, Keypair, MiniSecretKey, PublicKey, SecretKey, Signature};
use serde::Deserialize;
use subxt::utils::AccountId32;
use thiserror::Error;

/// Substrate's sr25519 signing context; bittensor signs and verifies with it.
const SIGNING_CONTEXT: &[u8] = b"substrate";

/// Markers that bittensor-wallet (and its predecessors) put at the start of encrypted keyfiles.
const ENCRYPTED_MARKERS: &[&str] = &["$NACL", "$BTWALLET", "$ANSIBLE_VAULT"];

#[derive(Debug, Error)]
pub enum WalletError {
    #[error("hotkey file {path} does not exist: create the hotkey with `btcli wallet new_hotkey`, or set `wallet`/`hotkey`/`wallets_dir` (or `hotkey_file`) in the config")]
    Missing { path: PathBuf },
    /// `error`, not `source`: the message already says it, once.
    #[error(
        "hotkey file {path} cannot be read ({error}): check its permissions (the agent's user must be able to read it)"
    )]
    Unreadable { path: PathBuf, error: std::io::Error },
    /// A FIFO, a device, a directory, or far too large: not what btcli writes.
    #[error("hotkey file {path} cannot be read: {problem}; point `--hotkey-file` (or `hotkey_file` in the config) at the hotkey file btcli wrote, ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey>")]
    NotAKeyfile { path: PathBuf, problem: crate::files::ReadError },
    #[error("hotkey file {path} is encrypted: the agent needs an unencrypted hotkey file (bittensor writes hotkeys unencrypted by default); regenerate it without a password with `btcli wallet regen_hotkey --no-use-password`")]
    Encrypted { path: PathBuf },
    #[error("hotkey file {path} is not a Bittensor keyfile ({detail}): point `hotkey_file` at the JSON file under ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey>")]
    Malformed { path: PathBuf, detail: String },
    #[error("hotkey file {path} is inconsistent: its secret key belongs to {derived}, but the file says {declared}; regenerate the hotkey file")]
    Inconsistent { path: PathBuf, derived: String, declared: String },
}

/// Where the keyfile is: `{wallets_dir}/{wallet}/hotkeys/{hotkey}`, as bittensor lays it out.
pub fn hotkey_path(wallets_dir: &Path, wallet: &str, hotkey: &str) -> PathBuf {
    wallets_dir.join(wallet).join("hotkeys").join(hotkey)
}

/// The fields of a bittensor-wallet keyfile that we use. Secrets stay in `String`s only
/// until parsed; the keyfile's mnemonic is never read into memory as a field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Keyfile {
    secret_seed: Option<String>,
    private_key: Option<String>,
    public_key: Option<String>,
    ss58_address: Option<String>,
}

/// An sr25519 hotkey able to sign dendrite requests. Debug never shows secret material.
pub struct Hotkey {
    keypair: Keypair,
    ss58: String,
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotkey").field("ss58", &self.ss58).finish_non_exhaustive()
    }
}

impl Hotkey {
    /// Loads and checks a keyfile; every failure names the file and says what to do.
    pub fn load(path: &Path) -> Result<Self, WalletError> {
        use crate::files::ReadError;
        let raw = crate::files::read_bounded(path, crate::files::HOTKEY_LIMIT).map_err(|problem| match problem {
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                WalletError::Missing { path: path.to_owned() }
            }
            ReadError::Io(error) => WalletError::Unreadable { path: path.to_owned(), error },
            problem => WalletError::NotAKeyfile { path: path.to_owned(), problem },
        })?;
        Self::from_keyfile_bytes(&raw).map_err(|e| e.at(path))
    }

    fn from_keyfile_bytes(raw: &[u8]) -> Result<Self, KeyfileProblem> {
        let trimmed = raw.trim_ascii_start();
        if ENCRYPTED_MARKERS.iter().any(|m| trimmed.starts_with(m.as_bytes())) {
            return Err(KeyfileProblem::Encrypted);
        }
        let file: Keyfile = serde_json::from_slice(trimmed)
            .map_err(|e| KeyfileProblem::Malformed(format!("not the expected JSON: {e}")))?;

        let keypair = if let Some(seed) = &file.secret_seed {
            let seed = decode_hex("secretSeed", seed, 32)?;
            MiniSecretKey::from_bytes(&seed)
                .map_err(|e| KeyfileProblem::Malformed(format!("secretSeed: {e}")))?
                .expand_to_keypair(ExpansionMode::Ed25519)
        } else if let Some(private) = &file.private_key {
            let private = decode_hex("privateKey", private, 64)?;
            SecretKey::from_ed25519_bytes(&private)
                .map_err(|e| KeyfileProblem::Malformed(format!("privateKey: {e}")))?
                .to_keypair()
        } else {
            return Err(KeyfileProblem::Malformed("it has neither secretSeed nor privateKey".into()));
        };

        let hotkey = Hotkey::from_keypair(keypair);
        // A keyfile whose declared identity differs from its key would sign as someone the
        // validators do not know: refuse it rather than fail later with 401/403.
        if let Some(declared) = &file.ss58_address {
            if declared != &hotkey.ss58 {
                return Err(KeyfileProblem::Inconsistent { derived: hotkey.ss58, declared: declared.clone() });
            }
        }
        if let Some(declared) = &file.public_key {
            let derived = format!("0x{}", hex::encode(hotkey.keypair.public.to_bytes()));
            if !declared.eq_ignore_ascii_case(&derived) {
                return Err(KeyfileProblem::Inconsistent { derived, declared: declared.clone() });
            }
        }
        Ok(hotkey)
    }

    /// A hotkey from a 32-byte seed (tests and tools; the agent reads keyfiles).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mini = MiniSecretKey::from_bytes(seed).expect("a 32-byte seed is always a valid mini secret key");
        Hotkey::from_keypair(mini.expand_to_keypair(ExpansionMode::Ed25519))
    }

    fn from_keypair(keypair: Keypair) -> Self {
        let ss58 = AccountId32(keypair.public.to_bytes()).to_string();
        Hotkey { keypair, ss58 }
    }

    /// The hotkey's SS58 address (prefix 42), as validators see it.
    pub fn ss58(&self) -> &str {
        &self.ss58
    }

    /// sr25519 signature over `message`, as `0x`-prefixed hex.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        let signature = self.keypair.sign(signing_context(SIGNING_CONTEXT).bytes(message));
        format!("0x{}", hex::encode(signature.to_bytes()))
    }
}

/// Checks an sr25519 `0x…` hex signature by the owner of `ss58` over `message`.
/// Any malformed input is simply "does not verify".
pub fn verify_hex(ss58: &str, message: &[u8], signature_hex: &str) -> bool {
    let Ok(account) = AccountId32::from_str(ss58) else {
        return false;
    };
    let Ok(public) = PublicKey::from_bytes(&account.0) else {
        return false;
    };
    let Ok(bytes) = hex::decode(signature_hex.trim_start_matches("0x")) else {
        return false;
    };
    let Ok(signature) = Signature::from_bytes(&bytes) else {
        return false;
    };
    public.verify(signing_context(SIGNING_CONTEXT).bytes(message), &signature).is_ok()
}

/// True when `s` is a well-formed SS58 account address.
pub fn is_ss58(s: &str) -> bool {
    AccountId32::from_str(s).is_ok()
}

enum KeyfileProblem {
    Encrypted,
    Malformed(String),
    Inconsistent { derived: String, declared: String },
}

impl KeyfileProblem {
    fn at(self, path: &Path) -> WalletError {
        let path = path.to_owned();
        match self {
            KeyfileProblem::Encrypted => WalletError::Encrypted { path },
            KeyfileProblem::Malformed(detail) => WalletError::Malformed { path, detail },
            KeyfileProblem::Inconsistent { derived, declared } => WalletError::Inconsistent { path, derived, declared },
        }
    }
}

fn decode_hex(field: &str, value: &str, len: usize) -> Result<Vec<u8>, KeyfileProblem> {
    let bytes = hex::decode(value.trim_start_matches("0x"))
        .map_err(|e| KeyfileProblem::Malformed(format!("{field} is not hex: {e}")))?;
    if bytes.len() != len {
        return Err(KeyfileProblem::Malformed(format!("{field} has {} bytes, expected {len}", bytes.len())));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    // Vectors from bittensor-wallet 4.0.1 (`Keypair.create_from_seed("0x" + "11" * 32)`),
    // including its signature over b"hello": our key derivation and verification must agree.
    const DEV_SEED: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
    const DEV_SS58: &str = "5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi";
    const PY_SIG_HELLO: &str = "0xb06353008d5d20747c06b8982429f30c400dbcf0ad3bfe3bf34d94918e7a5a6fb86d66cb4fd6ed743d434392bffa80dbc56c2be225c5f789b8dc166d9a79fd8f";

    fn write(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents).unwrap();
        f
    }

    #[test]
    fn seed_gives_the_substrate_address() {
        let seed: [u8; 32] = hex::decode(&DEV_SEED[2..]).unwrap().try_into().unwrap();
        assert_eq!(Hotkey::from_seed(&seed).ss58(), DEV_SS58);
    }

    #[test]
    fn keyfile_with_seed_loads_and_signs_verifiably() {
        let f = write(format!(r#"{{"secretSeed":"{DEV_SEED}","ss58Address":"{DEV_SS58}"}}"#).as_bytes());
        let hotkey = Hotkey::load(f.path()).unwrap();
        assert_eq!(hotkey.ss58(), DEV_SS58);
        let sig = hotkey.sign_hex(b"hello");
        assert!(verify_hex(DEV_SS58, b"hello", &sig));
        assert!(!verify_hex(DEV_SS58, b"hellO", &sig));
        assert!(!verify_hex(DEV_SS58, b"hello", "0x1234"));
        assert!(!verify_hex("not-an-address", b"hello", &sig));
        assert!(verify_hex(DEV_SS58, b"hello", PY_SIG_HELLO), "bittensor's own signature must verify");
        assert!(!format!("{hotkey:?}").contains("111111"));
    }

    #[test]
    fn missing_file_is_named() {
        let err = Hotkey::load(Path::new("/nonexistent/wallet/hotkeys/default")).unwrap_err();
        assert!(matches!(err, WalletError::Missing { .. }));
        assert!(err.to_string().contains("/nonexistent/wallet/hotkeys/default"));
    }

    #[test]
    fn encrypted_keyfile_is_a_clear_error() {
        let f = write(b"$NACL\x00\x01binary-ciphertext");
        let err = Hotkey::load(f.path()).unwrap_err();
        assert!(matches!(err, WalletError::Encrypted { .. }), "{err}");
        assert!(err.to_string().contains(&f.path().display().to_string()));
    }

    #[test]
    fn wrong_json_is_malformed_not_a_panic() {
        for body in [&b"{}"[..], b"[1,2]", b"\xff\xfe", b"", br#"{"secretSeed":"0x12"}"#, br#"{"secretSeed":"zz"}"#] {
            let f = write(body);
            let err = Hotkey::load(f.path()).unwrap_err();
            assert!(matches!(err, WalletError::Malformed { .. }), "{err}");
        }
    }

    #[test]
    fn declared_address_must_match_the_key() {
        let other = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
        let f = write(format!(r#"{{"secretSeed":"{DEV_SEED}","ss58Address":"{other}"}}"#).as_bytes());
        assert!(matches!(Hotkey::load(f.path()).unwrap_err(), WalletError::Inconsistent { .. }));
    }
}
