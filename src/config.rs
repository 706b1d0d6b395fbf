//! Configuration: the TOML file plus command-line flags, resolved once into [`Settings`].
//! Every error names where the bad value came from (file and key, or flag) and the fix.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::cli::CommonArgs;
use crate::reconcile::backoff::Backoff;
use crate::secrets::KeyringStore;
use crate::transport::Target;
use crate::wallet;

/// Where the packaged service reads its configuration.
pub const SYSTEM_CONFIG: &str = "/etc/gittensor-miner-agent/config.toml";
/// Environment variable naming a config file (below `--config`, above the default paths).
pub const CONFIG_ENV: &str = "GITTENSOR_MINER_AGENT_CONFIG";

pub const FINNEY: &str = "wss://entrypoint-finney.opentensor.ai:443";
pub const TESTNET: &str = "wss://test.finney.opentensor.ai:443";
pub const LOCAL: &str = "ws://127.0.0.1:9944";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; check the path given to --config (or {CONFIG_ENV})")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {detail}\nEvery key is listed with a comment in config.example.toml.")]
    Parse { path: PathBuf, detail: String },
    #[error("{origin}: `{key}` {problem}; {fix}")]
    Invalid { origin: String, key: String, problem: String, fix: String },
}

/// The file's shape. Every key is optional; unknown keys are errors (typos must not be
/// silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub network: Option<String>,
    pub rpc_url: Option<OneOrMany>,
    pub netuid: Option<u16>,
    pub wallet: Option<String>,
    pub hotkey: Option<String>,
    pub wallets_dir: Option<String>,
    pub hotkey_file: Option<String>,
    pub min_vtrust: Option<f64>,
    pub min_stake: Option<f64>,
    pub check_timeout_secs: Option<f64>,
    pub broadcast_timeout_secs: Option<f64>,
    pub max_concurrency: Option<usize>,
    pub chain_connect_timeout_secs: Option<f64>,
    pub chain_call_timeout_secs: Option<f64>,
    pub github_api_url: Option<String>,
    pub pat: Option<PatSection>,
    pub retry: Option<RetrySection>,
    pub daemon: Option<DaemonSection>,
    pub validators: Option<Vec<StaticValidator>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    pub state_dir: Option<String>,
    pub sweep_interval_secs: Option<f64>,
    pub sweep_jitter_secs: Option<f64>,
    pub sweep_cron: Option<String>,
    pub sweep_spread_secs: Option<f64>,
    pub liveness_interval_secs: Option<f64>,
    pub chain_refresh_secs: Option<f64>,
    pub pat_check_interval_secs: Option<f64>,
    pub expiry_warning_days: Option<u32>,
}

/// `rpc_url = "wss://…"` or `rpc_url = ["wss://a…", "wss://b…"]` (tried in order).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatSection {
    pub store: Option<KeyringStore>,
    pub account: Option<String>,
    pub credential: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    pub base_secs: Option<f64>,
    pub factor: Option<f64>,
    pub max_secs: Option<f64>,
    pub post_budget_secs: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticValidator {
    pub uid: u16,
    pub hotkey: String,
    pub ip: String,
    pub port: u16,
}

/// The chain to read validators from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// `finney`, `test`, `local`, or `custom`.
    pub network: String,
    /// Tried in order; the next one when one fails.
    pub endpoints: Vec<String>,
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
}

/// Everything a command needs, resolved and validated once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub chain: Chain,
    pub netuid: u16,
    /// `wallet/hotkey` as the operator named them, for messages.
    pub wallet_label: String,
    pub hotkey_file: PathBuf,
    pub min_vtrust: f64,
    pub min_stake: f64,
    pub check_timeout: Duration,
    pub broadcast_timeout: Duration,
    pub max_concurrency: usize,
    pub github_api_url: String,
    pub pat_store: KeyringStore,
    pub pat_account: String,
    /// Name of the systemd credential holding the PAT (`$CREDENTIALS_DIRECTORY/<name>`).
    pub pat_credential: String,
    pub retry: Backoff,
    pub post_budget: Duration,
    /// Validators to use instead of the chain.
    pub static_validators: Option<Vec<Target>>,
    pub daemon: Daemon,
}

