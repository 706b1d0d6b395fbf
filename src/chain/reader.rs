//! Reads a subnet's neurons from a subtensor node with subxt.
//!
//! Which calls, and why:
//! - `NeuronInfoRuntimeApi_get_neurons_lite(netuid)`: uid, hotkey, axon (ip, ip_type, port)
//!   and validator_trust for every uid; what bittensor's `metagraph(lite=True)` reads.
//! - `SubnetInfoRuntimeApi_get_subnet_state(netuid)`: per-uid `total_stake`, the `S` the
//!   reference's stake threshold is applied to. Where a node lacks it, the same `total_stake`
//!   vector from `SubnetInfoRuntimeApi_get_metagraph(netuid)` is used instead.
//!
//! Everything is decoded dynamically through the metadata the node serves, by field name,
//! so a routine runtime upgrade that adds or reorders fields does not break us. The legacy
//! RPC methods (`state_call`, `chain_getHeader`, …) are used: every subtensor node serves
//! them, and they make no subscription that a flaky public endpoint could leave hanging.
//! No secret ever goes to the chain: these are read-only calls with a netuid argument.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use subxt::backend::LegacyBackend;
use subxt::config::SubstrateConfig;
use subxt::dynamic::Value;
use subxt::ext::scale_value::{At, Composite, Primitive, ValueDef};
use subxt::rpcs::RpcClient;
use subxt::utils::AccountId32;
use subxt::OnlineClient;
use thiserror::Error;

use super::eligibility::{axon_ip, Neuron};

const RAO_PER_ALPHA: f64 = 1e9;

#[derive(Debug, Error)]
pub enum ChainError {
    #[error("cannot connect to the chain at {endpoint}: {detail}; check the URL (`network`/`rpc_url`) and this machine's network")]
    Unreachable { endpoint: String, detail: String },
    #[error("the chain node at {endpoint} did not answer {what} within {secs} s; try another endpoint (`rpc_url` takes a list)")]
    Timeout { endpoint: String, what: &'static str, secs: u64 },
    #[error("the chain node at {endpoint} failed {what}: {detail}")]
    CallFailed { endpoint: String, what: &'static str, detail: String },
    #[error(
        "the chain node at {endpoint} answered {what} with data we cannot read ({detail}); is it a subtensor node?"
    )]
    Garbage { endpoint: String, what: &'static str, detail: String },
    #[error(
        "the chain node at {endpoint} answered {what} with data that does not match its own metadata ({detail}); it may run an older or newer runtime than it describes: try another endpoint"
    )]
    Undecodable { endpoint: String, what: &'static str, detail: String },
    #[error("the chain node at {endpoint} offers no {what}; is it a subtensor node, and is it up to date?")]
    Unsupported { endpoint: String, what: &'static str },
    #[error(
        "the chain node at {endpoint} served no runtime API descriptions: its metadata could not be read at V15 (it did not answer `Metadata_metadata_versions`, so only the V14 metadata was read); use a node that serves metadata V15 (any current subtensor node)"
    )]
    NoRuntimeApis { endpoint: String },
    #[error("subnet {netuid} does not exist on the chain at {endpoint}; check `netuid` and `network`")]
    NoSubnet { endpoint: String, netuid: u16 },
    /// Every endpoint failed, on both passes. Shown once per distinct failure.
    #[error("every chain endpoint failed:\n  {}", distinct_lines(.0).join("\n  "))]
    AllFailed(Vec<ChainError>),
}

/// Each distinct failure once, in order, with how often it happened when more than once.
fn distinct_lines(failures: &[ChainError]) -> Vec<String> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    for failure in failures {
        let text = failure.to_string();
        match lines.iter_mut().find(|(seen, _)| *seen == text) {
            Some((_, n)) => *n += 1,
            None => lines.push((text, 1)),
        }
    }
    lines.into_iter().map(|(text, n)| if n == 1 { text } else { format!("{text} ({n} tries)") }).collect()
}

/// An RPC client's error text without the layers that repeat themselves: subxt wraps its
/// own error in itself ("RPC error: client error: RPC error: client error: Error when
/// opening the TCP socket: …"); the cause is what a person needs.
pub fn tidy_detail(detail: &str) -> String {
    const NOISE: [&str; 2] = ["RPC error: ", "client error: "];
    let mut rest = detail.trim();
    while let Some(stripped) = NOISE.iter().find_map(|noise| rest.strip_prefix(noise)) {
        rest = stripped.trim_start();
    }
    if rest.is_empty() {
        detail.trim().to_owned()
    } else {
        rest.to_owned()
    }
}

