//! The bittensor 10.x dendrite → axon call, as `bittensor==10.3.1` implements it
//! (`bittensor/core/dendrite.py`, `synapse.py`, `axon.py`).
//!
//! What the real axon does, which shapes this code:
//! - it rebuilds the synapse from *headers* to verify the signature and the nonce, and every
//!   required request field needs a `bt_header_input_obj_*` header holding the JSON of the
//!   field type's empty default (never the value);
//! - the handler then reads the synapse from the *body*, and gittensor's handlers identify
//!   the miner by the body's `dendrite.hotkey`, so the body carries the full terminal info;
//! - only error answers (built by the axon middleware) carry `bt_header_axon_uuid`, `nonce`
//!   and `signature`; a 200 answer's headers are echoed from the request and are unsigned.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};
use sha3::{Digest, Sha3_256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use super::{CallError, Liveness, Provenance, Reply, SynapseCall, Target, Transport};
use crate::wallet::{self, Hotkey};

/// The bittensor version we speak, as the axon parses it: major·10⁶ + minor·10³ + patch.
pub const DENDRITE_VERSION: u64 = 10_003_001;
/// Largest answer body read from a validator; gittensor's answers are under 1 KiB.
pub const DEFAULT_BODY_CAP: usize = 64 * 1024;
/// Largest answer head (status line and headers) read from a validator; an axon's is ~0.7 KiB.
const HEAD_CAP: usize = 16 * 1024;
/// Most headers an answer may have (hyper's limit too).
const MAX_HEADERS: usize = 100;
/// The read buffer's first size: a whole gittensor answer, head and body, fits in it.
const FIRST_READ: usize = 2 * 1024;
const USER_AGENT: &str = concat!("gittensor-miner-agent/", env!("CARGO_PKG_VERSION"));

/// What a ping asks of the axon: its handler only echoes the synapse.
const PING_BUDGET: Duration = Duration::from_secs(1);
/// bittensor 10.3.1 and 10.5.0 alike (`axon_utils.allowed_nonce_window_ns`): an axon that
/// holds no nonce from a dendrite accepts one newer than `now - 4 s - timeout`, where
/// `timeout` is the request's own header field. A ping's nonce is therefore "recent" to a
/// restarted axon until 4 s + [`PING_BUDGET`] after it was minted.
pub const RECENT_NONCE_DELTA: Duration = Duration::from_secs(4);
/// Slack for the axon's clock running a little behind ours and for the request's transit.
const NONCE_CLOCK_MARGIN: Duration = Duration::from_millis(250);
/// How long after our last request to an axon a ping built on it is refused by a restarted
/// axon: the window a liveness probe is held for (the restart bound is this + one interval).
pub const LIVENESS_HOLD: Duration = RECENT_NONCE_DELTA.saturating_add(PING_BUDGET).saturating_add(NONCE_CLOCK_MARGIN);

/// A request ready to send: what [`Dendrite`] puts on the wire. Its body (which may hold
/// the PAT) is overwritten when it is dropped.
#[derive(Clone)]
pub struct SignedRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Drop for SignedRequest {
    fn drop(&mut self) {
        super::wipe(&mut self.body);
    }
}

/// Counts what would be written: the JSON body's length, found without a copy of it.
#[derive(Default)]
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn json_len(value: &Value) -> Result<usize, serde_json::Error> {
    let mut counted = Counted::default();
    serde_json::to_writer(&mut counted, value)?;
    Ok(counted.0)
}

/// SHA3-256 hex of the synapse's `required_hash_fields`: bittensor hashes each field's
/// `str()` and then the concatenation of those hashes. Neither gittensor synapse declares
/// any, so this is the hash of the empty string.
pub fn body_hash(hash_field_values: &[&str]) -> String {
    let joined: String = hash_field_values.iter().map(|v| hex::encode(Sha3_256::digest(v.as_bytes()))).collect();
    hex::encode(Sha3_256::digest(joined.as_bytes()))
}

/// The message a dendrite signs: `{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}`.
pub fn request_message(nonce: u64, dendrite_hotkey: &str, axon_hotkey: &str, uuid: &str, body_hash: &str) -> String {
    format!("{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}")
}

/// Python's `str(float)` for the `timeout` header and field (`15.0`, `0.5`).
fn python_float(d: Duration) -> String {
    format!("{:?}", d.as_secs_f64())
}

/// Builds the signed request exactly as bittensor's `Dendrite.call` would.
pub fn build_request(
    hotkey: &Hotkey,
    dendrite_uuid: &str,
    nonce: u64,
    target: &Target,
    call: &SynapseCall,
) -> SignedRequest {
    let hash = body_hash(&[]);
    let signature =
        hotkey.sign_hex(request_message(nonce, hotkey.ss58(), &target.hotkey, dendrite_uuid, &hash).as_bytes());
    let timeout = python_float(call.timeout);
    let dendrite_ip = "0.0.0.0"; // the axon replaces it with the peer address it sees

    let mut headers = vec![
        ("name".to_owned(), call.name.to_owned()),
        ("timeout".to_owned(), timeout),
        ("bt_header_axon_ip".to_owned(), target.ip.to_string()),
        ("bt_header_axon_port".to_owned(), target.port.to_string()),
        ("bt_header_axon_hotkey".to_owned(), target.hotkey.clone()),
        ("bt_header_dendrite_ip".to_owned(), dendrite_ip.to_owned()),
        ("bt_header_dendrite_version".to_owned(), DENDRITE_VERSION.to_string()),
        ("bt_header_dendrite_nonce".to_owned(), nonce.to_string()),
        ("bt_header_dendrite_uuid".to_owned(), dendrite_uuid.to_owned()),
        ("bt_header_dendrite_hotkey".to_owned(), hotkey.ss58().to_owned()),
        ("bt_header_dendrite_signature".to_owned(), signature.clone()),
    ];
    let b64 = base64::engine::general_purpose::STANDARD;
    for (field, empty_default) in &call.required_defaults {
        headers.push((format!("bt_header_input_obj_{field}"), b64.encode(empty_default.to_string())));
    }

    let mut body = Map::new();
    body.insert("name".into(), json!(call.name));
    body.insert("timeout".into(), json!(call.timeout.as_secs_f64()));
    body.insert("total_size".into(), json!(0));
    body.insert("header_size".into(), json!(0));
    body.insert(
        "dendrite".into(),
        json!({
            "status_code": null, "status_message": null, "process_time": null,
            "ip": dendrite_ip, "port": null, "version": DENDRITE_VERSION, "nonce": nonce,
            "uuid": dendrite_uuid, "hotkey": hotkey.ss58(), "signature": signature,
        }),
    );
    body.insert(
        "axon".into(),
        json!({
            "status_code": null, "status_message": null, "process_time": null,
            "ip": target.ip.to_string(), "port": target.port, "version": null, "nonce": null,
            "uuid": null, "hotkey": target.hotkey, "signature": null,
        }),
    );
    body.insert("computed_body_hash".into(), json!(""));
    for (k, v) in &call.fields {
        body.insert(k.clone(), v.clone());
    }
    let body = Value::Object(body);

    // Informational only; the axon parses but does not check them.
    let header_size: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    headers.push(("header_size".to_owned(), header_size.to_string()));
    headers.push(("total_size".to_owned(), (header_size + json_len(&body).unwrap_or(0)).to_string()));
    headers.push(("computed_body_hash".to_owned(), hash));

    let host = match target.ip {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    SignedRequest { url: format!("http://{host}:{}/{}", target.port, call.name), headers, body }
}

/// Our dendrite: one uuid per process, strictly increasing nanosecond nonces.
pub struct Dendrite {
    hotkey: Arc<Hotkey>,
    uuid: String,
    last_nonce: AtomicU64,
    /// Per axon (`hotkey@ip:port`): the largest nonce we ever sent it, once it has accepted
    /// one of ours (a 200). What the liveness probe builds on: see [`Dendrite::liveness`].
    known_to: Mutex<HashMap<String, u64>>,
    body_cap: usize,
}

impl Dendrite {
    /// Nothing to set up: each request opens its own connection (see [`exchange`]).
    pub fn new(hotkey: Arc<Hotkey>) -> Self {
        Dendrite {
            hotkey,
            uuid: uuid::Uuid::new_v4().to_string(),
            last_nonce: AtomicU64::new(0),
            known_to: Mutex::new(HashMap::new()),
            body_cap: DEFAULT_BODY_CAP,
        }
    }

    pub fn with_body_cap(mut self, cap: usize) -> Self {
        self.body_cap = cap;
        self
    }

    pub fn hotkey(&self) -> &Hotkey {
        &self.hotkey
    }

    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Wall-clock nanoseconds, bumped so that no two requests share or reuse a nonce
    /// (the axon refuses a nonce not larger than the last one it saw from us).
    pub fn next_nonce(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let mut last = self.last_nonce.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_nonce.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Sends an already built request; split out so tests can tamper with one.
    pub async fn send(&self, target: &Target, request: SignedRequest, timeout: Duration) -> Result<Reply, CallError> {
        let (http_status, headers, body) = tokio::time::timeout(timeout, exchange(&request, self.body_cap))
            .await
            .map_err(|_| CallError::Timeout)??;

        let body: Option<Value> = serde_json::from_slice(&body).ok();
        let message = body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).map(str::to_owned);
        let axon_uuid = header_str(&headers, "bt_header_axon_uuid");
        let provenance = self.provenance(target, &headers, axon_uuid.as_deref());
        Ok(Reply { http_status, message, body, axon_uuid, provenance })
    }

    /// Checks the axon's signature over `{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}`
    /// against the hotkey we meant to reach.
    fn provenance(&self, target: &Target, headers: &HeaderMap, axon_uuid: Option<&str>) -> Provenance {
        let signature = header_str(headers, "bt_header_axon_signature");
        let nonce = header_str(headers, "bt_header_axon_nonce");
        match (signature, nonce, axon_uuid) {
            (None, _, _) => Provenance::Unsigned,
            (Some(signature), Some(nonce), Some(uuid)) => {
                let message = format!("{nonce}.{}.{}.{uuid}", self.hotkey.ss58(), target.hotkey);
                if wallet::verify_hex(&target.hotkey, message.as_bytes(), &signature) {
                    Provenance::Verified
                } else {
                    Provenance::Forged
                }
            }
            // A signature without the fields it signs cannot be checked: treat as forged.
            (Some(_), _, _) => Provenance::Forged,
        }
    }
}

impl Dendrite {
    fn axon_key(target: &Target) -> String {
        format!("{}@{}", target.hotkey, target.addr())
    }

    /// Sends `call` with `nonce` and remembers, per axon, the largest nonce it was sent once
    /// it has accepted one of ours: the axon keeps the last nonce it accepted per dendrite
    /// (`hotkey:uuid`) for as long as its process lives.
    async fn send_with_nonce(
        &self,
        target: &Target,
        call: &SynapseCall,
        nonce: u64,
        timeout: Duration,
    ) -> Result<Reply, CallError> {
        let request = build_request(&self.hotkey, &self.uuid, nonce, target, call);
        let key = Self::axon_key(target);
        // Recorded before sending: an axon may accept a request whose answer we never see.
        if let Ok(mut known) = self.known_to.lock() {
            if let Some(sent) = known.get_mut(&key) {
                *sent = (*sent).max(nonce);
            }
        }
        let reply = self.send(target, request, timeout).await;
        if reply.as_ref().is_ok_and(|r| r.http_status == 200) {
            if let Ok(mut known) = self.known_to.lock() {
                let sent = known.entry(key).or_insert(nonce);
                *sent = (*sent).max(nonce);
            }
        }
        reply
    }

    fn forget(&self, target: &Target) {
        if let Ok(mut known) = self.known_to.lock() {
            known.remove(&Self::axon_key(target));
        }
    }
}

impl Transport for Dendrite {
    async fn call(&self, target: &Target, call: &SynapseCall) -> Result<Reply, CallError> {
        self.send_with_nonce(target, call, self.next_nonce(), call.timeout).await
    }

    /// A signed ping to the `Synapse` route every 10.3.1 axon serves (no blacklist, no
    /// handler work, no GitHub call), built so that it is refused only by an axon that
    /// restarted. The axon accepts a nonce either because it is recent, or because it is
    /// larger than the last one it accepted from this dendrite, a memory that dies with its
    /// process. So the ping carries the nonce right after the largest we ever sent that axon:
    /// - the axon still knows us → accepted (200), nothing in its log but trace lines;
    /// - it restarted → that nonce is old and unknown → a signed 401 ("Nonce is too old",
    ///   one ERROR line in its log per restart) that names its new instance; we then ping
    ///   again with a fresh nonce, so it knows us and the next probe is quiet again.
    ///
    /// An axon we have not yet talked to gets a fresh nonce: accepted, and from then on known.
    /// A ping built on a nonce that is still recent would be accepted by a restarted axon too
    /// (and would make us known to it, hiding the restart for good): [`Self::liveness_hold`]
    /// tells the caller to hold it until [`LIVENESS_HOLD`] has passed since our last request
    /// with a fresh nonce, so a restart at any moment is caught within that hold plus one
    /// liveness interval.
    async fn liveness(&self, target: &Target, timeout: Duration) -> Liveness {
        let deadline = tokio::time::Instant::now() + timeout;
        // The ping's own `timeout` field widens the axon's "recent nonce" window (4 s plus
        // it): kept short so that a restart is told apart a few seconds after our last request.
        let ping = SynapseCall {
            name: "Synapse",
            fields: Map::new(),
            required_defaults: vec![],
            timeout: timeout.min(PING_BUDGET),
        };
        let last_sent = self.known_to.lock().ok().and_then(|known| known.get(&Self::axon_key(target)).copied());
        let nonce = match last_sent {
            Some(last) => last + 1,
            None => self.next_nonce(),
        };
        match self.send_with_nonce(target, &ping, nonce, timeout).await {
            Ok(reply) if reply.http_status == 401 && last_sent.is_some() => {
                let instance = reply.axon_uuid.filter(|_| reply.provenance == Provenance::Verified);
                self.forget(target);
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                // Best effort: if this one is lost, the next probe starts afresh.
                let _ = self.send_with_nonce(target, &ping, self.next_nonce(), left).await;
                Liveness::Alive { instance, forgot_us: true }
            }
            Ok(reply) => Liveness::Alive {
                instance: reply.axon_uuid.filter(|_| reply.provenance == Provenance::Verified),
                forgot_us: false,
            },
            Err(CallError::TooLarge { .. } | CallError::Broken(_)) => {
                Liveness::Alive { instance: None, forgot_us: false }
            }
            Err(CallError::Timeout | CallError::Connect(_)) => Liveness::Unreachable,
        }
    }

    fn liveness_hold(&self, target: &Target) -> Duration {
        let last = self.known_to.lock().ok().and_then(|known| known.get(&Self::axon_key(target)).copied());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        last.and_then(|last| probe_hold(last, now)).unwrap_or(Duration::ZERO)
    }
}

/// How long a ping carrying `last_sent + 1` must wait, at wall-clock `now` (both in ns since
/// the epoch), until a restarted axon would refuse that nonce as too old. `None`: send now.
fn probe_hold(last_sent: u64, now: u64) -> Option<Duration> {
    let old_at = last_sent.saturating_add(1).saturating_add(LIVENESS_HOLD.as_nanos() as u64);
    (now < old_at).then(|| Duration::from_nanos(old_at - now))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// One request on a fresh connection, and its answer read within bounds.
///
/// Axons speak plain HTTP/1.1 on an IP address and port, and each is asked every few minutes
/// at most: a general HTTP client's pool, TLS, proxy and DNS machinery would buy nothing, and
/// its buffers (16 KiB a connection) are what a sweep holds per validator in flight. Here a
/// request in flight holds its request bytes (~3 KiB) and a read buffer that starts at 2 KiB,
/// which a gittensor answer fits in, and grows only as far as [`HEAD_CAP`] and `body_cap`
/// allow. `Connection: close`: nothing is pooled (a pooled connection to a validator that
/// restarted would fail the next request). Bodies framed by `Content-Length`, by chunks or
/// by the end of the connection are read, never more than the cap.
async fn exchange(request: &SignedRequest, body_cap: usize) -> Result<(u16, HeaderMap, Vec<u8>), CallError> {
    let (authority, path) = request
        .url
        .strip_prefix("http://")
        .map(|rest| rest.split_at(rest.find('/').unwrap_or(rest.len())))
        .ok_or_else(|| CallError::Broken(format!("not an http:// URL: {}", request.url)))?;
    let addr: SocketAddr =
        authority.parse().map_err(|_| CallError::Connect(format!("not an IP address and port: {authority}")))?;
    let wire = request_bytes(request, authority, if path.is_empty() { "/" } else { path })?;

    let mut stream = TcpStream::connect(addr).await.map_err(|e| CallError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    stream.write_all(&wire).await.map_err(broken)?;
    drop(wire); // overwritten: it held the PAT of a broadcast

    let mut buf = Vec::with_capacity(FIRST_READ);
    let (status, headers, head_len) = loop {
        if let Some((status, headers, head_len)) = parse_head(&buf)? {
            // An interim answer (100 Continue) is followed by the real one.
            if (100..200).contains(&status) && status != 101 {
                buf.drain(..head_len);
                continue;
            }
            break (status, headers, head_len);
        }
        if buf.len() >= HEAD_CAP {
            return Err(CallError::Broken(format!("the answer's head is larger than {HEAD_CAP} bytes")));
        }
        if read_more(&mut stream, &mut buf, HEAD_CAP).await? == 0 {
            return Err(CallError::Broken("connection closed before the answer's head was complete".into()));
        }
    };
    buf.drain(..head_len);
    if matches!(status, 204 | 304) {
        return Ok((status, headers, Vec::new()));
    }
    let chunked = headers
        .get_all("transfer-encoding")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("chunked")));
    let length = match headers.get("content-length") {
        Some(v) if !chunked => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| CallError::Broken("the answer's Content-Length is not a number".into()))?,
        ),
        _ => None,
    };
    let body = if chunked {
        read_chunked(&mut stream, buf, body_cap).await?
    } else if let Some(length) = length {
        // Read up to the cap even when more is declared, as the bytes arrive: the answer is
        // judged by what the validator sends within the timeout, not by what it announces.
        let wanted = length.min(body_cap + 1);
        buf.reserve_exact(wanted.saturating_sub(buf.len()));
        while buf.len() < wanted {
            if read_more(&mut stream, &mut buf, wanted).await? == 0 {
                return Err(CallError::Broken("connection closed before the answer's body was complete".into()));
            }
        }
        if buf.len() > body_cap {
            return Err(CallError::TooLarge { limit: body_cap });
        }
        buf.truncate(length);
        buf
    } else {
        // No framing: the body runs to the end of the connection.
        loop {
            if buf.len() > body_cap {
                return Err(CallError::TooLarge { limit: body_cap });
            }
            if read_more(&mut stream, &mut buf, body_cap + 1).await? == 0 {
                break buf;
            }
        }
    };
    Ok((status, headers, body))
}

