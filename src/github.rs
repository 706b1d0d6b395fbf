//! Local PAT validation against GitHub, the same two calls gittensor's validators make:
//! `GET /user` (identity) and the GraphQL query `{ viewer { login } }` (scoring's path).

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Serialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::root_cause;
use crate::secrets::Pat;

const GRAPHQL_VIEWER_QUERY: &str = "{ viewer { login } }";
const USER_AGENT: &str = concat!("gittensor-miner-agent/", env!("CARGO_PKG_VERSION"));
const TIMEOUT: Duration = Duration::from_secs(15);
/// A validation makes two requests, each bounded by [`TIMEOUT`].
pub const VALIDATION_DEADLINE: Duration = Duration::from_secs(31);
/// GitHub's answers to these two calls are small; anything bigger is not GitHub.
const BODY_CAP: usize = 256 * 1024;

/// GitHub's verdict on the PAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum PatVerdict {
    Valid {
        login: String,
        id: u64,
        /// The `github-authentication-token-expiration` header, e.g. `2026-12-01 00:00:00 UTC`.
        expires: Option<String>,
    },
    /// GitHub rejects it: revoked, expired, or lacking the access scoring needs.
    Rejected { reason: String },
    /// GitHub could not be asked (network, 5xx, rate limit): try again later, not before
    /// `retry_after_secs` when GitHub said when (rate limits).
    Unavailable {
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
}

impl PatVerdict {
    pub fn standing(&self) -> PatStanding {
        match self {
            PatVerdict::Valid { .. } => PatStanding::Valid,
            PatVerdict::Rejected { .. } => PatStanding::Rejected,
            PatVerdict::Unavailable { .. } => PatStanding::Unavailable,
        }
    }
}

/// What we last heard from GitHub about the PAT, without the details: what gates
/// broadcasts, and what the state file and `status` show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatStanding {
    /// Not asked yet (or the PAT just changed).
    #[default]
    Unknown,
    Valid,
    /// Revoked, expired or lacking access: nothing is sent until the PAT changes.
    Rejected,
    /// GitHub could not be asked; the PAT is assumed good until GitHub says otherwise.
    Unavailable,
}

impl PatStanding {
    pub fn name(self) -> &'static str {
        match self {
            PatStanding::Unknown => "unknown",
            PatStanding::Valid => "valid",
            PatStanding::Rejected => "rejected",
            PatStanding::Unavailable => "unavailable",
        }
    }
}

/// Asks GitHub what it thinks of a PAT. The reconcile core depends on this, not on
/// [`GitHub`], so tests and the simulation can stand in for GitHub.
pub trait PatValidator: Send + Sync + 'static {
    fn validate(&self, pat: &Pat) -> impl std::future::Future<Output = PatVerdict> + Send;
}

impl PatValidator for GitHub {
    async fn validate(&self, pat: &Pat) -> PatVerdict {
        GitHub::validate(self, pat).await
    }
}

/// The process's one TLS crypto provider: ring, which jsonrpsee (subxt's WebSocket client)
/// links and installs too; reqwest is built without one of its own (`rustls-no-provider`).
/// `main` installs it at start; [`GitHub::with_timeout`] makes sure of it for library callers.
/// A no-op once installed.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub struct GitHub {
    base: String,
    client: reqwest::Client,
}

impl GitHub {
    pub fn new(base_url: &str) -> Result<Self, reqwest::Error> {
        Self::with_timeout(base_url, TIMEOUT)
    }

