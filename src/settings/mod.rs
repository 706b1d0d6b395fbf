//! Settings: the configuration file, the command-line flags and a snapshot of the
//! environment, resolved once into [`Settings`]; nothing deeper reads any of them again.
//! One function per concern below; every error names where the bad value came from (the
//! flag, or the file and key) and the fix.

pub(crate) mod env;
mod file;
pub mod instance;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::reconcile::backoff::Backoff;
use crate::secrets::KeyringStore;
use crate::transport::Target;
use crate::wallet;
pub use env::{Env, ServiceFiles};
pub use file::{parse, read_file, ConfigFile, StaticValidator};
pub use instance::ServicePaths;

/// Where the packaged service reads its configuration.
pub const SYSTEM_CONFIG: &str = "/etc/gittensor-miner-agent/config.toml";
/// Environment variable naming a config file (below `--config`, above the default paths).
pub const CONFIG_ENV: &str = "GITTENSOR_MINER_AGENT_CONFIG";
/// Where the service keeps state unless the config says otherwise.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/gittensor-miner-agent";
/// The copy of the miner's hotkey file the unit hands the service (`LoadCredential=hotkey:…`).
pub const SERVICE_HOTKEY: &str = "/etc/gittensor-miner-agent/hotkey";
/// The service's group: members may read its config and state.
pub const SERVICE_GROUP: &str = "gittensor-miner-agent";

pub const FINNEY: &str = "wss://entrypoint-finney.opentensor.ai:443";
pub const TESTNET: &str = "wss://test.finney.opentensor.ai:443";
pub const LOCAL: &str = "ws://127.0.0.1:9944";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {}", unreadable(.path, .error, .named_by))]
    Unreadable {
        path: PathBuf,
        /// Not `source`: the message already says it, once.
        error: std::io::Error,
        /// `--config` or the environment variable, when one of them named the file.
        named_by: Option<&'static str>,
    },
    #[error("config file {path} is not valid: {detail}\nEvery key is listed with a comment in /usr/share/doc/gittensor-miner-agent/config.example.toml.")]
    Parse { path: PathBuf, detail: String },
    #[error("config file {path}, line {line}: `{key} = {value}`: text must be in quotes: `{key} = \"{value}\"`")]
    Unquoted { path: PathBuf, line: usize, key: String, value: String },
    #[error("{origin}: `{key}` {problem}; {fix}")]
    Invalid { origin: String, key: String, problem: String, fix: String },
    /// `hotkey`: where the unit loads it from; `unit`: the plain unit or an instance of the template.
    #[error("the service has no hotkey: `sudo install -m 0600 ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey> {}`, then `sudo systemctl restart {unit}` (the service cannot read home directories: it signs with that copy)", .hotkey.display())]
    NoServiceHotkey { hotkey: PathBuf, unit: String },
    #[error("${INSTANCE_ENV}: {0}")]
    BadInstance(String),
}

/// What to do about a config file that cannot be read, by why.
fn unreadable(path: &Path, error: &std::io::Error, named_by: &Option<&'static str>) -> String {
    let named = match named_by {
        // `--instance NAME` names /etc/gittensor-miner-agent/NAME.toml.
        Some("--instance") if error.kind() == std::io::ErrorKind::NotFound => {
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            return format!(
                "it does not exist, so there is no instance {name} here: check the name (`ls {}/*.toml` lists the instances), or set it up (README, \"Several hotkeys on one machine\")",
                instance::ETC_DIR
            );
        }
        Some(by) => format!("check the path given to {by}"),
        None => "check the path".to_owned(),
    };
    match error.kind() {
        std::io::ErrorKind::NotFound => format!("it does not exist; {named}"),
        std::io::ErrorKind::PermissionDenied if path.starts_with("/etc/gittensor-miner-agent") => format!(
            "permission denied: only root and the {SERVICE_GROUP} group may read it; add yourself to the group: `sudo usermod -aG {SERVICE_GROUP} $USER`, then log in again"
        ),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied: make it readable by your user (or run as the user who owns it)".to_owned()
        }
        // Not a regular file, or far too large (`crate::files::read_bounded`).
        std::io::ErrorKind::InvalidInput => match named_by {
            Some(by) => format!("{error}; point {by} at the agent's TOML config file"),
            None => format!("{error}; replace it with the agent's TOML config file"),
        },
        _ => format!("{error}; {named}"),
    }
}

/// What the command line says, whichever command: values here win over the file. Built
/// by the commands from their clap arguments, so nothing here knows about clap.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub wallet: Option<String>,
    pub hotkey: Option<String>,
    pub wallets_dir: Option<String>,
    pub hotkey_file: Option<String>,
    pub network: Option<String>,
    pub rpc_url: Option<String>,
    pub netuid: Option<u16>,
    pub min_vtrust: Option<f64>,
    pub min_stake: Option<f64>,
    pub github_api_url: Option<String>,
    /// `post --retry-budget`.
    pub retry_budget_secs: Option<f64>,
    /// `run --state-dir`, `status --state-dir`.
    pub state_dir: Option<String>,
    /// `--instance NAME`: the template unit's instance whose files to use (validated by the CLI).
    pub instance: Option<String>,
}