/// The request as it goes on the wire: request line, headers, JSON body, in one buffer.
/// The body is written straight into it, and the buffer is sized first so that it never
/// grows (a grown buffer leaves its old bytes, the PAT among them, in freed memory); it is
/// overwritten when dropped.
fn request_bytes(request: &SignedRequest, authority: &str, path: &str) -> Result<Zeroizing<Vec<u8>>, CallError> {
    let body_len = json_len(&request.body).map_err(|e| CallError::Broken(e.to_string()))?;
    let length = body_len.to_string();
    let mut headers = vec![
        ("host", authority),
        ("user-agent", USER_AGENT),
        ("accept", "*/*"),
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
        ("connection", "close"),
    ];
    for (name, value) in &request.headers {
        // Never let a value end the header block or start another header.
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err() {
            return Err(CallError::Broken(format!("header {name:?} is not valid HTTP")));
        }
        headers.push((name, value));
    }
    let size = path.len() + 16 + headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2 + body_len;
    let mut wire = Zeroizing::new(Vec::with_capacity(size));
    wire.extend_from_slice(b"POST ");
    wire.extend_from_slice(path.as_bytes());
    wire.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        wire.extend_from_slice(name.as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    serde_json::to_writer(&mut *wire, &request.body).map_err(|e| CallError::Broken(e.to_string()))?;
    Ok(wire)
}

/// The status and headers, once the head is complete in `buf`, and the head's length.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, HeaderMap, usize)>, CallError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(CallError::Broken(format!("the answer is not valid HTTP: {e}"))),
    };
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        // A header that is not valid HTTP is left out, as if it were not there.
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(header.name.as_bytes()), HeaderValue::from_bytes(header.value))
        {
            headers.append(name, value);
        }
    }
    Ok(Some((response.code.unwrap_or(0), headers, head_len)))
}

