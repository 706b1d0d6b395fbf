//! The chain reader against a fake subtensor node (tests/common/fake_chain.rs), offline.

mod common;

use std::time::{Duration, Instant};

use common::fake_chain::{ChainSpec, FakeChain, FakeNeuron};
use common::*;
use gittensor_miner_agent::chain::eligibility::Addresses;
use gittensor_miner_agent::chain::{self, ChainError, ChainReader};
use serde_json::json;
use subxt::utils::AccountId32;

const NETUID: u16 = 74;

fn key(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn ss58(bytes: [u8; 32]) -> String {
    AccountId32(bytes).to_string()
}

fn reader(endpoints: Vec<String>) -> ChainReader {
    ChainReader::new(endpoints, Duration::from_secs(2), Duration::from_secs(3))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// uid 0 our miner; 1 vtrust exactly 0.25; 2 stake exactly 15 000 α; 3 stake just below;
/// 4 no axon; 5 an IPv6 validator.
fn boundary_neurons() -> Vec<FakeNeuron> {
    let mut ipv6 = FakeNeuron::validator(5, key(5), 8095, 0.9, 50_000);
    ipv6.ip = 1; // ::1
    ipv6.ip_type = 6;
    let mut no_axon = FakeNeuron::validator(4, key(4), 8094, 0.9, 50_000);
    no_axon.ip = 0;
    vec![
        FakeNeuron::miner(0, key(0xaa)),
        FakeNeuron { validator_trust: 16384, ..FakeNeuron::validator(1, key(1), 8091, 0.0, 50_000) }, // 16384/65535 = 0.25001
        FakeNeuron::validator(2, key(2), 8092, 0.9, 15_000),
        FakeNeuron { total_stake: 14_999_000_000_000, ..FakeNeuron::validator(3, key(3), 8093, 0.9, 0) },
        no_axon,
        ipv6,
    ]
}

#[test]
fn neurons_decode_through_the_served_metadata_and_the_rule_applies() {
    let node = FakeChain::start(ChainSpec::new(NETUID, boundary_neurons()));
    let snapshot = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap();
    assert_eq!(snapshot.stake_source, "SubnetInfoRuntimeApi.get_subnet_state");
    assert_eq!(snapshot.block, 100);
    let by_uid = |uid: u16| snapshot.neurons.iter().find(|n| n.uid == uid).unwrap();
    assert_eq!(by_uid(0).hotkey, ss58(key(0xaa)));
    assert_eq!(by_uid(2).total_stake, 15_000.0);
    assert!((by_uid(1).validator_trust - 16384.0 / 65535.0).abs() < 1e-12);
    assert_eq!(by_uid(5).axon, Some(("::1".parse().unwrap(), 8095)));
    assert_eq!(by_uid(4).axon, None);

    let set = chain::select(&snapshot.neurons, 0.25, 15_000.0, Addresses::Any);
    let eligible: Vec<u16> = set.eligible.iter().map(|t| t.uid).collect();
    assert_eq!(eligible, [1, 2, 5]);
    let skipped: Vec<(u16, String)> = set.skipped.iter().map(|s| (s.uid, s.reasons.join("; "))).collect();
    assert_eq!(
        skipped,
        [(3, "stake 14,999 α below 15,000 α threshold".to_owned()), (4, "not serving an axon".to_owned())]
    );
}

#[test]
fn vtrust_of_exactly_a_quarter_is_not_a_validator() {
    // 0.25 itself cannot be encoded in a u16 fraction; a threshold equal to a uid's vtrust is.
    let node = FakeChain::start(ChainSpec::new(NETUID, boundary_neurons()));
    let snapshot = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap();
    let exactly = snapshot.neurons.iter().find(|n| n.uid == 1).unwrap().validator_trust;
    let set = chain::select(&snapshot.neurons, exactly, 15_000.0, Addresses::Any);
    assert!(set.eligible.iter().all(|t| t.uid != 1));
    assert!(set.skipped.iter().all(|s| s.uid != 1));
}

#[test]
fn a_missing_subnet_state_call_falls_back_to_the_metagraph() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.has_subnet_state = false;
    let node = FakeChain::start(spec);
    let snapshot = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap();
    assert_eq!(snapshot.stake_source, "SubnetInfoRuntimeApi.get_metagraph");
    assert_eq!(snapshot.neurons.iter().find(|n| n.uid == 2).unwrap().total_stake, 15_000.0);
    assert!(node.calls().contains(&"SubnetInfoRuntimeApi_get_metagraph".to_owned()));
    assert!(!node.calls().contains(&"SubnetInfoRuntimeApi_get_subnet_state".to_owned()));
}

#[test]
fn a_node_without_the_neurons_api_is_a_clear_error() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.has_subnet_state = false;
    spec.has_metagraph = false;
    let node = FakeChain::start(spec);
    let err = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap_err().to_string();
    assert!(err.contains("SubnetInfoRuntimeApi") && err.contains("is it a subtensor node"), "{err}");
}

