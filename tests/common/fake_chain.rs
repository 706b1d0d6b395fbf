//! A fake subtensor node: a JSON-RPC websocket server on 127.0.0.1 that answers what subxt's
//! legacy backend asks (genesis hash, finalized head, header, `Core_version`, metadata) and
//! the runtime API calls the chain reader makes.
//!
//! The metadata is built with scale-info + frame-metadata from types that mirror subtensor's
//! own, as of opentensor/subtensor 14bc6f9f964b9cc362e9635dd110a487fa5d15a0:
//! `pallets/subtensor/src/rpc_info/{neuron_info.rs, show_subnet.rs, metagraph.rs}`,
//! `pallets/subtensor/src/lib.rs` (AxonInfo, PrometheusInfo, identities),
//! `common/src/{lib.rs, currency.rs}` (NetUid, AlphaBalance, TaoBalance),
//! `pallets/subtensor/runtime-api/src/lib.rs` (the API signatures).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use frame_metadata::v15::{
    CustomMetadata, ExtrinsicMetadata, OuterEnums, RuntimeApiMetadata, RuntimeApiMethodMetadata,
    RuntimeApiMethodParamMetadata, RuntimeMetadataV15,
};
use frame_metadata::RuntimeMetadataPrefixed;
use futures::{SinkExt, StreamExt};
use parity_scale_codec::{Compact, CompactAs, Encode};
use scale_info::{meta_type, TypeInfo};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

// ---- Mirrors of subtensor's types ------------------------------------------------------

#[derive(Encode, TypeInfo, Clone, Copy, CompactAs)]
pub struct NetUid(u16);
#[derive(Encode, TypeInfo, Clone, Copy, CompactAs)]
pub struct AlphaBalance(u64);
#[derive(Encode, TypeInfo, Clone, Copy, CompactAs)]
pub struct TaoBalance(u64);

/// sp_core's AccountId32: a 32-byte array.
#[derive(Encode, TypeInfo, Clone, Copy)]
pub struct AccountId32(pub [u8; 32]);

#[derive(Encode, TypeInfo, Clone, Default)]
pub struct AxonInfo {
    block: u64,
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
    protocol: u8,
    placeholder1: u8,
    placeholder2: u8,
}

#[derive(Encode, TypeInfo, Clone, Default)]
pub struct PrometheusInfo {
    block: u64,
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
}

#[derive(Encode, TypeInfo, Clone)]
pub struct NeuronInfoLite<AccountId> {
    hotkey: AccountId,
    coldkey: AccountId,
    uid: Compact<u16>,
    netuid: Compact<NetUid>,
    active: bool,
    axon_info: AxonInfo,
    prometheus_info: PrometheusInfo,
    stake: Vec<(AccountId, Compact<AlphaBalance>)>,
    rank: Compact<u16>,
    emission: Compact<AlphaBalance>,
    incentive: Compact<u16>,
    consensus: Compact<u16>,
    trust: Compact<u16>,
    validator_trust: Compact<u16>,
    dividends: Compact<u16>,
    last_update: Compact<u64>,
    validator_permit: bool,
    pruning_score: Compact<u16>,
}

#[derive(Encode, TypeInfo, Clone)]
pub struct SubnetState<AccountId> {
    netuid: Compact<NetUid>,
    hotkeys: Vec<AccountId>,
    coldkeys: Vec<AccountId>,
    active: Vec<bool>,
    validator_permit: Vec<bool>,
    pruning_score: Vec<Compact<u16>>,
    last_update: Vec<Compact<u64>>,
    emission: Vec<Compact<AlphaBalance>>,
    dividends: Vec<Compact<u16>>,
    incentives: Vec<Compact<u16>>,
    consensus: Vec<Compact<u16>>,
    trust: Vec<Compact<u16>>,
    rank: Vec<Compact<u16>>,
    block_at_registration: Vec<Compact<u64>>,
    alpha_stake: Vec<Compact<AlphaBalance>>,
    tao_stake: Vec<Compact<TaoBalance>>,
    total_stake: Vec<Compact<TaoBalance>>,
    emission_history: Vec<Vec<Compact<AlphaBalance>>>,
}

