//! The configuration file's shape: every key optional, unknown keys refused (a typo must
//! not be silently ignored). Resolution into [`super::Settings`] happens in `super`.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use crate::secrets::KeyringStore;

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
    pub allow_insecure_transport: Option<bool>,
    pub pat: Option<PatSection>,
    pub retry: Option<RetrySection>,
    pub daemon: Option<DaemonSection>,
    pub metrics: Option<MetricsSection>,
    pub alerts: Option<AlertsSection>,
    pub validators: Option<Vec<StaticValidator>>,
}

/// `[metrics]`: Prometheus text for node-exporter's textfile collector and/or a listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    pub textfile: Option<String>,
    pub listen: Option<String>,
    pub listen_beyond_loopback: Option<bool>,
}

/// `[alerts]`: the operator's hook.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    pub command: Option<String>,
    pub grace_secs: Option<f64>,
    pub repeat_secs: Option<f64>,
    pub unreachable_grace_secs: Option<f64>,
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
    pub(super) fn into_vec(self) -> Vec<String> {
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

/// Reads and parses the file; `named_by` (`--config`, the environment variable) is what
/// named it, for the error's advice.
pub fn read_file(path: &Path, named_by: Option<&'static str>) -> Result<ConfigFile, ConfigError> {
    let unreadable = |error: std::io::Error| ConfigError::Unreadable { path: path.to_owned(), error, named_by };
    let bytes = crate::files::read_bounded(path, crate::files::CONFIG_LIMIT).map_err(|e| unreadable(e.into()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| match e.span().and_then(|span| unquoted_text(text, span.start)) {
        Some((line, key, value)) => ConfigError::Unquoted { path: path.to_owned(), line, key, value },
        None => ConfigError::Parse { path: path.to_owned(), detail: e.to_string().trim_end().to_owned() },
    })
}

/// `network = finney`: a bare word where the key wants quoted text (TOML itself calls it
/// an "invalid boolean"). The line number (from 1), key and word, when the error at byte
/// `at` is that — and quoting the word makes that line good.
fn unquoted_text(text: &str, at: usize) -> Option<(usize, String, String)> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, value) = line.split_once('=')?;
    let (key, value) = (key.trim(), value.split(" #").next()?.trim());
    let bare_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let word = value.chars().next().is_some_and(|c| c.is_alphabetic() || c == '/' || c == '~')
        && !value.contains(['"', '\'', '[', '{', '=', '\\'])
        && toml::from_str::<toml::Table>(&format!("v = {value}")).is_err();
    if !(bare_key && word) {
        return None;
    }
    // Quoted, is the line right? (`netuid = seventy` wants a number, not quotes.)
    let line_end = line_start + line.len();
    let quoted = format!("{}{key} = \"{value}\"{}", &text[..line_start], &text[line_end..]);
    let still_wrong_here = toml::from_str::<ConfigFile>(&quoted)
        .err()
        .and_then(|e| e.span())
        .is_some_and(|span| (line_start..=line_start + key.len() + value.len() + 5).contains(&span.start));
    (!still_wrong_here).then(|| (text[..line_start].lines().count() + 1, key.to_owned(), value.to_owned()))
}