/// The chain to read validators from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// `finney`, `test`, `local`, or `custom`.
    pub network: String,
    /// Tried in order; the next one when one fails.
    pub endpoints: Vec<String>,
    /// `network = "local"` (in the file or as `--network`, also beside an `rpc_url` that
    /// names the local node's address): a development chain, whose validators may serve on
    /// loopback or private addresses. Otherwise the PAT goes only to public ones.
    pub local: bool,
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
    /// Running as the systemd service (the unit names a hotkey credential): messages then
    /// speak of the service's files.
    pub service: bool,
    /// Running as root (effective uid 0).
    pub root: bool,
    pub min_vtrust: f64,
    pub min_stake: f64,
    pub check_timeout: Duration,
    pub broadcast_timeout: Duration,
    pub max_concurrency: usize,
    pub github_api_url: String,
    /// `allow_insecure_transport = true`: a plain-text `http://` GitHub or `ws://` chain on
    /// another machine is accepted (and warned about at each use).
    pub allow_insecure_transport: bool,
    pub pat_store: KeyringStore,
    pub pat_account: String,
    /// Name of the systemd credential holding the PAT (`$CREDENTIALS_DIRECTORY/<name>`).
    pub pat_credential: String,
    pub retry: Backoff,
    /// The service's encrypted PAT ([`crate::secrets::SERVICE_CREDENTIAL`]) when this runs as
    /// root on a server that has one (or the plain file beside it, systemd before 250): `post`
    /// falls back to it when it finds no other PAT.
    pub service_pat: Option<PathBuf>,
    /// One line for stderr when, running as root, the service's config or hotkey was picked
    /// without being named: the operator should know whose files are in use.
    pub picked: Option<String>,
    /// How long `post` may take at most.
    pub post_budget: Duration,
    /// Validators to use instead of the chain.
    pub static_validators: Option<Vec<Target>>,
    pub daemon: Daemon,
    /// The template unit's instance name, when run as one; `None` for the plain unit.
    pub instance: Option<String>,
    pub metrics: Metrics,
    pub alerts: Option<crate::daemon::alerts::AlertSettings>,
}

/// `$GITTENSOR_MINER_AGENT_INSTANCE`, set by the template unit (`%i`).
pub const INSTANCE_ENV: &str = "GITTENSOR_MINER_AGENT_INSTANCE";

/// Where the daemon publishes its metrics; both off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Rewritten atomically, for node-exporter's textfile collector.
    pub textfile: Option<PathBuf>,
    /// `GET /metrics` on this address.
    pub listen: Option<std::net::SocketAddr>,
}

impl Settings {
    /// The name metrics and alerts carry: the instance, or `default`.
    pub fn agent_name(&self) -> &str {
        self.instance.as_deref().unwrap_or("default")
    }

    /// The files and unit of the service these settings are for: the plain unit's, or the
    /// instance's. What advice to an operator names.
    pub fn service_paths(&self) -> ServicePaths {
        ServicePaths::of(self.instance.as_deref())
    }
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

/// Which file to read, and what named it: `--config`; an instance's own
/// `/etc/gittensor-miner-agent/NAME.toml` (`--instance NAME`); `$GITTENSOR_MINER_AGENT_CONFIG`;
/// as root on a server with the service installed, the service's `/etc/…` (`sudo
/// gittensor-miner-agent check` means the service's settings, not root's own); then the
/// user's `~/.config/gittensor-miner-agent/config.toml`, then `/etc/…`. `None`: defaults only.
pub fn locate(explicit: Option<&Path>, env: &Env) -> Option<(PathBuf, Option<&'static str>)> {
    if let Some(path) = explicit {
        return Some((path.to_owned(), Some("--config")));
    }
    if env.instance.is_some() {
        return Some((env.service_paths.config.clone(), Some("--instance")));
    }
    if let Some(path) = &env.config_file {
        return Some((path.clone(), Some(CONFIG_ENV)));
    }
    let system = env.service_files.config.then(|| env.service_paths.config.clone());
    if env.root && system.is_some() {
        return system.map(|p| (p, None));
    }
    let user = env.user_config_dir().map(|dir| dir.join("gittensor-miner-agent").join("config.toml"));
    user.filter(|p| p.is_file()).or(system).map(|p| (p, None))
}

/// Loads the located file (if any) and applies the flags on top, with the process's
/// environment as it is now. Says on stderr when it picked the service's files for root.
pub fn load(flags: &Flags) -> Result<Settings, ConfigError> {
    let settings = load_quietly(flags)?;
    if let Some(line) = &settings.picked {
        eprintln!("{line}");
    }
    Ok(settings)
}

/// [`load`], without the line about the service's files (`pat`: neither hotkey nor chain).
pub fn load_quietly(flags: &Flags) -> Result<Settings, ConfigError> {
    let env = Env::capture(flags.instance.as_deref());
    let located = locate(flags.config.as_deref(), &env);
    let file = match &located {
        Some((path, named_by)) => read_file(path, *named_by)?,
        None => ConfigFile::default(),
    };
    resolve(located.map(|(path, _)| path), file, flags, &env)
}

/// The config alone, as `run --check-config` (the unit's reload) checks it: systemd hands
/// the hotkey credential to the running service, not to the reload's check, so its absence
/// there says nothing about the config.
pub fn check_config(flags: &Flags) -> Result<Settings, ConfigError> {
    let env = Env { service: false, ..Env::capture(flags.instance.as_deref()) };
    let located = locate(flags.config.as_deref(), &env);
    let file = match &located {
        Some((path, named_by)) => read_file(path, *named_by)?,
        None => ConfigFile::default(),
    };
    resolve(located.map(|(path, _)| path), file, flags, &env)
}

/// Where a value came from, for error messages.
struct Origins {
    file: String,
}

impl Origins {
    fn of(&self, flag_given: bool, flag: &str) -> String {
        if flag_given {
            format!("command-line flag --{flag}")
        } else {
            self.file.clone()
        }
    }

    fn invalid(&self, origin: String, key: &str, problem: String, fix: &str) -> ConfigError {
        ConfigError::Invalid { origin, key: key.to_owned(), problem, fix: fix.to_owned() }
    }

    fn in_file(&self, key: &str, problem: String, fix: &str) -> ConfigError {
        self.invalid(self.file.clone(), key, problem, fix)
    }