#[derive(Encode, TypeInfo, Clone, Default)]
pub struct SubnetIdentityV3 {
    subnet_name: Vec<u8>,
    github_repo: Vec<u8>,
    subnet_contact: Vec<u8>,
    subnet_url: Vec<u8>,
    discord: Vec<u8>,
    description: Vec<u8>,
    logo_url: Vec<u8>,
    additional: Vec<u8>,
}

#[derive(Encode, TypeInfo, Clone, Default)]
pub struct ChainIdentityV2 {
    name: Vec<u8>,
    url: Vec<u8>,
    github_repo: Vec<u8>,
    image: Vec<u8>,
    discord: Vec<u8>,
    description: Vec<u8>,
    additional: Vec<u8>,
}

/// substrate_fixed's I96F32: a 128-bit fixed-point number.
#[derive(Encode, TypeInfo, Clone, Copy, Default)]
pub struct I96F32 {
    bits: i128,
}

#[derive(Encode, TypeInfo, Clone)]
pub struct Metagraph<AccountId> {
    netuid: Compact<NetUid>,
    name: Vec<Compact<u8>>,
    symbol: Vec<Compact<u8>>,
    identity: Option<SubnetIdentityV3>,
    network_registered_at: Compact<u64>,
    owner_hotkey: AccountId,
    owner_coldkey: AccountId,
    block: Compact<u64>,
    tempo: Compact<u16>,
    last_step: Compact<u64>,
    blocks_since_last_step: Compact<u64>,
    subnet_emission: Compact<u64>,
    alpha_in: Compact<AlphaBalance>,
    alpha_out: Compact<AlphaBalance>,
    tao_in: Compact<TaoBalance>,
    alpha_out_emission: Compact<AlphaBalance>,
    alpha_in_emission: Compact<AlphaBalance>,
    tao_in_emission: Compact<TaoBalance>,
    pending_alpha_emission: Compact<AlphaBalance>,
    pending_root_emission: Compact<TaoBalance>,
    subnet_volume: Compact<u128>,
    moving_price: I96F32,
    rho: Compact<u16>,
    kappa: Compact<u16>,
    min_allowed_weights: Compact<u16>,
    max_weights_limit: Compact<u16>,
    weights_version: Compact<u64>,
    weights_rate_limit: Compact<u64>,
    activity_cutoff: Compact<u64>,
    max_validators: Compact<u16>,
    num_uids: Compact<u16>,
    max_uids: Compact<u16>,
    burn: Compact<TaoBalance>,
    difficulty: Compact<u64>,
    registration_allowed: bool,
    pow_registration_allowed: bool,
    immunity_period: Compact<u16>,
    min_difficulty: Compact<u64>,
    max_difficulty: Compact<u64>,
    min_burn: Compact<TaoBalance>,
    max_burn: Compact<TaoBalance>,
    adjustment_alpha: Compact<u64>,
    adjustment_interval: Compact<u16>,
    target_regs_per_interval: Compact<u16>,
    max_regs_per_block: Compact<u16>,
    serving_rate_limit: Compact<u64>,
    commit_reveal_weights_enabled: bool,
    commit_reveal_period: Compact<u64>,
    liquid_alpha_enabled: bool,
    alpha_high: Compact<u16>,
    alpha_low: Compact<u16>,
    bonds_moving_avg: Compact<u64>,
    hotkeys: Vec<AccountId>,
    coldkeys: Vec<AccountId>,
    identities: Vec<Option<ChainIdentityV2>>,
    axons: Vec<AxonInfo>,
    active: Vec<bool>,
    validator_permit: Vec<bool>,
    pruning_score: Vec<Compact<u16>>,
    last_update: Vec<Compact<u64>>,
    emission: Vec<Compact<AlphaBalance>>,
    dividends: Vec<Compact<u16>>,
    incentives: Vec<Compact<u16>>,
    consensus: Vec<Compact<u16>>,
    trust: Vec<Compact<u16>>,
    rank: Vec<Compact<u16>>,
    block_at_registration: Vec<Compact<u64>>,
    alpha_stake: Vec<Compact<AlphaBalance>>,
    tao_stake: Vec<Compact<TaoBalance>>,
    total_stake: Vec<Compact<TaoBalance>>,
    tao_dividends_per_hotkey: Vec<(AccountId, Compact<TaoBalance>)>,
    alpha_dividends_per_hotkey: Vec<(AccountId, Compact<AlphaBalance>)>,
}

