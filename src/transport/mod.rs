//! Signed requests to validators, behind one small interface.
//!
//! Today's validators run bittensor 10.x axons ([`axon_v10`]); bittensor 11 replaced
//! Axon/Dendrite with the `btauth/1` signed-HTTP scheme, and a second implementation of
//! [`Transport`] will speak it. Nothing above this module knows which one is in use.

pub mod axon_v10;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Map, Value};

/// A validator's endpoint and identity, as the chain (or the static list) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub uid: u16,
    /// SS58 address of the validator's hotkey: whom we mean to reach.
    pub hotkey: String,
    pub ip: IpAddr,
    pub port: u16,
}

impl Target {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

/// One synapse call: its name, its request fields, and for each required field the JSON
/// of that field type's empty default (what bittensor's dendrite puts in headers).
/// No `Debug`: the fields may hold the PAT, and they are overwritten when the call is dropped.
pub struct SynapseCall {
    pub name: &'static str,
    pub fields: Map<String, Value>,
    pub required_defaults: Vec<(&'static str, Value)>,
    pub timeout: Duration,
}

impl Drop for SynapseCall {
    fn drop(&mut self) {
        self.fields.values_mut().for_each(wipe);
    }
}

/// Overwrites every string in `value` before it is freed: a request's fields may hold the
/// PAT, and freed memory keeps its bytes (a core file or `/proc/PID/mem` would show them).
pub(crate) fn wipe(value: &mut Value) {
    use zeroize::Zeroize;
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(fields) => fields.values_mut().for_each(wipe),
        _ => {}
    }
}

/// Whether the answer provably came from the validator we meant to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// The answer carries a signature by the target hotkey that verifies.
    Verified,
    /// The answer carries no signature. bittensor 10.3.1 axons sign only their error
    /// answers (401/403/…); a 200 answer is echoed from the request and is unsigned.
    Unsigned,
    /// The answer carries a signature that does not verify against the target hotkey.
    Forged,
}

/// An HTTP answer from a validator, before any synapse-specific interpretation.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status line's code.
    pub http_status: u16,
    /// The axon's message for non-200 answers (`{"message": …}`), when present.
    pub message: Option<String>,
    /// The JSON body; `None` when the body was not JSON.
    pub body: Option<Value>,
    /// The axon instance id (`bt_header_axon_uuid`), new on every validator restart.
    pub axon_uuid: Option<String>,
    pub provenance: Provenance,
}

/// Why no answer could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Nothing arrived within the timeout.
    Timeout,
    /// The TCP connection could not be made (refused, unreachable).
    Connect(String),
    /// The answer was larger than the body cap.
    TooLarge { limit: usize },
    /// The connection broke or the answer was not valid HTTP.
    Broken(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => write!(f, "timed out"),
            CallError::Connect(e) => write!(f, "connection failed: {e}"),
            CallError::TooLarge { limit } => write!(f, "answer larger than {limit} bytes"),
            CallError::Broken(e) => write!(f, "connection broken: {e}"),
        }
    }
}

/// What a liveness probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Unreachable,
    /// It answered; `instance` is its process instance id (the axon uuid) when the answer
    /// carried one signed by the validator's hotkey. `forgot_us`: it refused a nonce that
    /// follows the last one it accepted from us, so it no longer knows our dendrite — its
    /// process restarted since we last talked to it (and its PAT store may be gone).
    Alive {
        instance: Option<String>,
        forgot_us: bool,
    },
}

/// Sends one signed synapse call to one validator and reads its answer.
pub trait Transport: Send + Sync {
    fn call(&self, target: &Target, call: &SynapseCall) -> impl Future<Output = Result<Reply, CallError>> + Send;

    /// A cheap "are you there, and are you the process we last talked to?" that costs the
    /// validator no GitHub call, its handlers nothing and, at rest, no line in its log.
    fn liveness(&self, target: &Target, timeout: Duration) -> impl Future<Output = Liveness> + Send;

    /// How long from now a liveness probe of `target` must wait before its answer can tell
    /// a restarted validator from the process we last talked to (`Duration::ZERO`: it can
    /// be sent now). The caller holds the probe that long; the transport never waits itself,
    /// so a probe's own deadline covers only the exchange.
    fn liveness_hold(&self, _target: &Target) -> Duration {
        Duration::ZERO
    }
}