    /// A number of seconds in (0, max], from the file or, when given, a flag.
    fn seconds(
        &self,
        key: &str,
        flag: Option<(&str, f64)>,
        value: Option<f64>,
        default: f64,
        max: f64,
    ) -> Result<Duration, ConfigError> {
        let (origin, v) = match flag {
            Some((flag, v)) => (format!("command-line flag --{flag}"), v),
            None => (self.file.clone(), value.unwrap_or(default)),
        };
        if !(v.is_finite() && v > 0.0 && v <= max) {
            return Err(self.invalid(
                origin,
                key,
                format!("is {v}"),
                &format!("use a number of seconds above 0 and at most {max}"),
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }

    /// Like [`Origins::seconds`], where 0 means "off".
    fn seconds_or_off(&self, key: &str, value: Option<f64>, default: f64, max: f64) -> Result<Duration, ConfigError> {
        match value {
            Some(0.0) => Ok(Duration::ZERO),
            other => self.seconds(key, None, other, default, max),
        }
    }
}

/// Merges file, flags and environment (flags win) and validates every value.
pub fn resolve(path: Option<PathBuf>, file: ConfigFile, flags: &Flags, env: &Env) -> Result<Settings, ConfigError> {
    let origins = Origins {
        file: match &path {
            Some(p) => format!("config file {}", p.display()),
            None => "built-in defaults".to_owned(),
        },
    };
    if let Some(name) = &env.instance {
        instance::validate(name).map_err(ConfigError::BadInstance)?;
    }
    let allow_insecure_transport = file.allow_insecure_transport.unwrap_or(false);
    let chain = chain(&origins, &file, flags, allow_insecure_transport)?;
    let (wallet_label, hotkey_file) = hotkey(&origins, &file, flags, env)?;
    let picked = picked_for_root(path.as_deref(), &hotkey_file, flags, env);
    let (min_vtrust, min_stake) = thresholds(&origins, &file, flags)?;
    let check_timeout = origins.seconds("check_timeout_secs", None, file.check_timeout_secs, 15.0, 600.0)?;
    let broadcast_timeout =
        origins.seconds("broadcast_timeout_secs", None, file.broadcast_timeout_secs, 30.0, 600.0)?;
    let max_concurrency = file.max_concurrency.unwrap_or(256);
    if !(1..=1024).contains(&max_concurrency) {
        return Err(origins.in_file(
            "max_concurrency",
            format!("is {max_concurrency}"),
            "use a number from 1 to 1024 (default 256)",
        ));
    }
    let github_api_url = github_api_url(&origins, &file, flags, allow_insecure_transport)?;
    let (pat_store, pat_account, pat_credential) = pat(&origins, &file)?;
    let (retry, post_budget) = retry(&origins, &file, flags)?;
    let daemon = daemon(&origins, &file, flags, env)?;
    let metrics = metrics(&origins, &file, env)?;
    let alerts = alerts(&origins, &file, env)?;
    let static_validators = match file.validators {
        None => None,
        Some(list) => Some(static_targets(&origins.file, list)?),
    };
    Ok(Settings {
        config_file: path,
        chain,
        netuid: flags.netuid.or(file.netuid).unwrap_or(74),
        wallet_label,
        hotkey_file,
        service: env.service,
        root: env.root,
        min_vtrust,
        min_stake,
        check_timeout,
        broadcast_timeout,
        max_concurrency,
        github_api_url,
        allow_insecure_transport,
        pat_store,
        pat_account,
        pat_credential,
        retry,
        // The credential of the service these settings are for: the plain unit's, or the
        // instance's (never another hotkey's).
        service_pat: (env.root && !env.service && env.service_files.pat).then(|| env.service_paths.pat.clone()),
        picked,
        post_budget,
        static_validators,
        daemon,
        instance: env.instance.clone(),
        metrics,
        alerts,
    })
}

/// `--rpc-url`, then `--network`, then the file's `rpc_url` list, then its `network`.
fn chain(origins: &Origins, file: &ConfigFile, flags: &Flags, allow_insecure: bool) -> Result<Chain, ConfigError> {
    let (values, from_flag, key) = if let Some(url) = &flags.rpc_url {
        (vec![url.clone()], true, "rpc_url")
    } else if let Some(network) = &flags.network {
        (vec![network.clone()], true, "network")
    } else if let Some(urls) = file.rpc_url.clone() {
        (urls.into_vec(), false, "rpc_url")
    } else {
        (vec![file.network.clone().unwrap_or_else(|| "finney".into())], false, "network")
    };
    let flag = key.replace('_', "-");
    if values.is_empty() {
        return Err(origins.invalid(
            origins.of(from_flag, &flag),
            key,
            "is an empty list".into(),
            "give at least one ws:// or wss:// URL",
        ));
    }
    let mut endpoints = Vec::with_capacity(values.len());
    let mut network = "custom".to_owned();
    for value in &values {
        let (name, endpoint) = resolve_chain(value).ok_or_else(|| {
            origins.invalid(
                origins.of(from_flag, &flag),
                key,
                format!("is {value:?}"),
                "use `finney`, `test`, `local`, or a ws:// or wss:// URL",
            )
        })?;
        if !allow_insecure && plain_text_to_another_machine(&endpoint) {
            return Err(origins.invalid(
                origins.of(from_flag, &flag),
                key,
                format!("is {value:?}: plain-text ws:// to another machine, and the chain's answer alone decides who receives the PAT"),
                "use wss://, a node on this machine (ws://127.0.0.1:…), or set allow_insecure_transport = true if you trust every network between",
            ));
        }
        network = name;
        endpoints.push(endpoint);
    }
    // The network named (the flag's over the file's), even where an rpc_url gives the endpoint.
    let named = flags.network.as_ref().or(file.network.as_ref());
    let local = named.is_some_and(|name| name.eq_ignore_ascii_case("local"));
    Ok(Chain {
        network: if endpoints.len() == 1 { network } else { "custom".into() },
        endpoints,
        local,
        connect_timeout: origins.seconds(
            "chain_connect_timeout_secs",
            None,
            file.chain_connect_timeout_secs,
            10.0,
            600.0,
        )?,
        call_timeout: origins.seconds("chain_call_timeout_secs", None, file.chain_call_timeout_secs, 30.0, 600.0)?,
    })
}

/// Which hotkey file: `--hotkey-file`, the service's credential, the file's
/// `hotkey_file`; with no `--wallet`/`--hotkey`/`--wallets-dir`, the service's copy in `/etc/…`
/// (as root, when there is one; always for a named instance, whose hotkey that is); then the
/// wallet layout `<wallets_dir>/<wallet>/hotkeys/<hotkey>`.
/// The service itself (which cannot read home directories) has only its credential.
fn hotkey(origins: &Origins, file: &ConfigFile, flags: &Flags, env: &Env) -> Result<(String, PathBuf), ConfigError> {
    let wallet_name = flags.wallet.clone().or(file.wallet.clone()).unwrap_or_else(|| "default".into());
    let hotkey_name = flags.hotkey.clone().or(file.hotkey.clone()).unwrap_or_else(|| "default".into());
    for (name, value, flag_given) in
        [("wallet", &wallet_name, flags.wallet.is_some()), ("hotkey", &hotkey_name, flags.hotkey.is_some())]
    {
        if value.is_empty() || value.contains('/') || value == ".." {
            return Err(origins.invalid(
                origins.of(flag_given, name),
                name,
                format!("is {value:?}"),
                "give the bare name of the wallet or hotkey, not a path",
            ));
        }
    }
    let wallets_dir = env
        .expand_tilde(flags.wallets_dir.as_deref().or(file.wallets_dir.as_deref()).unwrap_or("~/.bittensor/wallets"));
    let wallet_named = flags.wallet.is_some() || flags.hotkey.is_some() || flags.wallets_dir.is_some();
    let hotkey_file = match (flags.hotkey_file.as_deref(), &env.hotkey_credential, file.hotkey_file.as_deref()) {
        (Some(explicit), _, _) => env.expand_tilde(explicit),
        (None, Some(credential), _) => credential.clone(),
        (None, None, Some(configured)) => env.expand_tilde(configured),
        (None, None, None) if env.service => {
            return Err(ConfigError::NoServiceHotkey {
                hotkey: env.service_paths.hotkey.clone(),
                unit: env.service_paths.unit(),
            })
        }
        (None, None, None) if (env.root && env.service_files.hotkey || env.instance.is_some()) && !wallet_named => {
            env.service_paths.hotkey.clone()
        }
        (None, None, None) => wallet::hotkey_path(&wallets_dir, &wallet_name, &hotkey_name),
    };
    Ok((format!("{wallet_name}/{hotkey_name}"), hotkey_file))
}

/// The stderr line for root when the service's config or hotkey copy was used without being
/// named (`None` otherwise, and always for the service itself).
fn picked_for_root(config: Option<&Path>, hotkey_file: &Path, flags: &Flags, env: &Env) -> Option<String> {
    if !env.root || env.service {
        return None;
    }
    let paths = &env.service_paths;
    let config = (flags.config.is_none()
        && (env.config_file.is_none() || env.instance.is_some())
        && config == Some(paths.config.as_path()))
    .then(|| format!("config {}", paths.config.display()));
    let hotkey = (flags.hotkey_file.is_none() && hotkey_file == paths.hotkey)
        .then(|| format!("hotkey {}", paths.hotkey.display()));
    let picked: Vec<String> = config.into_iter().chain(hotkey).collect();
    let whose = match &paths.instance {
        None => "the service's".to_owned(),
        Some(name) => format!("instance {name}'s"),
    };
    (!picked.is_empty()).then(|| {
        format!(
            "note: running as root: using {whose} {} (--config, --wallet/--hotkey or --hotkey-file pick others)",
            picked.join(" and ")
        )
    })
}

fn thresholds(origins: &Origins, file: &ConfigFile, flags: &Flags) -> Result<(f64, f64), ConfigError> {
    let min_vtrust = flags.min_vtrust.or(file.min_vtrust).unwrap_or(0.25);
    if !(0.0..=1.0).contains(&min_vtrust) {
        return Err(origins.invalid(
            origins.of(flags.min_vtrust.is_some(), "min-vtrust"),
            "min_vtrust",
            format!("is {min_vtrust}"),
            "use a number from 0 to 1 (default 0.25)",
        ));
    }
    let min_stake = flags.min_stake.or(file.min_stake).unwrap_or(15_000.0);
    if !(min_stake.is_finite() && min_stake >= 0.0) {
        return Err(origins.invalid(
            origins.of(flags.min_stake.is_some(), "min-stake"),
            "min_stake",
            format!("is {min_stake}"),
            "use a non-negative amount of α (default 15000)",
        ));
    }
    Ok((min_vtrust, min_stake))
}

fn github_api_url(
    origins: &Origins,
    file: &ConfigFile,
    flags: &Flags,
    allow_insecure: bool,
) -> Result<String, ConfigError> {
    let url = flags
        .github_api_url
        .clone()
        .or(file.github_api_url.clone())
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_owned();
    if reqwest::Url::parse(&url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
        return Err(origins.invalid(
            origins.of(flags.github_api_url.is_some(), "github-api-url"),
            "github_api_url",
            format!("is {url:?}"),
            "use an http(s) URL such as https://api.github.com",
        ));
    }
    if !allow_insecure && plain_text_to_another_machine(&url) {
        return Err(origins.invalid(
            origins.of(flags.github_api_url.is_some(), "github-api-url"),
            "github_api_url",
            format!("is {url:?}: the PAT would travel in clear text to another machine"),
            "use https://, or set allow_insecure_transport = true if you trust every network between",
        ));
    }
    Ok(url)
}

/// Whether `url` is plain text (`http://`, `ws://`) to a host other than this machine
/// (a loopback address or `localhost`): what `allow_insecure_transport` must allow, and what
/// is warned about each time it is used.
pub fn plain_text_to_another_machine(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else { return false };
    if !matches!(url.scheme(), "http" | "ws") {
        return false;
    }
    let Some(host) = url.host_str() else { return true };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.to_canonical().is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

fn pat(origins: &Origins, file: &ConfigFile) -> Result<(KeyringStore, String, String), ConfigError> {
    let pat = file.pat.as_ref();
    let store = pat.and_then(|p| p.store).unwrap_or(KeyringStore::Auto);
    let account = pat.and_then(|p| p.account.clone()).unwrap_or_else(|| "default".into());
    let credential = pat.and_then(|p| p.credential.clone()).unwrap_or_else(|| "github-pat".into());
    if credential.is_empty() || credential.contains('/') {
        return Err(origins.in_file(
            "pat.credential",
            format!("is {credential:?}"),
            "name the systemd credential, e.g. \"github-pat\"",
        ));
    }
    if account.is_empty() {
        return Err(origins.in_file("pat.account", "is empty".into(), "name the keyring account, e.g. \"default\""));
    }
    Ok((store, account, credential))
}

/// The retry schedule, and `post`'s time limit (`--retry-budget` wins).
fn retry(origins: &Origins, file: &ConfigFile, flags: &Flags) -> Result<(Backoff, Duration), ConfigError> {
    let retry = file.retry.as_ref();
    let base = origins.seconds("retry.base_secs", None, retry.and_then(|r| r.base_secs), 2.0, 3600.0)?;
    let cap = origins.seconds("retry.max_secs", None, retry.and_then(|r| r.max_secs), 60.0, 86_400.0)?;
    let factor = retry.and_then(|r| r.factor).unwrap_or(2.0);
    if !(factor.is_finite() && (1.0..=10.0).contains(&factor)) {
        return Err(origins.in_file(
            "retry.factor",
            format!("is {factor}"),
            "use a growth factor from 1 to 10 (default 2)",
        ));
    }
    if cap < base {
        return Err(origins.in_file(
            "retry.max_secs",
            format!("({}) is below retry.base_secs ({})", cap.as_secs_f64(), base.as_secs_f64()),
            "make the cap at least the base delay",
        ));
    }
    let budget_flag = flags.retry_budget_secs.map(|v| ("retry-budget", v));
    let post_budget = origins.seconds(
        "retry.post_budget_secs",
        budget_flag,
        retry.and_then(|r| r.post_budget_secs),
        120.0,
        86_400.0,
    )?;
    Ok((Backoff { base, factor, cap }, post_budget))
}

fn metrics(origins: &Origins, file: &ConfigFile, env: &Env) -> Result<Metrics, ConfigError> {
    let Some(m) = file.metrics.as_ref() else { return Ok(Metrics::default()) };
    let textfile = m.textfile.as_deref().map(|p| env.expand_tilde(p));
    if let Some(path) = &textfile {
        if path.extension().is_none_or(|x| x != "prom") {
            return Err(origins.in_file(
                "metrics.textfile",
                format!("is {:?}", path.display().to_string()),
                "name a file ending in .prom (node-exporter's textfile collector reads only those)",
            ));
        }
    }
    let listen = match m.listen.as_deref() {
        None => None,
        Some(text) => {
            let addr: std::net::SocketAddr = text.parse().map_err(|_| {
                origins.in_file(
                    "metrics.listen",
                    format!("is {text:?}"),
                    "give an address and port, e.g. \"127.0.0.1:9874\"",
                )
            })?;
            if !addr.ip().is_loopback() && m.listen_beyond_loopback != Some(true) {
                return Err(origins.in_file(
                    "metrics.listen",
                    format!("is {text:?}, which other machines can reach"),
                    "use 127.0.0.1 (or [::1]), or set metrics.listen_beyond_loopback = true if you mean it",
                ));
            }
            Some(addr)
        }
    };
    Ok(Metrics { textfile, listen })
}

fn alerts(
    origins: &Origins,
    file: &ConfigFile,
    env: &Env,
) -> Result<Option<crate::daemon::alerts::AlertSettings>, ConfigError> {
    let Some(a) = file.alerts.as_ref() else { return Ok(None) };
    let Some(command) = a.command.as_deref() else { return Ok(None) };
    let command = env.expand_tilde(command);
    if !command.is_absolute() {
        return Err(origins.in_file(
            "alerts.command",
            format!("is {:?}", command.display().to_string()),
            "give the absolute path of an executable (it gets the event in GMA_* variables and as JSON on stdin)",
        ));
    }
    Ok(Some(crate::daemon::alerts::AlertSettings {
        command,
        grace: origins.seconds("alerts.grace_secs", None, a.grace_secs, 600.0, 7.0 * 86_400.0)?,
        repeat: origins.seconds("alerts.repeat_secs", None, a.repeat_secs, 6.0 * 3600.0, 30.0 * 86_400.0)?,
        unreachable_grace: origins.seconds_or_off(
            "alerts.unreachable_grace_secs",
            a.unreachable_grace_secs,
            1800.0,
            30.0 * 86_400.0,
        )?,
    }))
}

fn daemon(origins: &Origins, file: &ConfigFile, flags: &Flags, env: &Env) -> Result<Daemon, ConfigError> {
    let d = file.daemon.as_ref();
    let get = |f: fn(&file::DaemonSection) -> Option<f64>| d.and_then(f);
    // Explicit flag or config, then systemd's StateDirectory=, then the service's: what
    // `status` reads, run by root or by a member of the service's group.
    let state_dir = flags
        .state_dir
        .as_deref()
        .or(d.and_then(|d| d.state_dir.as_deref()))
        .map(|p| env.expand_tilde(p))
        .or_else(|| env.state_directory.clone())
        .unwrap_or_else(|| env.service_paths.state_dir.clone());
    let sweep_interval =
        origins.seconds("daemon.sweep_interval_secs", None, get(|d| d.sweep_interval_secs), 900.0, 7.0 * 86_400.0)?;
    let sweep_cron = d.and_then(|d| d.sweep_cron.clone());
    if let Some(cron) = &sweep_cron {
        // Parsed here with the scheduler's own parser, so a bad expression is a config error
        // naming the key, not a surprise at the first sweep.
        let parsed = (cron.split_whitespace().count() >= 6)
            .then(|| tokio_cron_scheduler::Job::new_async(cron.as_str(), |_, _| Box::pin(async {})).err())
            .ok_or_else(|| "has fewer than six fields".to_owned())
            .and_then(|error| error.map_or(Ok(()), |e| Err(e.to_string())));
        if let Err(why) = parsed {
            return Err(origins.in_file(
                "daemon.sweep_cron",
                format!("is {cron:?} ({why})"),
                "use a cron expression with seconds, e.g. \"0 */15 * * * *\"",
            ));
        }
    }
    Ok(Daemon {
        state_dir,
        sweep_interval,
        sweep_jitter: origins.seconds_or_off(
            "daemon.sweep_jitter_secs",
            get(|d| d.sweep_jitter_secs),
            60.0,
            86_400.0,
        )?,
        sweep_cron,
        sweep_spread: origins
            .seconds("daemon.sweep_spread_secs", None, get(|d| d.sweep_spread_secs), 60.0, 86_400.0)?
            .min(sweep_interval),
        // 0 turns the probe off.
        liveness_interval: origins.seconds_or_off(
            "daemon.liveness_interval_secs",
            get(|d| d.liveness_interval_secs),
            120.0,
            86_400.0,
        )?,
        chain_refresh: origins.seconds(
            "daemon.chain_refresh_secs",
            None,
            get(|d| d.chain_refresh_secs),
            300.0,
            86_400.0,
        )?,
        pat_check_interval: origins.seconds(
            "daemon.pat_check_interval_secs",
            None,
            get(|d| d.pat_check_interval_secs),
            86_400.0,
            30.0 * 86_400.0,
        )?,
        expiry_warning_days: d.and_then(|d| d.expiry_warning_days).unwrap_or(14),
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

    fn resolve_text(text: &str, flags: &Flags) -> Result<Settings, ConfigError> {
        let path = PathBuf::from("/etc/gittensor-miner-agent/config.toml");
        resolve(Some(path.clone()), parse(&path, text)?, flags, &test_env())
    }

    /// A fixed environment: these tests do not depend on the process's.
    fn test_env() -> Env {
        Env { home: Some(PathBuf::from("/home/miner")), ..Env::default() }
    }

    #[test]
    fn defaults_match_the_reference_cli() {
        let s = resolve(None, ConfigFile::default(), &Flags::default(), &test_env()).unwrap();
        assert_eq!(s.chain.endpoints, [FINNEY]);
        assert_eq!((s.netuid, s.min_vtrust, s.min_stake), (74, 0.25, 15_000.0));
        assert_eq!((s.check_timeout, s.broadcast_timeout), (Duration::from_secs(15), Duration::from_secs(30)));
        assert_eq!(s.hotkey_file, PathBuf::from("/home/miner/.bittensor/wallets/default/hotkeys/default"));
        assert_eq!(s.github_api_url, "https://api.github.com");
        assert!(s.static_validators.is_none());
    }

    #[test]
    fn the_example_config_parses_and_resolves() {
        let text = include_str!("../../config.example.toml");
        resolve_text(text, &Flags::default()).unwrap();
    }

    #[test]
    fn flags_override_the_file() {
        let args = Flags {
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
        let rpc =
            Flags { rpc_url: Some("wss://10.0.0.1:9944".into()), network: Some("test".into()), ..Default::default() };
        assert_eq!(resolve_text("", &rpc).unwrap().chain.endpoints, ["wss://10.0.0.1:9944"]);
        let listed = resolve_text("rpc_url = [\"wss://a:1\", \"finney\"]\n", &Flags::default()).unwrap();
        assert_eq!(listed.chain.endpoints, ["wss://a:1", FINNEY]);
    }

    #[test]
    fn only_network_local_lets_the_pat_go_to_non_public_axons() {
        let local = |text: &str, flags: &Flags| resolve_text(text, flags).unwrap().chain.local;
        assert!(!local("", &Flags::default()));
        assert!(!local("rpc_url = \"ws://127.0.0.1:9944\"\n", &Flags::default()), "a loopback node may serve finney");
        assert!(local("network = \"local\"\n", &Flags::default()));
        assert!(local("network = \"Local\"\nrpc_url = \"ws://127.0.0.1:40000\"\n", &Flags::default()));
        assert!(local("", &Flags { network: Some("local".into()), ..Default::default() }));
        assert!(!local("network = \"local\"\n", &Flags { network: Some("finney".into()), ..Default::default() }));
    }

    #[test]
    fn plain_text_to_another_machine_is_refused_unless_allowed() {
        for remote in ["ws://10.0.0.1:9944", "ws://node.example:9944", "ws://[2001:db8::1]:9944"] {
            let err = resolve_text(&format!("rpc_url = {remote:?}\n"), &Flags::default()).unwrap_err().to_string();
            assert!(
                err.contains("rpc_url")
                    && err.contains("plain-text ws://")
                    && err.contains("allow_insecure_transport = true"),
                "{err}"
            );
        }
        let err = resolve_text("network = \"ws://10.0.0.1:9944\"\n", &Flags::default()).unwrap_err().to_string();
        assert!(err.contains("network") && err.contains("plain-text ws://"), "{err}");
        let err = resolve_text("github_api_url = \"http://gh.example\"\n", &Flags::default()).unwrap_err().to_string();
        assert!(err.contains("github_api_url") && err.contains("clear text") && err.contains("https://"), "{err}");
        let flag = Flags { github_api_url: Some("http://10.1.1.1:8080".into()), ..Default::default() };
        assert!(resolve_text("", &flag).unwrap_err().to_string().contains("--github-api-url"));

        // This machine, TLS, or the operator's explicit word.
        for fine in [
            "rpc_url = \"ws://127.0.0.1:9944\"\n",
            "rpc_url = \"ws://[::1]:9944\"\n",
            "rpc_url = \"ws://localhost:9944\"\n",
            "network = \"local\"\n",
            "rpc_url = \"wss://node.example:443\"\n",
            "github_api_url = \"http://127.0.0.1:8080\"\n",
            "github_api_url = \"http://localhost:8080\"\n",
            "allow_insecure_transport = true\nrpc_url = \"ws://10.0.0.1:9944\"\ngithub_api_url = \"http://gh.example\"\n",
        ] {
            let s = resolve_text(fine, &Flags::default()).unwrap_or_else(|e| panic!("{fine}: {e}"));
            assert_eq!(s.allow_insecure_transport, fine.starts_with("allow"));
        }
        assert!(plain_text_to_another_machine("http://[::ffff:10.0.0.1]:80"));
        assert!(!plain_text_to_another_machine("http://[::ffff:127.0.0.1]:80"));
        assert!(!plain_text_to_another_machine("https://api.github.com"));
    }

    #[test]
    fn unknown_keys_are_errors_naming_file_and_key() {
        let err = resolve_text("min_vtrst = 0.3\n", &Flags::default()).unwrap_err().to_string();
        assert!(err.contains("/etc/gittensor-miner-agent/config.toml"), "{err}");
        assert!(err.contains("min_vtrst"), "{err}");
        assert!(err.contains("config.example.toml"), "{err}");
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key() {
        let err = resolve_text("netuid = \"seventy-four\"\n", &Flags::default()).unwrap_err().to_string();
        assert!(err.contains("netuid"), "{err}");
        let err = resolve_text("[pat]\nstore = \"vault\"\n", &Flags::default()).unwrap_err().to_string();
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
            ("[daemon]\nsweep_cron = \"*/15 * * * *\"\n", "daemon.sweep_cron", "with seconds"),
            ("[daemon]\nsweep_cron = \"0 61 * * * *\"\n", "daemon.sweep_cron", "with seconds"),
        ];
        for (text, key, fix) in cases {
            let err = resolve_text(text, &Flags::default()).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(fix), "{text:?} gave {err}");
            assert!(err.contains("config.toml"), "{err}");
        }
    }

    #[test]
    fn a_bad_flag_is_blamed_on_the_flag() {
        let args = Flags { min_vtrust: Some(2.0), ..Default::default() };
        let err = resolve(None, ConfigFile::default(), &args, &test_env()).unwrap_err().to_string();
        assert!(err.contains("--min-vtrust"), "{err}");
    }

    #[test]
    fn static_validators_accept_ipv6() {
        let s = resolve_text(
            "[[validators]]\nuid = 7\nhotkey = \"5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi\"\nip = \"::1\"\nport = 8091\n",
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(s.static_validators.unwrap()[0].ip, "::1".parse::<IpAddr>().unwrap());
    }

    /// `sudo gittensor-miner-agent …` on a server with the service installed.
    fn root_on_a_server() -> Env {
        Env {
            root: true,
            home: Some(PathBuf::from("/root")),
            service_files: ServiceFiles { config: true, hotkey: true, pat: true },
            ..Env::default()
        }
    }

    #[test]
    fn root_on_a_server_uses_the_services_config_hotkey_state_and_pat() {
        let env = root_on_a_server();
        assert_eq!(locate(None, &env), Some((PathBuf::from(SYSTEM_CONFIG), None)));
        let s = resolve(Some(SYSTEM_CONFIG.into()), ConfigFile::default(), &Flags::default(), &env).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from(SERVICE_HOTKEY));
        assert_eq!(s.daemon.state_dir, PathBuf::from(SYSTEM_STATE_DIR));
        assert_eq!(s.service_pat, Some(PathBuf::from(crate::secrets::SERVICE_CREDENTIAL)));
        assert_eq!(
            s.picked.as_deref(),
            Some("note: running as root: using the service's config /etc/gittensor-miner-agent/config.toml and hotkey /etc/gittensor-miner-agent/hotkey (--config, --wallet/--hotkey or --hotkey-file pick others)")
        );
    }

    #[test]
    fn root_picks_the_services_config_over_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("gittensor-miner-agent/config.toml");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "").unwrap();
        let with_own = |root: bool| Env { xdg_config_home: Some(dir.path().to_owned()), root, ..root_on_a_server() };
        assert_eq!(locate(None, &with_own(true)), Some((PathBuf::from(SYSTEM_CONFIG), None)));
        assert_eq!(locate(None, &with_own(false)), Some((own.clone(), None)), "a user keeps their own");
        // What the operator names wins, and says what named it.
        let named = Env { config_file: Some("/srv/agent.toml".into()), ..with_own(true) };
        assert_eq!(locate(None, &named), Some((PathBuf::from("/srv/agent.toml"), Some(CONFIG_ENV))));
        assert_eq!(locate(Some(&own), &named), Some((own.clone(), Some("--config"))));
        // No service installed: root is a user like any other.
        let bare = Env { service_files: ServiceFiles::default(), ..with_own(true) };
        assert_eq!(locate(None, &bare), Some((own, None)));
    }

    #[test]
    fn root_naming_a_wallet_or_hotkey_file_gets_it() {
        let env = root_on_a_server();
        let config = Some(PathBuf::from(SYSTEM_CONFIG));
        let flags = Flags { wallet: Some("miner".into()), hotkey: Some("hk".into()), ..Flags::default() };
        let s = resolve(config.clone(), ConfigFile::default(), &flags, &env).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from("/root/.bittensor/wallets/miner/hotkeys/hk"));
        assert!(
            s.picked.unwrap().contains("config /etc/gittensor-miner-agent/config.toml (--config"),
            "only the config"
        );
        let file = parse(Path::new(SYSTEM_CONFIG), "hotkey_file = \"/srv/hotkey\"\n").unwrap();
        let s = resolve(config, file, &Flags::default(), &env).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from("/srv/hotkey"));
        // Another config, named: nothing of the service's is picked unasked.
        let flags =
            Flags { config: Some("/srv/agent.toml".into()), hotkey_file: Some("/srv/hk".into()), ..Flags::default() };
        let s = resolve(Some("/srv/agent.toml".into()), ConfigFile::default(), &flags, &env).unwrap();
        assert_eq!((s.hotkey_file, s.picked), (PathBuf::from("/srv/hk"), None));
    }

    /// `sudo gittensor-miner-agent … --instance alice` on a server with that instance set up.
    fn root_naming_an_instance(name: &str) -> Env {
        Env { instance: Some(name.to_owned()), service_paths: ServicePaths::of(Some(name)), ..root_on_a_server() }
    }

    #[test]
    fn an_instance_named_means_its_own_config_hotkey_and_state() {
        let env = root_naming_an_instance("alice");
        let config = PathBuf::from("/etc/gittensor-miner-agent/alice.toml");
        assert_eq!(locate(None, &env), Some((config.clone(), Some("--instance"))));
        // --config still wins (the CLI refuses both together).
        assert_eq!(locate(Some(Path::new("/srv/x.toml")), &env).unwrap().0, PathBuf::from("/srv/x.toml"));
        let flags = Flags { instance: Some("alice".into()), ..Flags::default() };
        let s = resolve(Some(config.clone()), ConfigFile::default(), &flags, &env).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from("/etc/gittensor-miner-agent/alice.hotkey"));
        assert_eq!(s.daemon.state_dir, PathBuf::from("/var/lib/gittensor-miner-agent/alice"));
        assert_eq!((s.instance.as_deref(), s.agent_name()), (Some("alice"), "alice"));
        // `post` decrypts the instance's own credential: never another hotkey's PAT.
        assert_eq!(s.service_pat, Some(PathBuf::from("/etc/gittensor-miner-agent/credentials/alice.github-pat.cred")));
        assert_eq!(
            s.picked.as_deref(),
            Some("note: running as root: using instance alice's config /etc/gittensor-miner-agent/alice.toml and hotkey /etc/gittensor-miner-agent/alice.hotkey (--config, --wallet/--hotkey or --hotkey-file pick others)")
        );
        // A member of the service's group reads the same state (the hotkey is root's).
        let member = Env { root: false, ..env };
        let s = resolve(Some(config), ConfigFile::default(), &flags, &member).unwrap();
        assert_eq!(s.daemon.state_dir, PathBuf::from("/var/lib/gittensor-miner-agent/alice"));
        assert_eq!(s.picked, None);
    }

    #[test]
    fn an_instance_without_its_hotkey_or_config_says_which_files() {
        let service = Env { service: true, ..root_naming_an_instance("bob") };
        let err = resolve(None, ConfigFile::default(), &Flags::default(), &service).unwrap_err().to_string();
        assert!(
            err.contains(
                "/etc/gittensor-miner-agent/bob.hotkey`, then `sudo systemctl restart gittensor-miner-agent@bob`"
            ),
            "{err}"
        );
        let missing = ConfigError::Unreadable {
            path: "/etc/gittensor-miner-agent/bob.toml".into(),
            error: std::io::ErrorKind::NotFound.into(),
            named_by: Some("--instance"),
        };
        assert!(missing.to_string().contains("there is no instance bob here"), "{missing}");
        let bad = Env { instance: Some("a/b".into()), ..Env::default() };
        let err = resolve(None, ConfigFile::default(), &Flags::default(), &bad).unwrap_err().to_string();
        assert!(err.starts_with("$GITTENSOR_MINER_AGENT_INSTANCE: \"a/b\" is not an instance name"), "{err}");
    }

    #[test]
    fn a_user_never_gets_the_services_hotkey_or_pat() {
        let env = Env { root: false, home: Some(PathBuf::from("/home/miner")), ..root_on_a_server() };
        let s = resolve(Some(SYSTEM_CONFIG.into()), ConfigFile::default(), &Flags::default(), &env).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from("/home/miner/.bittensor/wallets/default/hotkeys/default"));
        assert_eq!((s.service_pat, s.picked), (None, None));
        assert_eq!(s.daemon.state_dir, PathBuf::from(SYSTEM_STATE_DIR), "status reads the service's state");
    }