// ---- What the fake chain holds ---------------------------------------------------------

/// One uid as a test describes it.
#[derive(Clone, Debug)]
pub struct FakeNeuron {
    pub uid: u16,
    pub hotkey: [u8; 32],
    /// The chain's encoding: IPv4 as a u32 in a u128, IPv6 as the u128.
    pub ip: u128,
    pub ip_type: u8,
    pub port: u16,
    /// The chain's u16 (65535 = 1.0).
    pub validator_trust: u16,
    /// Total stake in rao (10⁹ per α).
    pub total_stake: u64,
}

impl FakeNeuron {
    /// A validator serving on 127.0.0.1:`port`.
    pub fn validator(uid: u16, hotkey: [u8; 32], port: u16, vtrust: f64, stake_alpha: u64) -> Self {
        FakeNeuron {
            uid,
            hotkey,
            ip: u128::from(u32::from(std::net::Ipv4Addr::LOCALHOST)),
            ip_type: 4,
            port,
            validator_trust: (vtrust * 65535.0).round() as u16,
            total_stake: stake_alpha * 1_000_000_000,
        }
    }

    /// A miner: no vtrust, no axon.
    pub fn miner(uid: u16, hotkey: [u8; 32]) -> Self {
        FakeNeuron { uid, hotkey, ip: 0, ip_type: 4, port: 0, validator_trust: 0, total_stake: 0 }
    }
}

/// Misbehaviours a test can switch on.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Close the connection instead of answering the neurons call, this many times.
    pub drop_neurons_call: usize,
    /// Answer the neurons call with bytes that are not a SCALE `Vec<NeuronInfoLite>`.
    pub garbage_neurons: bool,
    /// Accept connections but never answer anything.
    pub silent: bool,
    /// Answer the neurons call with the whole list this many times over (duplicate uids).
    pub repeat_neurons: usize,
}

#[derive(Clone, Debug)]
pub struct ChainSpec {
    pub netuid: u16,
    pub neurons: Vec<FakeNeuron>,
    /// Which optional runtime APIs the metadata offers.
    pub has_subnet_state: bool,
    pub has_metagraph: bool,
    pub faults: Faults,
}

impl ChainSpec {
    pub fn new(netuid: u16, neurons: Vec<FakeNeuron>) -> Self {
        ChainSpec { netuid, neurons, has_subnet_state: true, has_metagraph: true, faults: Faults::default() }
    }
}

pub struct FakeChain {
    pub url: String,
    /// Every `state_call` name and other method, in order.
    pub calls: Arc<Mutex<Vec<String>>>,
    pub spec: Arc<Mutex<ChainSpec>>,
    _thread: std::thread::JoinHandle<()>,
}

impl FakeChain {
    pub fn start(spec: ChainSpec) -> FakeChain {
        // On chain, uids are 0..n and SubnetState's vectors are indexed by uid.
        assert!(spec.neurons.iter().enumerate().all(|(i, n)| usize::from(n.uid) == i), "uids must be 0..n in order");
        let spec = Arc::new(Mutex::new(spec));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (spec2, calls2) = (spec.clone(), calls.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let drops = Arc::new(AtomicUsize::new(0));
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    let (spec, calls, drops) = (spec2.clone(), calls2.clone(), drops.clone());
                    tokio::spawn(async move {
                        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
                        serve(ws, spec, calls, drops).await;
                    });
                }
            });
        });
        let port = rx.recv().unwrap();
        FakeChain { url: format!("ws://127.0.0.1:{port}"), calls, spec, _thread: thread }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