#[test]
fn the_first_endpoint_down_means_the_second_is_used() {
    let node = FakeChain::start(ChainSpec::new(NETUID, boundary_neurons()));
    let dead = "ws://127.0.0.1:1".to_owned();
    let snapshot = runtime().block_on(reader(vec![dead, node.url.clone()]).read(NETUID)).unwrap();
    assert_eq!(snapshot.endpoint, node.url);
}

#[test]
fn a_connection_dropped_mid_call_is_retried() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.faults.drop_neurons_call = 1;
    let node = FakeChain::start(spec);
    let snapshot = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap();
    assert_eq!(snapshot.neurons.len(), 6);
    let neuron_calls = node.calls().iter().filter(|c| *c == "NeuronInfoRuntimeApi_get_neurons_lite").count();
    assert!(neuron_calls >= 2, "{:?}", node.calls());
}

#[test]
fn garbage_from_the_node_is_a_clear_error_not_a_crash() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.faults.garbage_neurons = true;
    let node = FakeChain::start(spec);
    let err = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap_err();
    assert!(matches!(err, ChainError::AllFailed(_)));
    let text = err.to_string();
    assert!(text.contains(&node.url) && text.contains("get_neurons_lite"), "{text}");
    assert!(text.contains("does not match its own metadata"), "our words, not only the decoder's: {text}");
}

#[test]
fn duplicate_uids_are_refused_not_probed_twice() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.faults.repeat_neurons = 27;
    let node = FakeChain::start(spec);
    let err = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&node.url) && text.contains("uid 0 appears more than once"), "{text}");
}

#[test]
fn more_neurons_than_a_subnet_can_hold_are_refused() {
    let neurons: Vec<_> = (0..=4096u16).map(|uid| FakeNeuron::miner(uid, [(uid % 251) as u8; 32])).collect();
    let node = FakeChain::start(ChainSpec::new(NETUID, neurons));
    let err = runtime().block_on(reader(vec![node.url.clone()]).read(NETUID)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("4097 neurons, more than a subnet can hold (4096)"), "{text}");
}