/// The `run` loop's schedule and where it keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub state_dir: PathBuf,
    pub sweep_interval: Duration,
    pub sweep_jitter: Duration,
    /// A cron expression (with seconds) that replaces the interval.
    pub sweep_cron: Option<String>,
    pub sweep_spread: Duration,
    pub liveness_interval: Duration,
    pub chain_refresh: Duration,
    pub pat_check_interval: Duration,
    pub expiry_warning_days: u32,
}

/// Where the service keeps state unless the config says otherwise.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/gittensor-miner-agent";

/// Which file to read: `--config`, then `$GITTENSOR_MINER_AGENT_CONFIG`, then the user's
/// `~/.config/gittensor-miner-agent/config.toml`, then `/etc/…`. `None`: defaults only.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os(CONFIG_ENV) {
        return Some(PathBuf::from(path));
    }
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|dir| dir.join("gittensor-miner-agent").join("config.toml"));
    [user, Some(PathBuf::from(SYSTEM_CONFIG))].into_iter().flatten().find(|p| p.is_file())
}

/// The unit passes the hotkey as a systemd credential (`LoadCredential=hotkey:…`, named by
/// `$GITTENSOR_MINER_AGENT_HOTKEY_CREDENTIAL`); the unit's fallback `-` (no hotkey
/// installed yet) does not count.
fn service_hotkey_credential() -> Option<PathBuf> {
    let name = std::env::var_os("GITTENSOR_MINER_AGENT_HOTKEY_CREDENTIAL")?;
    let path = PathBuf::from(std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
    let bytes = std::fs::read(&path).ok()?;
    (!crate::secrets::is_unset_credential(&bytes)).then_some(path)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home().unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text)
        .map_err(|e| ConfigError::Parse { path: path.to_owned(), detail: e.to_string().trim_end().to_owned() })
}

/// Loads the located file (if any) and applies the flags on top.
pub fn load(args: &CommonArgs) -> Result<Settings, ConfigError> {
    let path = locate(args.config.as_deref());
    let file = match &path {
        Some(p) => read_file(p)?,
        None => ConfigFile::default(),
    };
    resolve(path, file, args)
}