async fn serve(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    spec: Arc<Mutex<ChainSpec>>,
    calls: Arc<Mutex<Vec<String>>>,
    drops: Arc<AtomicUsize>,
) {
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(request) = serde_json::from_str::<Value>(&text) else { continue };
        let spec = spec.lock().unwrap().clone();
        if spec.faults.silent {
            continue;
        }
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        let params = request["params"].clone();
        let name =
            if method == "state_call" { params[0].as_str().unwrap_or_default().to_owned() } else { method.clone() };
        calls.lock().unwrap().push(name.clone());
        if name == "NeuronInfoRuntimeApi_get_neurons_lite"
            && drops.load(Ordering::SeqCst) < spec.faults.drop_neurons_call
        {
            drops.fetch_add(1, Ordering::SeqCst);
            return; // the connection drops mid-call
        }
        let reply = match answer(&spec, &method, &params) {
            Ok(result) => json!({"jsonrpc": "2.0", "id": request["id"], "result": result}),
            Err(message) => {
                json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": message}})
            }
        };
        if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
            return;
        }
    }
}

const GENESIS: [u8; 32] = [0x11; 32];
const HEAD: [u8; 32] = [0x22; 32];

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn answer(spec: &ChainSpec, method: &str, params: &Value) -> Result<Value, String> {
    match method {
        "chain_getBlockHash" => Ok(json!(hex0x(if params[0] == json!(0) { &GENESIS } else { &HEAD }))),
        "chain_getFinalizedHead" => Ok(json!(hex0x(&HEAD))),
        "chain_getHeader" => Ok(json!({
            "parentHash": hex0x(&[0x33; 32]),
            "number": "0x64",
            "stateRoot": hex0x(&[0x44; 32]),
            "extrinsicsRoot": hex0x(&[0x55; 32]),
            "digest": {"logs": []},
        })),
        "state_call" => {
            let name = params[0].as_str().unwrap_or_default();
            // Both runtime APIs take a NetUid: a little-endian u16.
            let arg = hex::decode(params[1].as_str().unwrap_or_default().trim_start_matches("0x")).unwrap_or_default();
            let netuid = (arg.len() == 2).then(|| u16::from_le_bytes([arg[0], arg[1]]));
            state_call(spec, name, netuid).map(|bytes| json!(hex0x(&bytes)))
        }
        other => Err(format!("Method not found: {other}")),
    }
}

fn state_call(spec: &ChainSpec, name: &str, netuid: Option<u16>) -> Result<Vec<u8>, String> {
    let exists = netuid == Some(spec.netuid);
    match name {
        "Core_version" => Ok((
            "node-subtensor".to_owned(),
            "node-subtensor".to_owned(),
            1u32,
            300u32, // spec_version
            1u32,
            Vec::<([u8; 8], u32)>::new(),
            1u32, // transaction_version
            1u8,
        )
            .encode()),
        "Metadata_metadata_versions" => Ok(vec![14u32, 15].encode()),
        "Metadata_metadata_at_version" => Ok(Some(metadata(spec)).encode()),
        "Metadata_metadata" => Ok(metadata(spec).encode()),
        "NeuronInfoRuntimeApi_get_neurons_lite" => {
            if spec.faults.garbage_neurons {
                return Ok(vec![0xff, 0xff, 0xff, 0xff, 0x01]);
            }
            let copies = spec.faults.repeat_neurons.max(1);
            let neurons: Vec<_> = if exists {
                (0..copies).flat_map(|_| spec.neurons.iter().map(|n| neuron_info(spec.netuid, n))).collect()
            } else {
                vec![]
            };
            Ok(neurons.encode())
        }
        "SubnetInfoRuntimeApi_get_subnet_state" if spec.has_subnet_state => {
            Ok(exists.then(|| subnet_state(spec)).encode())
        }
        "SubnetInfoRuntimeApi_get_metagraph" if spec.has_metagraph => Ok(exists.then(|| metagraph(spec)).encode()),
        other => Err(format!("Exported method {other} is not found")),
    }
}