/// What was read, and from where.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub neurons: Vec<Neuron>,
    pub endpoint: String,
    pub block: u64,
    /// The runtime API the stakes came from.
    pub stake_source: &'static str,
}

#[derive(Debug, Clone)]
pub struct ChainReader {
    endpoints: Vec<String>,
    connect_timeout: Duration,
    call_timeout: Duration,
}

impl ChainReader {
    pub fn new(endpoints: Vec<String>, connect_timeout: Duration, call_timeout: Duration) -> Self {
        ChainReader { endpoints, connect_timeout, call_timeout }
    }

    /// Tries each endpoint in turn, twice round: a node that dropped the connection
    /// mid-call gets a fresh connection on the second pass.
    /// Failures are logged (once each) only when another endpoint then answers: when all
    /// fail, the one error returned says everything, each distinct failure once.
    pub async fn read(&self, netuid: u16) -> Result<Snapshot, ChainError> {
        let mut failures = Vec::new();
        for pass in 0..2 {
            for endpoint in &self.endpoints {
                match self.read_from(endpoint, netuid).await {
                    Ok(snapshot) => {
                        for line in distinct_lines(&failures) {
                            tracing::warn!(error = %line, "chain endpoint failed before {endpoint} answered");
                        }
                        return Ok(snapshot);
                    }
                    Err(e @ ChainError::NoSubnet { .. }) => return Err(e),
                    Err(e) => {
                        tracing::debug!(endpoint = %endpoint, pass, error = %e, "chain endpoint failed");
                        failures.push(e);
                    }
                }
            }
        }
        Err(ChainError::AllFailed(failures))
    }

    async fn read_from(&self, endpoint: &str, netuid: u16) -> Result<Snapshot, ChainError> {
        if crate::settings::plain_text_to_another_machine(endpoint) {
            tracing::warn!(
                endpoint = %endpoint,
                "reading the chain from {endpoint} over plain-text ws:// (allow_insecure_transport = true): anyone on the path can change which validators receive the PAT"
            );
        }
        let bounded = |what, timeout| Bounded { endpoint, what, timeout };
        let rpc = bounded("the connection", self.connect_timeout)
            .run(RpcClient::from_insecure_url(endpoint), |e| ChainError::Unreachable {
                endpoint: endpoint.into(),
                detail: tidy_detail(&e.to_string()),
            })
            .await?;
        let backend = LegacyBackend::<SubstrateConfig>::builder().build(rpc);
        let client = bounded("the genesis hash", self.call_timeout)
            .run(OnlineClient::<SubstrateConfig>::from_backend(Arc::new(backend)), failed(endpoint, "the genesis hash"))
            .await?;
        let at = bounded("the latest finalized block and its metadata", self.call_timeout)
            .run(client.at_current_block(), failed(endpoint, "the latest block and its metadata"))
            .await?;
        let metadata = at.metadata_ref();
        // Metadata V14 describes no runtime APIs: subxt falls back to it when the node does
        // not answer `Metadata_metadata_versions`. Then every API below looks "missing".
        if metadata.runtime_api_traits().len() == 0 {
            return Err(ChainError::NoRuntimeApis { endpoint: endpoint.into() });
        }
        let has = |api: &str, method: &str| {
            metadata.runtime_api_trait_by_name(api).is_some_and(|t| t.method_by_name(method).is_some())
        };

        let call = |api: &'static str, method: &'static str| {
            let payload = subxt::dynamic::runtime_api_call::<_, Value>(api, method, vec![Value::u128(netuid.into())]);
            let at = &at;
            async move { at.runtime_apis().call(payload).await }
        };

        const NEURONS: &str = "NeuronInfoRuntimeApi.get_neurons_lite";
        if !has("NeuronInfoRuntimeApi", "get_neurons_lite") {
            return Err(ChainError::Unsupported { endpoint: endpoint.into(), what: NEURONS });
        }
        let neurons = bounded(NEURONS, self.call_timeout)
            .run(call("NeuronInfoRuntimeApi", "get_neurons_lite"), api_failed(endpoint, NEURONS))
            .await?;
        let garbage =
            |what: &'static str| move |detail: String| ChainError::Garbage { endpoint: endpoint.into(), what, detail };
        let neurons = decode_neurons(&neurons).map_err(garbage(NEURONS))?;

        let (stake_source, state) = if has("SubnetInfoRuntimeApi", "get_subnet_state") {
            ("SubnetInfoRuntimeApi.get_subnet_state", call("SubnetInfoRuntimeApi", "get_subnet_state"))
        } else if has("SubnetInfoRuntimeApi", "get_metagraph") {
            ("SubnetInfoRuntimeApi.get_metagraph", call("SubnetInfoRuntimeApi", "get_metagraph"))
        } else {
            return Err(ChainError::Unsupported {
                endpoint: endpoint.into(),
                what: "SubnetInfoRuntimeApi.get_subnet_state or .get_metagraph",
            });
        };
        tracing::debug!(endpoint, stake_source, "reading stakes");
        let state = bounded(stake_source, self.call_timeout).run(state, api_failed(endpoint, stake_source)).await?;
        let Some(stakes) = decode_total_stake(&state).map_err(garbage(stake_source))? else {
            return Err(ChainError::NoSubnet { endpoint: endpoint.into(), netuid });
        };

        let neurons = neurons
            .into_iter()
            .map(|n| {
                let total_stake = stakes.get(usize::from(n.uid)).copied().unwrap_or(0) as f64 / RAO_PER_ALPHA;
                Neuron { total_stake, ..n }
            })
            .collect();
        Ok(Snapshot { neurons, endpoint: endpoint.into(), block: at.block_number(), stake_source })
    }
}