/// Merges file and flags (flags win) and validates every value.
pub fn resolve(path: Option<PathBuf>, file: ConfigFile, args: &CommonArgs) -> Result<Settings, ConfigError> {
    let file_origin = match &path {
        Some(p) => format!("config file {}", p.display()),
        None => "built-in defaults".to_owned(),
    };
    // Says where a value came from: the flag if given, else the file.
    let origin = |flag_given: bool, flag: &str| {
        if flag_given {
            format!("command-line flag --{flag}")
        } else {
            file_origin.clone()
        }
    };
    let invalid = |origin: String, key: &str, problem: String, fix: &str| ConfigError::Invalid {
        origin,
        key: key.to_owned(),
        problem,
        fix: fix.to_owned(),
    };

    let (values, from_flag, key) = if let Some(url) = &args.rpc_url {
        (vec![url.clone()], true, "rpc_url")
    } else if let Some(network) = &args.network {
        (vec![network.clone()], true, "network")
    } else if let Some(urls) = file.rpc_url.clone() {
        (urls.into_vec(), false, "rpc_url")
    } else {
        (vec![file.network.clone().unwrap_or_else(|| "finney".into())], false, "network")
    };
    if values.is_empty() {
        return Err(invalid(
            origin(from_flag, "rpc-url"),
            key,
            "is an empty list".into(),
            "give at least one ws:// or wss:// URL",
        ));
    }
    let mut endpoints = Vec::with_capacity(values.len());
    let mut network = "custom".to_owned();
    for value in &values {
        let (name, endpoint) = resolve_chain(value).ok_or_else(|| {
            invalid(
                origin(from_flag, &key.replace('_', "-")),
                key,
                format!("is {value:?}"),
                "use `finney`, `test`, `local`, or a ws:// or wss:// URL",
            )
        })?;
        network = name;
        endpoints.push(endpoint);
    }

    let netuid = args.netuid.or(file.netuid).unwrap_or(74);

    let wallet_name = args.wallet.clone().or(file.wallet).unwrap_or_else(|| "default".into());
    let hotkey_name = args.hotkey.clone().or(file.hotkey).unwrap_or_else(|| "default".into());
    for (name, value, flag_given) in
        [("wallet", &wallet_name, args.wallet.is_some()), ("hotkey", &hotkey_name, args.hotkey.is_some())]
    {
        if value.is_empty() || value.contains('/') || value == ".." {
            return Err(invalid(
                origin(flag_given, name),
                name,
                format!("is {value:?}"),
                "give the bare name of the wallet or hotkey, not a path",
            ));
        }
    }
    let wallets_dir =
        expand_tilde(args.wallets_dir.as_deref().or(file.wallets_dir.as_deref()).unwrap_or("~/.bittensor/wallets"));
    let hotkey_file = match (args.hotkey_file.as_deref(), service_hotkey_credential(), file.hotkey_file.as_deref()) {
        (Some(explicit), _, _) => expand_tilde(explicit),
        (None, Some(credential), _) => credential,
        (None, None, Some(configured)) => expand_tilde(configured),
        (None, None, None) => wallet::hotkey_path(&wallets_dir, &wallet_name, &hotkey_name),
    };

    let min_vtrust = args.min_vtrust.or(file.min_vtrust).unwrap_or(0.25);
    if !(0.0..=1.0).contains(&min_vtrust) {
        return Err(invalid(
            origin(args.min_vtrust.is_some(), "min-vtrust"),
            "min_vtrust",
            format!("is {min_vtrust}"),
            "use a number from 0 to 1 (default 0.25)",
        ));
    }
    let min_stake = args.min_stake.or(file.min_stake).unwrap_or(15_000.0);
    if !(min_stake.is_finite() && min_stake >= 0.0) {
        return Err(invalid(
            origin(args.min_stake.is_some(), "min-stake"),
            "min_stake",
            format!("is {min_stake}"),
            "use a non-negative amount of α (default 15000)",
        ));
    }

    let seconds = |key: &str, value: Option<f64>, default: f64, max: f64| -> Result<Duration, ConfigError> {
        let v = value.unwrap_or(default);
        if !(v.is_finite() && v > 0.0 && v <= max) {
            return Err(invalid(
                file_origin.clone(),
                key,
                format!("is {v}"),
                &format!("use a number of seconds above 0 and at most {max}"),
            ));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let check_timeout = seconds("check_timeout_secs", file.check_timeout_secs, 15.0, 600.0)?;
    let chain = Chain {
        network: if endpoints.len() == 1 { network } else { "custom".into() },
        endpoints,
        connect_timeout: seconds("chain_connect_timeout_secs", file.chain_connect_timeout_secs, 10.0, 600.0)?,
        call_timeout: seconds("chain_call_timeout_secs", file.chain_call_timeout_secs, 30.0, 600.0)?,
    };
    let broadcast_timeout = seconds("broadcast_timeout_secs", file.broadcast_timeout_secs, 30.0, 600.0)?;

    let max_concurrency = file.max_concurrency.unwrap_or(256);
    if !(1..=1024).contains(&max_concurrency) {
        return Err(invalid(
            file_origin.clone(),
            "max_concurrency",
            format!("is {max_concurrency}"),
            "use a number from 1 to 1024 (default 256)",
        ));
    }

    let github_api_url = args
        .github_api_url
        .clone()
        .or(file.github_api_url)
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_owned();
    if reqwest::Url::parse(&github_api_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
        return Err(invalid(
            origin(args.github_api_url.is_some(), "github-api-url"),
            "github_api_url",
            format!("is {github_api_url:?}"),
            "use an http(s) URL such as https://api.github.com",
        ));
    }

    let pat = file.pat.unwrap_or_default();
    let pat_store = pat.store.unwrap_or(KeyringStore::Auto);
    let pat_account = pat.account.unwrap_or_else(|| "default".into());
    let pat_credential = pat.credential.unwrap_or_else(|| "github-pat".into());
    if pat_credential.is_empty() || pat_credential.contains('/') {
        return Err(invalid(
            file_origin.clone(),
            "pat.credential",
            format!("is {pat_credential:?}"),
            "name the systemd credential, e.g. \"github-pat\"",
        ));
    }
    if pat_account.is_empty() {
        return Err(invalid(
            file_origin.clone(),
            "pat.account",
            "is empty".into(),
            "name the keyring account, e.g. \"default\"",
        ));
    }

    let retry = file.retry.unwrap_or_default();
    let base = seconds("retry.base_secs", retry.base_secs, 2.0, 3600.0)?;
    let cap = seconds("retry.max_secs", retry.max_secs, 60.0, 86_400.0)?;
    let factor = retry.factor.unwrap_or(2.0);
    if !(factor.is_finite() && (1.0..=10.0).contains(&factor)) {
        return Err(invalid(
            file_origin.clone(),
            "retry.factor",
            format!("is {factor}"),
            "use a growth factor from 1 to 10 (default 2)",
        ));
    }
    if cap < base {
        return Err(invalid(
            file_origin.clone(),
            "retry.max_secs",
            format!("({}) is below retry.base_secs ({})", cap.as_secs_f64(), base.as_secs_f64()),
            "make the cap at least the base delay",
        ));
    }
    let post_budget = match args.retry_budget_secs {
        Some(v) => seconds("retry.post_budget_secs", Some(v), 120.0, 86_400.0)?,
        None => seconds("retry.post_budget_secs", retry.post_budget_secs, 120.0, 86_400.0)?,
    };

    let daemon = {
        let d = file.daemon.unwrap_or_default();
        // Explicit config, then systemd's StateDirectory=, then the packaged default.
        let state_dir = args
            .state_dir
            .clone()
            .map(|p| expand_tilde(&p))
            .or(d.state_dir.as_deref().map(expand_tilde))
            .or_else(|| {
                std::env::var_os("STATE_DIRECTORY")
                    .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default()))
            })
            .unwrap_or_else(|| PathBuf::from(SYSTEM_STATE_DIR));
        let sweep_interval = seconds("daemon.sweep_interval_secs", d.sweep_interval_secs, 900.0, 7.0 * 86_400.0)?;
        let sweep_jitter = match d.sweep_jitter_secs {
            Some(0.0) => Duration::ZERO,
            other => seconds("daemon.sweep_jitter_secs", other, 60.0, 86_400.0)?,
        };
        if let Some(cron) = &d.sweep_cron {
            if cron.split_whitespace().count() < 6 {
                return Err(invalid(
                    file_origin.clone(),
                    "daemon.sweep_cron",
                    format!("is {cron:?}"),
                    "use a cron expression with seconds, e.g. \"0 */15 * * * *\"",
                ));
            }
        }
        Daemon {
            state_dir,
            sweep_interval,
            sweep_jitter,
            sweep_cron: d.sweep_cron,
            sweep_spread: seconds("daemon.sweep_spread_secs", d.sweep_spread_secs, 60.0, 86_400.0)?.min(sweep_interval),
            // 0 turns the probe off.
            liveness_interval: match d.liveness_interval_secs {
                Some(0.0) => Duration::ZERO,
                other => seconds("daemon.liveness_interval_secs", other, 120.0, 86_400.0)?,
            },
            chain_refresh: seconds("daemon.chain_refresh_secs", d.chain_refresh_secs, 300.0, 86_400.0)?,
            pat_check_interval: seconds(
                "daemon.pat_check_interval_secs",
                d.pat_check_interval_secs,
                86_400.0,
                30.0 * 86_400.0,
            )?,
            expiry_warning_days: d.expiry_warning_days.unwrap_or(14),
        }
    };

    let static_validators = match file.validators {
        None => None,
        Some(list) => Some(static_targets(&file_origin, list)?),
    };

    Ok(Settings {
        config_file: path,
        chain,
        netuid,
        wallet_label: format!("{wallet_name}/{hotkey_name}"),
        hotkey_file,
        min_vtrust,
        min_stake,
        check_timeout,
        broadcast_timeout,
        max_concurrency,
        github_api_url,
        pat_store,
        pat_account,
        pat_credential,
        retry: Backoff { base, factor, cap },
        post_budget,
        static_validators,
        daemon,
    })
}