fn account(bytes: [u8; 32]) -> AccountId32 {
    AccountId32(bytes)
}

fn neuron_info(netuid: u16, n: &FakeNeuron) -> NeuronInfoLite<AccountId32> {
    NeuronInfoLite {
        hotkey: account(n.hotkey),
        coldkey: account([0xcc; 32]),
        uid: Compact(n.uid),
        netuid: Compact(NetUid(netuid)),
        active: true,
        axon_info: AxonInfo {
            block: 1,
            version: 1,
            ip: n.ip,
            port: n.port,
            ip_type: n.ip_type,
            protocol: 4,
            ..Default::default()
        },
        prometheus_info: PrometheusInfo::default(),
        stake: vec![(account([0xcc; 32]), Compact(AlphaBalance(n.total_stake)))],
        rank: Compact(0),
        emission: Compact(AlphaBalance(0)),
        incentive: Compact(0),
        consensus: Compact(0),
        trust: Compact(0),
        validator_trust: Compact(n.validator_trust),
        dividends: Compact(0),
        last_update: Compact(90),
        validator_permit: n.validator_trust > 0,
        pruning_score: Compact(0),
    }
}

fn per_uid<T: Clone>(spec: &ChainSpec, value: T) -> Vec<T> {
    vec![value; spec.neurons.len()]
}

fn total_stakes(spec: &ChainSpec) -> Vec<Compact<TaoBalance>> {
    spec.neurons.iter().map(|n| Compact(TaoBalance(n.total_stake))).collect()
}

fn subnet_state(spec: &ChainSpec) -> SubnetState<AccountId32> {
    SubnetState {
        netuid: Compact(NetUid(spec.netuid)),
        hotkeys: spec.neurons.iter().map(|n| account(n.hotkey)).collect(),
        coldkeys: per_uid(spec, account([0xcc; 32])),
        active: per_uid(spec, true),
        validator_permit: spec.neurons.iter().map(|n| n.validator_trust > 0).collect(),
        pruning_score: per_uid(spec, Compact(0)),
        last_update: per_uid(spec, Compact(90)),
        emission: per_uid(spec, Compact(AlphaBalance(0))),
        dividends: per_uid(spec, Compact(0)),
        incentives: per_uid(spec, Compact(0)),
        consensus: per_uid(spec, Compact(0)),
        trust: per_uid(spec, Compact(0)),
        rank: per_uid(spec, Compact(0)),
        block_at_registration: per_uid(spec, Compact(1)),
        alpha_stake: spec.neurons.iter().map(|n| Compact(AlphaBalance(n.total_stake))).collect(),
        tao_stake: per_uid(spec, Compact(TaoBalance(0))),
        total_stake: total_stakes(spec),
        emission_history: vec![],
    }
}

