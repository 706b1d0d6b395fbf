//! Local parsers fed arbitrary input for a fixed number of cases (proptest): the config
//! file, the hotkey keyfile, the state file, and validators' answers. Errors are fine;
//! panics are not.

use std::path::Path;

use gittensor_miner_agent::daemon::state::StateFile;
use gittensor_miner_agent::scrub::SCAN_MAX_CHARS;
use gittensor_miner_agent::settings;
use gittensor_miner_agent::synapse::{classify_broadcast, classify_check};
use gittensor_miner_agent::transport::{Provenance, Reply};
use gittensor_miner_agent::wallet::Hotkey;
use proptest::prelude::*;

/// Arbitrary JSON values, nested a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("has_pat".to_owned()),
                    Just("pat_valid".to_owned()),
                    Just("accepted".to_owned()),
                    Just("rejection_reason".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// TOML-ish text: real keys and sections with arbitrary values, or plain noise.
fn config_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("network"),
        Just("rpc_url"),
        Just("netuid"),
        Just("wallet"),
        Just("hotkey"),
        Just("wallets_dir"),
        Just("min_vtrust"),
        Just("min_stake"),
        Just("check_timeout_secs"),
        Just("max_concurrency"),
        Just("github_api_url"),
    ];
    let value = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        "\"[ -~]{0,30}\"",
        Just("[]".to_owned()),
        Just("true".to_owned()),
        "[ -~]{0,20}",
    ];
    let line = prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        Just("[pat]".to_owned()),
        Just("[retry]".to_owned()),
        Just("[daemon]".to_owned()),
        Just("[[validators]]".to_owned()),
        "[ -~]{0,40}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn config_parsing_never_panics(text in config_text()) {
        let path = Path::new("/etc/gittensor-miner-agent/config.toml");
        if let Ok(file) = settings::parse(path, &text) {
            let _ = settings::resolve(Some(path.to_owned()), file, &Default::default(), &Default::default());
        }
    }

    #[test]
    fn keyfile_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), json in json_value()) {
        let dir = tempfile::tempdir().unwrap();
        for (i, content) in [bytes, json.to_string().into_bytes()].into_iter().enumerate() {
            let path = dir.path().join(format!("hotkey{i}"));
            std::fs::write(&path, content).unwrap();
            let _ = Hotkey::load(&path);
        }
    }

    #[test]
    fn state_file_loading_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), json in json_value()) {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        for content in [bytes, json.to_string().into_bytes()] {
            std::fs::write(file.path(), content).unwrap();
            let _ = file.load(1);
            let _ = file.read();
        }
    }

    #[test]
    fn any_answer_from_a_validator_is_classified_without_panicking(
        status in prop_oneof![Just(200u16), Just(401), Just(403), Just(404), Just(500), 100u16..600],
        body in prop::option::of(json_value()),
        message in prop::option::of(".{0,2000}"),
        uuid in prop::option::of("[ -~]{0,40}"),
    ) {
        let reply = Ok(Reply { http_status: status, message, body, axon_uuid: uuid, provenance: Provenance::Unsigned });
        let check = classify_check(&reply);
        let broadcast = classify_broadcast(&reply);
        // The classifier caps peer text at what masking scans; the cut to 400 characters comes
        // after masking (Core::scrub), so an echoed PAT near the cut cannot slip past it.
        prop_assert!(check.rejection_reason.as_ref().is_none_or(|r| r.chars().count() <= SCAN_MAX_CHARS));
        prop_assert!(broadcast.rejection_reason.as_ref().is_none_or(|r| r.chars().count() <= SCAN_MAX_CHARS));
    }
}