/// A network name or URL as `(network, endpoint)`.
fn resolve_chain(value: &str) -> Option<(String, String)> {
    let named = |network: &str, endpoint: &str| Some((network.to_owned(), endpoint.to_owned()));
    match value.to_ascii_lowercase().as_str() {
        "finney" => named("finney", FINNEY),
        "test" => named("test", TESTNET),
        "local" => named("local", LOCAL),
        _ => {
            let url = reqwest::Url::parse(value).ok()?;
            (matches!(url.scheme(), "ws" | "wss") && url.host().is_some())
                .then(|| ("custom".to_owned(), value.to_owned()))
        }
    }
}

fn static_targets(origin: &str, list: Vec<StaticValidator>) -> Result<Vec<Target>, ConfigError> {
    let mut targets: Vec<Target> = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let key = |field: &str| format!("validators[{i}].{field}");
        let invalid = |field: &str, problem: String, fix: &str| ConfigError::Invalid {
            origin: origin.to_owned(),
            key: key(field),
            problem,
            fix: fix.to_owned(),
        };
        if !wallet::is_ss58(&v.hotkey) {
            return Err(invalid(
                "hotkey",
                format!("is {:?}", v.hotkey),
                "use the validator hotkey's SS58 address (5…)",
            ));
        }
        let ip: IpAddr =
            v.ip.parse().map_err(|_| invalid("ip", format!("is {:?}", v.ip), "use an IPv4 or IPv6 address"))?;
        if ip.is_unspecified() {
            return Err(invalid(
                "ip",
                format!("is {ip}"),
                "a validator that serves no axon cannot be probed; remove it",
            ));
        }
        if v.port == 0 {
            return Err(invalid("port", "is 0".into(), "use the validator's axon port"));
        }
        if targets.iter().any(|t| t.uid == v.uid) {
            return Err(invalid("uid", format!("{} appears twice", v.uid), "list each validator uid once"));
        }
        targets.push(Target { uid: v.uid, hotkey: v.hotkey, ip, port: v.port });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(text: &str, args: &CommonArgs) -> Result<Settings, ConfigError> {
        let path = PathBuf::from("/etc/gittensor-miner-agent/config.toml");
        resolve(Some(path.clone()), parse(&path, text)?, args)
    }

    #[test]
    fn defaults_match_the_reference_cli() {
        let s = resolve(None, ConfigFile::default(), &CommonArgs::default()).unwrap();
        assert_eq!(s.chain.endpoints, [FINNEY]);
        assert_eq!((s.netuid, s.min_vtrust, s.min_stake), (74, 0.25, 15_000.0));
        assert_eq!((s.check_timeout, s.broadcast_timeout), (Duration::from_secs(15), Duration::from_secs(30)));
        assert!(s.hotkey_file.ends_with(".bittensor/wallets/default/hotkeys/default"));
        assert_eq!(s.github_api_url, "https://api.github.com");
        assert!(s.static_validators.is_none());
    }

    #[test]
    fn the_example_config_parses_and_resolves() {
        let text = include_str!("../config.example.toml");
        resolve_text(text, &CommonArgs::default()).unwrap();
    }

    #[test]
    fn flags_override_the_file() {
        let args = CommonArgs {
            network: Some("test".into()),
            netuid: Some(2),
            wallet: Some("alice".into()),
            min_stake: Some(10.0),
            ..Default::default()
        };
        let s = resolve_text("network = \"local\"\nnetuid = 74\nwallet = \"bob\"\nmin_stake = 99\n", &args).unwrap();
        assert_eq!(s.chain.endpoints, [TESTNET]);
        assert_eq!((s.netuid, s.min_stake), (2, 10.0));
        assert_eq!(s.wallet_label, "alice/default");
        let rpc = CommonArgs {
            rpc_url: Some("ws://10.0.0.1:9944".into()),
            network: Some("test".into()),
            ..Default::default()
        };
        assert_eq!(resolve_text("", &rpc).unwrap().chain.endpoints, ["ws://10.0.0.1:9944"]);
        let listed = resolve_text("rpc_url = [\"ws://a:1\", \"finney\"]\n", &CommonArgs::default()).unwrap();
        assert_eq!(listed.chain.endpoints, ["ws://a:1", FINNEY]);
    }

    #[test]
    fn unknown_keys_are_errors_naming_file_and_key() {
        let err = resolve_text("min_vtrst = 0.3\n", &CommonArgs::default()).unwrap_err().to_string();
        assert!(err.contains("/etc/gittensor-miner-agent/config.toml"), "{err}");
        assert!(err.contains("min_vtrst"), "{err}");
        assert!(err.contains("config.example.toml"), "{err}");
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key() {
        let err = resolve_text("netuid = \"seventy-four\"\n", &CommonArgs::default()).unwrap_err().to_string();
        assert!(err.contains("netuid"), "{err}");
        let err = resolve_text("[pat]\nstore = \"vault\"\n", &CommonArgs::default()).unwrap_err().to_string();
        assert!(err.contains("store") && err.contains("keyutils"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let cases = [
            ("min_vtrust = 1.5\n", "min_vtrust", "0 to 1"),
            ("min_stake = -1\n", "min_stake", "non-negative"),
            ("check_timeout_secs = 0\n", "check_timeout_secs", "above 0"),
            ("network = \"mainnet\"\n", "network", "finney"),
            ("rpc_url = \"http://x\"\n", "rpc_url", "ws://"),
            ("rpc_url = []\n", "rpc_url", "at least one"),
            ("chain_call_timeout_secs = -3\n", "chain_call_timeout_secs", "above 0"),
            ("github_api_url = \"ftp://x\"\n", "github_api_url", "http(s)"),
            ("max_concurrency = 0\n", "max_concurrency", "1 to 1024"),
            ("[retry]\nbase_secs = 10\nmax_secs = 5\n", "retry.max_secs", "at least"),
            ("[[validators]]\nuid = 1\nhotkey = \"abc\"\nip = \"1.2.3.4\"\nport = 1\n", "validators[0].hotkey", "SS58"),
            ("[[validators]]\nuid = 1\nhotkey = \"5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi\"\nip = \"nope\"\nport = 1\n", "validators[0].ip", "IPv4"),
            ("[[validators]]\nuid = 1\nhotkey = \"5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi\"\nip = \"0.0.0.0\"\nport = 1\n", "validators[0].ip", "serves no axon"),
            ("wallet = \"../x\"\n", "wallet", "bare name"),
        ];
        for (text, key, fix) in cases {
            let err = resolve_text(text, &CommonArgs::default()).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(fix), "{text:?} gave {err}");
            assert!(err.contains("config.toml"), "{err}");
        }
    }

    #[test]
    fn a_bad_flag_is_blamed_on_the_flag() {
        let args = CommonArgs { min_vtrust: Some(2.0), ..Default::default() };
        let err = resolve(None, ConfigFile::default(), &args).unwrap_err().to_string();
        assert!(err.contains("--min-vtrust"), "{err}");
    }

    #[test]
    fn static_validators_accept_ipv6() {
        let s = resolve_text(
            "[[validators]]\nuid = 7\nhotkey = \"5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi\"\nip = \"::1\"\nport = 8091\n",
            &CommonArgs::default(),
        )
        .unwrap();
        assert_eq!(s.static_validators.unwrap()[0].ip, "::1".parse::<IpAddr>().unwrap());
    }
}