    #[test]
    fn the_service_without_its_hotkey_leads_with_the_install_command() {
        let env = Env { service: true, home: Some(PathBuf::from("/nonexistent")), ..Env::default() };
        let err = resolve(Some(SYSTEM_CONFIG.into()), ConfigFile::default(), &Flags::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the service has no hotkey: `sudo install -m 0600 ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey> /etc/gittensor-miner-agent/hotkey`"),
            "{err}"
        );
        let with_credential = Env { hotkey_credential: Some("/run/credentials/x/hotkey".into()), ..env };
        let s =
            resolve(Some(SYSTEM_CONFIG.into()), ConfigFile::default(), &Flags::default(), &with_credential).unwrap();
        assert_eq!(s.hotkey_file, PathBuf::from("/run/credentials/x/hotkey"));
        assert_eq!(s.picked, None, "the service is not root at a shell");
    }

    #[test]
    fn an_unreadable_config_says_why_once_and_what_to_do() {
        let io = |kind: std::io::ErrorKind| std::io::Error::from(kind);
        let missing = ConfigError::Unreadable {
            path: "/srv/agent.toml".into(),
            error: io(std::io::ErrorKind::NotFound),
            named_by: Some("--config"),
        };
        assert_eq!(
            missing.to_string(),
            "cannot read config file /srv/agent.toml: it does not exist; check the path given to --config"
        );
        assert!(std::error::Error::source(&missing).is_none(), "the cause is said once, not twice");
        let not_in_group = ConfigError::Unreadable {
            path: SYSTEM_CONFIG.into(),
            error: io(std::io::ErrorKind::PermissionDenied),
            named_by: None,
        };
        assert_eq!(
            not_in_group.to_string(),
            "cannot read config file /etc/gittensor-miner-agent/config.toml: permission denied: only root and the gittensor-miner-agent group may read it; add yourself to the group: `sudo usermod -aG gittensor-miner-agent $USER`, then log in again"
        );
    }

    #[test]
    fn a_bare_word_is_told_to_be_quoted_with_file_and_line() {
        let err = resolve_text("netuid = 74\nnetwork = finney\n", &Flags::default()).unwrap_err().to_string();
        assert_eq!(
            err,
            "config file /etc/gittensor-miner-agent/config.toml, line 2: `network = finney`: text must be in quotes: `network = \"finney\"`"
        );
        let err = resolve_text("[pat]\nstore = keyutils # servers\n", &Flags::default()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`store = \"keyutils\"`"), "{err}");
        // A number is not text: quoting would not help, TOML's own message stays.
        let err = resolve_text("netuid = seventy\n", &Flags::default()).unwrap_err().to_string();
        assert!(!err.contains("quotes") && err.contains("netuid"), "{err}");
    }
}