#[test]
fn a_silent_node_times_out_instead_of_hanging() {
    let mut spec = ChainSpec::new(NETUID, boundary_neurons());
    spec.faults.silent = true;
    let node = FakeChain::start(spec);
    let started = Instant::now();
    let err = runtime()
        .block_on(
            ChainReader::new(vec![node.url.clone()], Duration::from_secs(1), Duration::from_millis(500)).read(NETUID),
        )
        .unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn an_unknown_subnet_is_named() {
    let node = FakeChain::start(ChainSpec::new(NETUID, boundary_neurons()));
    let err = runtime().block_on(reader(vec![node.url.clone()]).read(7)).unwrap_err();
    assert!(matches!(err, ChainError::NoSubnet { netuid: 7, .. }), "{err}");
}

// ---- End to end: fake chain + real axons + the binary ----------------------------------

/// The chain lists the emulated validators (and the miner) on subnet 74.
fn chain_for(emu: &Emulator, extra: Vec<FakeNeuron>) -> FakeChain {
    let mut neurons = emu.chain_neurons();
    neurons.extend(extra);
    FakeChain::start(ChainSpec::new(NETUID, neurons))
}

fn chain_config(emu: &Emulator, node: &FakeChain) -> String {
    emu.write_chain_config(&node.url, "chain_call_timeout_secs = 5").to_str().unwrap().to_owned()
}

#[test]
fn check_finds_the_validators_through_the_chain_end_to_end() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let low_stake = FakeNeuron::validator(3, key(9), 9, 0.8, 100);
    let node = chain_for(&emu, vec![low_stake]);
    let config = chain_config(&emu, &node);

    let out = agent(&["check", "--config", &config], &[]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("2/2 validators have a valid PAT stored."), "{stdout}");
    assert!(
        stdout.contains("Skipped Validators") && stdout.contains("stake 100 α below 15,000 α threshold"),
        "{stdout}"
    );

    let out = agent(&["check", "--config", &config, "--json"], &[]);
    let json = stdout_json(&out);
    assert_eq!(
        json["skipped"],
        // vtrust as bittensor's float32 metagraph holds 0.8 (52428 / 65535), as `gitt` prints it.
        json!([{"uid": 3, "vtrust": 0.800000011920929, "stake": 100.0, "reasons": ["stake 100 α below 15,000 α threshold"]}])
    );
    assert_eq!(
        json["results"].as_array().unwrap().iter().map(|r| r["uid"].as_u64().unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn post_through_the_chain_repairs_the_validator_that_lost_its_store() {
    let emu = Emulator::start(2);
    emu.preload(&[0]);
    let node = chain_for(&emu, vec![]);
    let config = chain_config(&emu, &node);
    let out = agent(&["post", "--config", &config], &[("GITTENSOR_MINER_PAT", PAT)]);
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(emu.counts("broadcasts"), [0, 1]);
}

/// The chain is anyone's to write. Axons advertised on the miner's own machine (loopback,
/// also as IPv4-mapped IPv6), in disguise as "not serving", on a cloud's metadata address or
/// any other address that is not public get nothing from a public network's agent: a local
/// user listening there would get the PAT. `network = "local"` allows them.
#[test]
fn a_public_network_sends_nothing_to_an_axon_that_is_not_public() {
    let emu = Emulator::start(1);
    let listener = SilentListener::start();
    let mapped = |v4: u32| (0xffffu128 << 32) | u128::from(v4);
    let v6 = |text: &str| u128::from(text.parse::<std::net::Ipv6Addr>().unwrap());
    let hostile: Vec<FakeNeuron> = [
        (mapped(0x7f00_0001), 6), // ::ffff:127.0.0.1, where `listener` waits
        (mapped(0), 6),           // ::ffff:0.0.0.0
        (0xa9fe_a9fe, 4),         // 169.254.169.254
        (0x0a00_0001, 4),         // 10.0.0.1
        (0x6440_0001, 4),         // 100.64.0.1
        (0xe000_0001, 4),         // 224.0.0.1
        (0xffff_ffff, 4),         // 255.255.255.255
        (0xc000_0201, 4),         // 192.0.2.1
        (v6("fd00::1"), 6),       // ULA
        (v6("fe80::1"), 6),       // link-local
        (1, 6),                   // ::1
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (ip, ip_type))| {
        let uid = emu.chain_neurons().len() as u16 + i as u16;
        FakeNeuron { ip, ip_type, ..FakeNeuron::validator(uid, key(10 + i as u8), listener.port, 0.9, 50_000) }
    })
    .collect();
    let node = chain_for(&emu, hostile);
    let public = emu.write_public_chain_config(&node.url, "chain_call_timeout_secs = 5").to_str().unwrap().to_owned();

    let out = agent(&["post", "--config", &public], &[("GITTENSOR_MINER_PAT", PAT)]);
    assert_ne!(code(&out), 0, "{}", all_output(&out));
    assert!(text(&out.stderr).contains("all 12 candidate(s) excluded"), "{}", all_output(&out));
    let out = agent(&["check", "--config", &public, "--json"], &[]);
    let reasons: Vec<(u64, String)> = stdout_json(&out)["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["uid"].as_u64().unwrap(), s["reasons"][0].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        "axon 127.0.0.1 is a loopback address", // the emulated validator
        "axon 127.0.0.1 is a loopback address", // ::ffff:127.0.0.1, canonical
        "not serving an axon",                  // ::ffff:0.0.0.0 is 0.0.0.0
        "axon 169.254.169.254 is a link-local address",
        "axon 10.0.0.1 is a private-network address",
        "axon 100.64.0.1 is a shared (carrier-grade NAT) address",
        "axon 224.0.0.1 is a multicast address",
        "axon 255.255.255.255 is the broadcast address",
        "axon 192.0.2.1 is a documentation address",
        "axon fd00::1 is a unique local (ULA) address",
        "axon fe80::1 is a link-local address",
        "axon ::1 is a loopback address",
    ];
    assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
    for ((uid, reason), (i, wanted)) in reasons.iter().zip(expected.iter().enumerate()) {
        assert_eq!(*uid, i as u64 + 1);
        assert!(reason.starts_with(wanted), "uid {uid}: {reason}");
        assert!(wanted.starts_with("not serving") || reason.ends_with("(network = \"local\" allows it)"), "{reason}");
    }
    assert_eq!(listener.accepted(), 0, "an axon on the miner's own machine was dialled");
    assert_eq!((emu.counts("checks"), emu.counts("broadcasts")), (vec![0], vec![0]));

    // A local development chain may put its validators anywhere.
    let local = emu.write_chain_config(&node.url, "check_timeout_secs = 1").to_str().unwrap().to_owned();
    let out = agent(&["check", "--config", &local, "--json"], &[]);
    assert_eq!(stdout_json(&out)["skipped"].as_array().map(Vec::len), Some(1), "{}", all_output(&out));
    assert_eq!(emu.counts("checks"), [1]);
    assert!(listener.accepted() >= 1, "::ffff:127.0.0.1 is 127.0.0.1 on a local chain");
}

#[test]
fn an_unregistered_miner_gets_a_clear_error_and_nothing_is_sent() {
    let emu = Emulator::start(1);
    let node = chain_for(&emu, vec![]);
    node.spec.lock().unwrap().neurons.remove(0); // the miner deregistered
    let config = chain_config(&emu, &node);
    let out = agent(&["post", "--config", &config], &[("GITTENSOR_MINER_PAT", PAT)]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("is not registered on subnet 74") && err.contains(emu.info["miner"]["ss58"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(emu.counts("checks"), [0]);
    assert_eq!(emu.counts("broadcasts"), [0]);
}

#[test]
fn an_unreachable_chain_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("hotkey");
    std::fs::write(&keyfile, format!(r#"{{"secretSeed":"0x{}"}}"#, "11".repeat(32))).unwrap();
    let out = agent(&["check", "--rpc-url", "ws://127.0.0.1:1", "--hotkey-file", keyfile.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(err.contains("every chain endpoint failed") && err.contains("ws://127.0.0.1:1"), "{err}");
    assert!(!err.contains("panicked"));
    // Said once (both passes failed alike), without subxt's repeated wrapping.
    assert_eq!(err.matches("cannot connect to the chain at ws://127.0.0.1:1").count(), 1, "{err}");
    assert!(err.contains("(2 tries)") && !err.contains("client error: RPC error"), "{err}");
}

// ---- A node that serves only V14 metadata ----------------------------------------------

#[derive(scale_info::TypeInfo)]
#[allow(dead_code)]
enum RuntimeCall {
    Noop,
}

#[derive(scale_info::TypeInfo)]
#[allow(dead_code)]
enum RuntimeEvent {
    Noop,
}

#[derive(scale_info::TypeInfo)]
struct UncheckedExtrinsic<Address, Call, Signature, Extra>(std::marker::PhantomData<(Address, Call, Signature, Extra)>);

/// `Metadata_metadata`'s answer on a node of before V15: V14 metadata, which describes no
/// runtime APIs (an opaque `Vec<u8>` of the prefixed metadata).
fn v14_metadata() -> Vec<u8> {
    use frame_metadata::v14::{ExtrinsicMetadata, RuntimeMetadataV14};
    use parity_scale_codec::Encode;
    use scale_info::meta_type;
    let metadata = RuntimeMetadataV14::new(
        vec![],
        ExtrinsicMetadata {
            ty: meta_type::<UncheckedExtrinsic<(), RuntimeCall, (), ()>>(),
            version: 4,
            signed_extensions: vec![],
        },
        meta_type::<(RuntimeCall, RuntimeEvent)>(),
    );
    frame_metadata::RuntimeMetadataPrefixed::from(metadata).encode().encode()
}

/// A proxy in front of the fake node that does not answer `Metadata_metadata_versions` and
/// serves V14 metadata from `Metadata_metadata`: subxt then falls back to V14.
fn v14_only_proxy(upstream: String) -> String {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(stream).await else { return };
                    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await else { return };
                    let (mut to_client, mut from_client) = client.split();
                    let (mut to_server, mut from_server) = server.split();
                    let (out, mut outbox) = tokio::sync::mpsc::unbounded_channel::<Message>();
                    let relay = out.clone();
                    tokio::spawn(async move {
                        while let Some(Ok(message)) = from_server.next().await {
                            if relay.send(message).is_err() {
                                return;
                            }
                        }
                    });
                    tokio::spawn(async move {
                        while let Some(message) = outbox.recv().await {
                            if to_client.send(message).await.is_err() {
                                return;
                            }
                        }
                    });
                    while let Some(Ok(Message::Text(text))) = from_client.next().await {
                        let request: serde_json::Value = serde_json::from_str(&text).unwrap();
                        let id = request["id"].clone();
                        let own = match (request["method"].as_str(), request["params"][0].as_str()) {
                            (Some("state_call"), Some("Metadata_metadata_versions")) => Some(
                                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "Exported method Metadata_metadata_versions is not found"}}),
                            ),
                            (Some("state_call"), Some("Metadata_metadata")) => Some(
                                json!({"jsonrpc": "2.0", "id": id, "result": format!("0x{}", hex::encode(v14_metadata()))}),
                            ),
                            _ => None,
                        };
                        let sent = match own {
                            Some(reply) => out.send(Message::Text(reply.to_string().into())).is_ok(),
                            None => to_server.send(Message::Text(text)).await.is_ok(),
                        };
                        if !sent {
                            return;
                        }
                    }
                });
            }
        });
    });
    format!("ws://127.0.0.1:{}", rx.recv().unwrap())
}

#[test]
fn a_node_serving_only_v14_metadata_is_named_as_such() {
    let node = FakeChain::start(ChainSpec::new(NETUID, boundary_neurons()));
    let proxy = v14_only_proxy(node.url.clone());
    let err = runtime().block_on(reader(vec![proxy]).read(NETUID)).unwrap_err().to_string();
    assert!(err.contains("metadata could not be read at V15"), "{err}");
    assert!(!err.contains("offers no NeuronInfoRuntimeApi"), "not the misleading message: {err}");
}
