//! Hostile peers on validators' endpoints, next to honest ones: `check` stays within its
//! timeouts and memory cap, classifies each misbehaviour, and still serves the honest
//! validators.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// One misbehaving "validator" per mode, on its own port.
fn hostile(mode: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = stream.read(&mut buf);
                let head = |status: &str, extra: &str| {
                    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\r\n")
                };
                match mode {
                    "hang" => std::thread::sleep(Duration::from_secs(60)),
                    "trickle" => {
                        let _ = stream.write_all(head("200 OK", "Content-Length: 1000\r\n").as_bytes());
                        for _ in 0..1000 {
                            if stream.write_all(b" ").is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    "huge" => {
                        let _ = stream.write_all(head("200 OK", "Content-Length: 52428800\r\n").as_bytes());
                        let chunk = vec![b'{'; 1 << 16];
                        for _ in 0..800 {
                            if stream.write_all(&chunk).is_err() {
                                break;
                            }
                        }
                    }
                    "not-json" => {
                        let _ = stream.write_all(
                            format!("{}<html>hello</html>", head("200 OK", "Content-Length: 18\r\n")).as_bytes(),
                        );
                    }
                    "wrong-shape" => {
                        let body = r#"{"has_pat":"yes","pat_valid":[1,2]}"#;
                        let _ = stream.write_all(
                            format!("{}{body}", head("200 OK", &format!("Content-Length: {}\r\n", body.len())))
                                .as_bytes(),
                        );
                    }
                    "bad-utf8-headers" => {
                        let body = r#"{"has_pat":true,"pat_valid":true}"#;
                        let mut reply = head("200 OK", &format!("Content-Length: {}\r\n", body.len())).into_bytes();
                        reply.truncate(reply.len() - 2);
                        reply.extend_from_slice(
                            b"bt_header_axon_uuid: \xff\xfe\xfd\r\nbt_header_axon_signature: \xc3\x28\r\n\r\n",
                        );
                        reply.extend_from_slice(body.as_bytes());
                        let _ = stream.write_all(&reply);
                    }
                    "500" => {
                        let body = r#"{"message":"Internal Server Error"}"#;
                        let _ = stream.write_all(
                            format!(
                                "{}{body}",
                                head("500 Internal Server Error", &format!("Content-Length: {}\r\n", body.len()))
                            )
                            .as_bytes(),
                        );
                    }
                    "502" => {
                        let _ = stream.write_all(head("502 Bad Gateway", "Content-Length: 0\r\n").as_bytes());
                    }
                    "reset" => {
                        let _ = stream.write_all(head("200 OK", "Content-Length: 5000\r\n").as_bytes());
                        let _ = stream.write_all(b"{\"has_pat\": tr");
                        // Drop with unread data pending: the kernel sends a reset.
                    }
                    _ => unreachable!(),
                }
            });
        }
    });
    port
}

#[test]
fn hostile_endpoints_are_classified_and_the_honest_validators_still_served() {
    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    let modes = ["hang", "trickle", "huge", "not-json", "wrong-shape", "bad-utf8-headers", "500", "502", "reset"];
    // Hostile endpoints claim real-looking validator hotkeys (any SS58 will do).
    let fake_hotkey = emu.info["stranger"]["ss58"].as_str().unwrap();
    let mut extra = String::from("check_timeout_secs = 3\n");
    let mut validators = String::new();
    for (i, mode) in modes.iter().enumerate() {
        validators.push_str(&format!(
            "\n[[validators]]\nuid = {}\nhotkey = {fake_hotkey:?}\nip = \"127.0.0.1\"\nport = {}\n",
            100 + i,
            hostile(mode)
        ));
    }
    extra.push_str("# hostile ones follow the honest ones\n");
    let config = emu.write_config(&extra);
    let mut contents = std::fs::read_to_string(&config).unwrap();
    contents.push_str(&validators);
    std::fs::write(&config, contents).unwrap();

    let started = Instant::now();
    let out = agent(&["check", "--config", config.to_str().unwrap(), "--json"], &[]);
    let elapsed = started.elapsed();
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    assert!(elapsed < Duration::from_secs(8), "all probes run at once, each bounded by 3 s: took {elapsed:?}");
    assert!(!text(&out.stderr).contains("panicked"));
    let json = stdout_json(&out);
    let status = |uid: u64| -> String {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["uid"] == uid)
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!((status(0), status(1)), ("valid".into(), "valid".into()), "the honest validators are served");
    let expected = [
        ("hang", "no_response"),
        ("trickle", "no_response"),
        ("huge", "malformed"),
        ("not-json", "malformed"),
        ("wrong-shape", "malformed"),
        ("500", "no_response"),
        ("502", "no_response"),
        ("reset", "no_response"),
    ];
    for (mode, want) in expected {
        let i = modes.iter().position(|m| *m == mode).unwrap() as u64;
        assert_eq!(status(100 + i), want, "{mode}");
    }
    // Undecodable headers are ignored, not trusted and not fatal: the body decides.
    let i = modes.iter().position(|m| *m == "bad-utf8-headers").unwrap() as u64;
    let row = json["results"].as_array().unwrap().iter().find(|r| r["uid"] == 100 + i).unwrap();
    assert_eq!(row["status"], Value::from("valid"), "{row}");
}