fn failed<'a, E: std::fmt::Display>(endpoint: &'a str, what: &'static str) -> impl FnOnce(E) -> ChainError + 'a {
    move |e| ChainError::CallFailed { endpoint: endpoint.into(), what, detail: tidy_detail(&e.to_string()) }
}

/// A runtime API call: an answer the metadata cannot decode is told apart from a failed call.
fn api_failed<'a>(
    endpoint: &'a str,
    what: &'static str,
) -> impl FnOnce(subxt::error::RuntimeApiError) -> ChainError + 'a {
    move |e| match e {
        subxt::error::RuntimeApiError::CouldNotDecodeResponse(detail) => {
            ChainError::Undecodable { endpoint: endpoint.into(), what, detail: detail.to_string() }
        }
        other => failed(endpoint, what)(other),
    }
}

/// A chain request bounded in time, so a silent node can never hang the agent.
struct Bounded<'a> {
    endpoint: &'a str,
    what: &'static str,
    timeout: Duration,
}

impl Bounded<'_> {
    async fn run<T, E>(
        self,
        fut: impl Future<Output = Result<T, E>>,
        on_error: impl FnOnce(E) -> ChainError,
    ) -> Result<T, ChainError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(on_error(e)),
            Err(_) => Err(ChainError::Timeout {
                endpoint: self.endpoint.into(),
                what: self.what,
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

// ---- Dynamic value helpers: navigate by field name, tolerate newtype wrappers ----------

fn field<'v>(v: &'v Value, name: &str) -> Result<&'v Value, String> {
    v.at(name).ok_or_else(|| format!("field `{name}` is missing"))
}

/// A number, looking through single-field wrappers (`NetUid(u16)`, `AlphaBalance(u64)`).
fn number(v: &Value) -> Option<u128> {
    match &v.value {
        ValueDef::Primitive(Primitive::U128(n)) => Some(*n),
        ValueDef::Primitive(Primitive::I128(n)) => u128::try_from(*n).ok(),
        ValueDef::Composite(c) if c.len() == 1 => c.values().next().and_then(number),
        _ => None,
    }
}

fn number_field(v: &Value, name: &str) -> Result<u128, String> {
    number(field(v, name)?).ok_or_else(|| format!("field `{name}` is not a number"))
}

fn items(v: &Value) -> Option<Vec<&Value>> {
    match &v.value {
        ValueDef::Composite(Composite::Unnamed(values)) => Some(values.iter().collect()),
        ValueDef::Composite(Composite::Named(values)) if values.is_empty() => Some(vec![]),
        _ => None,
    }
}

/// An `AccountId32` (a 32-byte array, possibly wrapped) as an SS58 address.
fn account(v: &Value) -> Option<String> {
    fn bytes(v: &Value, out: &mut Vec<u8>) -> Option<()> {
        match &v.value {
            ValueDef::Primitive(Primitive::U128(n)) => out.push(u8::try_from(*n).ok()?),
            ValueDef::Composite(c) => {
                for inner in c.values() {
                    bytes(inner, out)?;
                }
            }
            _ => return None,
        }
        Some(())
    }
    let mut out = Vec::with_capacity(32);
    bytes(v, &mut out)?;
    let raw: [u8; 32] = out.try_into().ok()?;
    Some(AccountId32(raw).to_string())
}