/// A chunked body, decoded as it arrives; `buf` holds what was read past the head.
async fn read_chunked(stream: &mut TcpStream, mut buf: Vec<u8>, body_cap: usize) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    // Chunk-size lines and extensions are small; a body's bytes are bounded by the cap.
    let limit = body_cap + HEAD_CAP;
    loop {
        match httparse::parse_chunk_size(&buf) {
            // The last chunk: trailers, if any, are not read.
            Ok(httparse::Status::Complete((_, 0))) => return Ok(body),
            Ok(httparse::Status::Complete((line, size))) => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if body.len().saturating_add(size) > body_cap {
                    return Err(CallError::TooLarge { limit: body_cap });
                }
                let end = line + size + 2;
                if buf.len() >= end {
                    body.extend_from_slice(&buf[line..line + size]);
                    buf.drain(..end);
                    continue;
                }
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Err(CallError::Broken("the answer's chunked body is not valid HTTP".into())),
        }
        if buf.len() >= limit {
            return Err(CallError::TooLarge { limit: body_cap });
        }
        if read_more(stream, &mut buf, limit).await? == 0 {
            return Err(CallError::Broken("connection closed before the answer's body was complete".into()));
        }
    }
}

/// Reads what has arrived into `buf`, which grows by doubling up to `limit` bytes; 0 at the
/// end of the connection.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>, limit: usize) -> Result<usize, CallError> {
    if buf.len() == buf.capacity() {
        buf.reserve(buf.capacity().max(FIRST_READ).min(limit.saturating_sub(buf.len()).max(1)));
    }
    stream.read_buf(buf).await.map_err(broken)
}