    /// Each request (headers and body) is bounded by `timeout`.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        install_tls_provider();
        let client = reqwest::Client::builder().user_agent(USER_AGENT).timeout(timeout).build()?;
        Ok(GitHub { base: base_url.trim_end_matches('/').to_owned(), client })
    }

    pub async fn validate(&self, pat: &Pat) -> PatVerdict {
        let (token, bearer) = match (authorization("token", pat), authorization("Bearer", pat)) {
            (Ok(token), Ok(bearer)) => (token, bearer),
            (Err(verdict), _) | (_, Err(verdict)) => return verdict,
        };
        if crate::settings::plain_text_to_another_machine(&self.base) {
            tracing::warn!(
                url = %self.base,
                "sending the PAT to GitHub at {} in clear text (allow_insecure_transport = true): anyone on the path can read it",
                self.base
            );
        }
        let user = self
            .client
            .get(format!("{}/user", self.base))
            .header(AUTHORIZATION, token)
            .header("Accept", "application/vnd.github.v3+json")
            .send()
            .await;
        let (status, headers, body) = match read(user).await {
            Ok(parts) => parts,
            Err(reason) => return PatVerdict::Unavailable { reason, retry_after_secs: None },
        };
        if let Some(verdict) = failure("GET /user", status, &headers) {
            return verdict;
        }
        let login = body.get("login").and_then(Value::as_str).map(str::to_owned);
        let id = body.get("id").and_then(Value::as_u64);
        let (Some(login), Some(id)) = (login, id) else {
            return PatVerdict::Unavailable {
                reason: "GitHub's /user answer has no login and id".into(),
                retry_after_secs: None,
            };
        };
        let expires =
            headers.get("github-authentication-token-expiration").and_then(|v| v.to_str().ok()).map(str::to_owned);

        let graphql = self
            .client
            .post(format!("{}/graphql", self.base))
            .header(AUTHORIZATION, bearer)
            .json(&json!({ "query": GRAPHQL_VIEWER_QUERY }))
            .send()
            .await;
        let (status, headers, body) = match read(graphql).await {
            Ok(parts) => parts,
            Err(reason) => return PatVerdict::Unavailable { reason, retry_after_secs: None },
        };
        if let Some(verdict) = failure("GraphQL", status, &headers) {
            return verdict;
        }
        if let Some(message) = body.pointer("/errors/0/message").and_then(Value::as_str) {
            // GitHub's words may echo the Authorization header back: masked, then cut.
            let message = crate::scrub::scrub(message, &[pat.expose()], crate::synapse::REASON_MAX_CHARS);
            return PatVerdict::Rejected { reason: format!("GitHub GraphQL error: {message}") };
        }
        if body.pointer("/data/viewer").is_none_or(Value::is_null) {
            return PatVerdict::Rejected {
                reason: "GitHub GraphQL returned no viewer: fine-grained PATs need the 'Public Repositories (read-only)' permission".into(),
            };
        }
        PatVerdict::Valid { login, id, expires }
    }
}

/// The `Authorization` value, marked sensitive (never shown by the HTTP stack's `Debug`, never
/// indexed by HTTP/2 header compression). The text it is made from is overwritten at once;
/// the value's own copy lives until the request is written.
fn authorization(scheme: &str, pat: &Pat) -> Result<HeaderValue, PatVerdict> {
    // Sized first: a buffer that grows leaves a copy of what it held in freed memory.
    let mut text = Zeroizing::new(String::with_capacity(scheme.len() + 1 + pat.expose().len()));
    text.push_str(scheme);
    text.push(' ');
    text.push_str(pat.expose());
    let mut value = HeaderValue::from_bytes(text.as_bytes()).map_err(|_| PatVerdict::Rejected {
        reason: "the PAT holds a character an HTTP header cannot carry: copy it again from GitHub".into(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

async fn read(sent: reqwest::Result<reqwest::Response>) -> Result<(u16, reqwest::header::HeaderMap, Value), String> {
    let mut response = sent.map_err(|e| format!("GitHub unreachable: {}", root_cause(&e)))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("GitHub answer broken: {}", root_cause(&e)))? {
        if bytes.len() + chunk.len() > BODY_CAP {
            return Err("GitHub answer too large".into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// Maps a non-200 answer to a verdict; `None` for 200. Rate limits (429, or 403 with the
/// rate-limit headers) say when to come back: `retry-after` seconds, or `x-ratelimit-reset`.
fn failure(what: &str, status: u16, headers: &reqwest::header::HeaderMap) -> Option<PatVerdict> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let rate_limited = status == 429
        || (status == 403 && (header("x-ratelimit-remaining") == Some("0") || header("retry-after").is_some()));
    match status {
        200 => None,
        401 => Some(PatVerdict::Rejected {
            reason: format!("GitHub {what}: 401 Bad credentials (the PAT is revoked, expired or mistyped)"),
        }),
        _ if rate_limited => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let retry_after_secs = header("retry-after")
                .and_then(|v| v.parse::<u64>().ok())
                .or_else(|| {
                    header("x-ratelimit-reset")
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|reset| reset.saturating_sub(now))
                })
                .map(|secs| secs.min(24 * 3600));
            let when = retry_after_secs.map(|s| format!("; retry in {s} s")).unwrap_or_default();
            Some(PatVerdict::Unavailable {
                reason: format!("GitHub {what}: rate limited ({status}{when})"),
                retry_after_secs,
            })
        }
        403 => Some(PatVerdict::Rejected { reason: format!("GitHub {what}: 403 Forbidden (the PAT lacks access)") }),
        _ => Some(PatVerdict::Unavailable { reason: format!("GitHub {what}: HTTP {status}"), retry_after_secs: None }),
    }
}