/// The most uids a subnet can hold: subtensor's `MaxAllowedUids` is a u16 set by governance,
/// and no subnet has ever been given more than 4096. A longer answer is not a subnet.
pub const MAX_NEURONS: usize = 4096;

fn decode_neurons(v: &Value) -> Result<Vec<Neuron>, String> {
    let list = items(v).ok_or("expected a list of neurons")?;
    if list.len() > MAX_NEURONS {
        return Err(format!("{} neurons, more than a subnet can hold ({MAX_NEURONS})", list.len()));
    }
    let neurons = decode_each_neuron(list)?;
    check_unique_uids(&neurons)?;
    Ok(neurons)
}

/// Two neurons with one uid would be probed (and counted) twice: the answer is not a subnet.
fn check_unique_uids(neurons: &[Neuron]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::with_capacity(neurons.len());
    match neurons.iter().find(|n| !seen.insert(n.uid)) {
        Some(n) => Err(format!("uid {} appears more than once in the neurons list", n.uid)),
        None => Ok(()),
    }
}

fn decode_each_neuron(list: Vec<&Value>) -> Result<Vec<Neuron>, String> {
    list.into_iter()
        .enumerate()
        .map(|(i, n)| {
            let at = |e: String| format!("neuron #{i}: {e}");
            let uid = u16::try_from(number_field(n, "uid").map_err(at)?).map_err(|_| at("uid out of range".into()))?;
            let hotkey =
                account(field(n, "hotkey").map_err(at)?).ok_or_else(|| at("hotkey is not an account id".into()))?;
            let axon = field(n, "axon_info").map_err(at)?;
            let ip = number_field(axon, "ip").map_err(at)?;
            let ip_type = u8::try_from(number_field(axon, "ip_type").map_err(at)?).unwrap_or(0);
            let port =
                u16::try_from(number_field(axon, "port").map_err(at)?).map_err(|_| at("port out of range".into()))?;
            let vtrust = number_field(n, "validator_trust").map_err(at)?;
            // Serving means ip ≠ 0, whatever the port (bittensor's `AxonInfo.is_serving`).
            let axon = axon_ip(ip, ip_type).map(|ip| (ip, port));
            Ok(Neuron { uid, hotkey, axon, validator_trust: vtrust as f64 / f64::from(u16::MAX), total_stake: 0.0 })
        })
        .collect()
}

/// `Option<SubnetState>` or `Option<Metagraph>`: `None` when the subnet does not exist,
/// else the per-uid `total_stake` in rao.
fn decode_total_stake(v: &Value) -> Result<Option<Vec<u128>>, String> {
    let inner = match &v.value {
        ValueDef::Variant(variant) if variant.name == "None" => return Ok(None),
        ValueDef::Variant(variant) if variant.name == "Some" => {
            variant.values.values().next().ok_or("`Some` without a value")?
        }
        _ => return Err("expected an Option".into()),
    };
    let stakes = items(field(inner, "total_stake")?).ok_or("`total_stake` is not a list")?;
    stakes
        .into_iter()
        .map(|s| number(s).ok_or_else(|| "a `total_stake` entry is not a number".to_owned()))
        .collect::<Result<_, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_lose_their_repeated_wrapping() {
        assert_eq!(
            tidy_detail("RPC error: client error: RPC error: client error: Error when opening the TCP socket: Connection refused (os error 111)"),
            "Error when opening the TCP socket: Connection refused (os error 111)"
        );
        assert_eq!(tidy_detail("RPC error: client error: "), "client error:", "never empty");
        assert_eq!(tidy_detail("Method not found"), "Method not found");
    }

    #[test]
    fn the_same_failure_on_both_passes_is_said_once() {
        let refused = || ChainError::Unreachable { endpoint: "ws://a".into(), detail: "refused".into() };
        let other = ChainError::Timeout { endpoint: "ws://b".into(), what: "the connection", secs: 5 };
        let text = ChainError::AllFailed(vec![refused(), other, refused()]).to_string();
        assert_eq!(text.matches("ws://a").count(), 1, "{text}");
        assert!(text.contains("(2 tries)") && text.contains("ws://b"), "{text}");
    }
}