fn metagraph(spec: &ChainSpec) -> Metagraph<AccountId32> {
    let c16 = Compact(0u16);
    let c64 = Compact(0u64);
    let alpha = Compact(AlphaBalance(0));
    let tao = Compact(TaoBalance(0));
    Metagraph {
        netuid: Compact(NetUid(spec.netuid)),
        name: vec![],
        symbol: vec![],
        identity: None,
        network_registered_at: c64,
        owner_hotkey: account([0xaa; 32]),
        owner_coldkey: account([0xab; 32]),
        block: Compact(100),
        tempo: Compact(360),
        last_step: c64,
        blocks_since_last_step: c64,
        subnet_emission: c64,
        alpha_in: alpha,
        alpha_out: alpha,
        tao_in: tao,
        alpha_out_emission: alpha,
        alpha_in_emission: alpha,
        tao_in_emission: tao,
        pending_alpha_emission: alpha,
        pending_root_emission: tao,
        subnet_volume: Compact(0),
        moving_price: I96F32::default(),
        rho: c16,
        kappa: c16,
        min_allowed_weights: c16,
        max_weights_limit: c16,
        weights_version: c64,
        weights_rate_limit: c64,
        activity_cutoff: c64,
        max_validators: Compact(64),
        num_uids: Compact(spec.neurons.len() as u16),
        max_uids: Compact(256),
        burn: tao,
        difficulty: c64,
        registration_allowed: true,
        pow_registration_allowed: false,
        immunity_period: c16,
        min_difficulty: c64,
        max_difficulty: c64,
        min_burn: tao,
        max_burn: tao,
        adjustment_alpha: c64,
        adjustment_interval: c16,
        target_regs_per_interval: c16,
        max_regs_per_block: c16,
        serving_rate_limit: c64,
        commit_reveal_weights_enabled: false,
        commit_reveal_period: c64,
        liquid_alpha_enabled: false,
        alpha_high: c16,
        alpha_low: c16,
        bonds_moving_avg: c64,
        hotkeys: spec.neurons.iter().map(|n| account(n.hotkey)).collect(),
        coldkeys: per_uid(spec, account([0xcc; 32])),
        identities: per_uid(spec, None),
        axons: spec
            .neurons
            .iter()
            .map(|n| AxonInfo { ip: n.ip, port: n.port, ip_type: n.ip_type, ..Default::default() })
            .collect(),
        active: per_uid(spec, true),
        validator_permit: spec.neurons.iter().map(|n| n.validator_trust > 0).collect(),
        pruning_score: per_uid(spec, c16),
        last_update: per_uid(spec, c64),
        emission: per_uid(spec, alpha),
        dividends: per_uid(spec, c16),
        incentives: per_uid(spec, c16),
        consensus: per_uid(spec, c16),
        trust: per_uid(spec, c16),
        rank: per_uid(spec, c16),
        block_at_registration: per_uid(spec, c64),
        alpha_stake: per_uid(spec, alpha),
        tao_stake: per_uid(spec, tao),
        total_stake: total_stakes(spec),
        tao_dividends_per_hotkey: vec![],
        alpha_dividends_per_hotkey: vec![],
    }
}

/// Metadata V15 with the runtime APIs this spec offers, as `Vec<u8>` of the prefixed form.
fn metadata(spec: &ChainSpec) -> Vec<u8> {
    let netuid_param = || vec![RuntimeApiMethodParamMetadata { name: "netuid", ty: meta_type::<NetUid>() }];
    let neuron_api = RuntimeApiMetadata {
        name: "NeuronInfoRuntimeApi",
        methods: vec![RuntimeApiMethodMetadata {
            name: "get_neurons_lite",
            inputs: netuid_param(),
            output: meta_type::<Vec<NeuronInfoLite<AccountId32>>>(),
            docs: vec![],
        }],
        docs: vec![],
    };
    let mut subnet_methods = vec![];
    if spec.has_subnet_state {
        subnet_methods.push(RuntimeApiMethodMetadata {
            name: "get_subnet_state",
            inputs: netuid_param(),
            output: meta_type::<Option<SubnetState<AccountId32>>>(),
            docs: vec![],
        });
    }
    if spec.has_metagraph {
        subnet_methods.push(RuntimeApiMethodMetadata {
            name: "get_metagraph",
            inputs: netuid_param(),
            output: meta_type::<Option<Metagraph<AccountId32>>>(),
            docs: vec![],
        });
    }
    let subnet_api = RuntimeApiMetadata { name: "SubnetInfoRuntimeApi", methods: subnet_methods, docs: vec![] };
    let metadata = RuntimeMetadataV15::new(
        vec![],
        ExtrinsicMetadata {
            version: 4,
            address_ty: meta_type::<()>(),
            call_ty: meta_type::<()>(),
            signature_ty: meta_type::<()>(),
            extra_ty: meta_type::<()>(),
            signed_extensions: vec![],
        },
        meta_type::<()>(),
        vec![neuron_api, subnet_api],
        OuterEnums {
            call_enum_ty: meta_type::<()>(),
            event_enum_ty: meta_type::<()>(),
            error_enum_ty: meta_type::<()>(),
        },
        CustomMetadata { map: Default::default() },
    );
    RuntimeMetadataPrefixed::from(metadata).encode()
}