fn broken(e: std::io::Error) -> CallError {
    CallError::Broken(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            uid: 3,
            hotkey: "5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi".into(),
            ip: "127.0.0.1".parse().unwrap(),
            port: 8091,
        }
    }

    #[test]
    fn a_probe_waits_until_a_restarted_axon_would_find_its_nonce_too_old() {
        // What bittensor 10.x's allowed_nonce_window_ns makes of the ping: too old once
        // now - 4 s - its 1 s timeout has passed the nonce.
        assert_eq!(LIVENESS_HOLD, Duration::from_millis(5_250));
        let last = 1_700_000_000_000_000_000;
        let second = 1_000_000_000;
        assert_eq!(probe_hold(last, last + 200_000_000), Some(Duration::from_nanos(5_050_000_001)));
        assert_eq!(probe_hold(last, last + 5 * second), Some(Duration::from_nanos(250_000_001)));
        assert_eq!(probe_hold(last, last + 5_250_000_001), None);
        assert_eq!(probe_hold(last, last + 6 * second), None);
        // The window ends where the axon's check starts refusing: the nonce sent is last + 1.
        let sent = last + 1;
        let now = last + 5_250_000_001;
        assert!(sent <= now - (RECENT_NONCE_DELTA + PING_BUDGET).as_nanos() as u64);
    }

    fn check_call() -> SynapseCall {
        SynapseCall {
            name: "PatCheckSynapse",
            fields: Map::new(),
            required_defaults: vec![],
            timeout: Duration::from_secs(15),
        }
    }

    #[test]
    fn empty_body_hash_is_sha3_of_empty_string() {
        assert_eq!(body_hash(&[]), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
    }

    #[test]
    fn fixed_key_and_nonce_sign_the_documented_message() {
        let hotkey = Hotkey::from_seed(&[0x22; 32]);
        let req = build_request(&hotkey, "uuid-1", 1_700_000_000_000_000_000, &target(), &check_call());
        let header = |name: &str| req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let message = format!(
            "1700000000000000000.{}.5DtDLm5rQHShDqojQpsvcN8tRXHVFaecfDoRet1SU6BFD9Fi.uuid-1.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
            hotkey.ss58()
        );
        assert_eq!(
            message,
            request_message(1_700_000_000_000_000_000, hotkey.ss58(), &target().hotkey, "uuid-1", &body_hash(&[]))
        );
        assert!(wallet::verify_hex(hotkey.ss58(), message.as_bytes(), &header("bt_header_dendrite_signature")));
        assert_eq!(header("timeout"), "15.0");
        assert_eq!(header("bt_header_dendrite_version"), "10003001");
        assert_eq!(header("name"), "PatCheckSynapse");
        assert_eq!(req.url, "http://127.0.0.1:8091/PatCheckSynapse");
        assert_eq!(req.body["dendrite"]["hotkey"], hotkey.ss58(), "gittensor reads the miner from the body");
    }

    #[test]
    fn required_fields_travel_as_empty_defaults_never_values() {
        let hotkey = Hotkey::from_seed(&[0x22; 32]);
        let mut fields = Map::new();
        fields.insert("github_access_token".into(), json!("ghp_secret_value_1234"));
        let call = SynapseCall {
            name: "PatBroadcastSynapse",
            fields,
            required_defaults: vec![("github_access_token", json!(""))],
            timeout: Duration::from_millis(30_500),
        };
        let req = build_request(&hotkey, "u", 1, &target(), &call);
        let input = req.headers.iter().find(|(k, _)| k == "bt_header_input_obj_github_access_token").unwrap();
        assert_eq!(input.1, "IiI="); // base64 of `""`, as bittensor sends it
        assert!(req.headers.iter().all(|(_, v)| !v.contains("ghp_secret")));
        assert_eq!(req.body["github_access_token"], "ghp_secret_value_1234");
        assert_eq!(req.headers.iter().find(|(k, _)| k == "timeout").unwrap().1, "30.5");
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        let mut t = target();
        t.ip = "2001:db8::1".parse().unwrap();
        let req = build_request(&Hotkey::from_seed(&[1; 32]), "u", 1, &t, &check_call());
        assert_eq!(req.url, "http://[2001:db8::1]:8091/PatCheckSynapse");
    }

    #[test]
    fn nonces_strictly_increase() {
        let d = Dendrite::new(Arc::new(Hotkey::from_seed(&[3; 32])));
        let mut last = 0;
        for _ in 0..10_000 {
            let n = d.next_nonce();
            assert!(n > last);
            last = n;
        }
    }
}
