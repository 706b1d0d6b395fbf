//! GitHub misbehaving: 5xx, rate limits with reset headers, silence, garbage. The PAT is
//! never called invalid for GitHub's own trouble, and nothing hangs or panics.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use gittensor_miner_agent::github::{GitHub, PatVerdict};
use gittensor_miner_agent::secrets::Pat;

/// Serves every connection with `respond(request_line)` (raw HTTP), or holds it open
/// without answering when `respond` returns `None`.
fn server(respond: impl Fn(&str) -> Option<String> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = request.lines().next().unwrap_or_default().to_owned();
            match respond(&line) {
                Some(reply) => {
                    let _ = stream.write_all(reply.as_bytes());
                }
                None => {
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(30));
                        drop(stream);
                    });
                }
            }
        }
    });
    url
}

fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

fn pat() -> Pat {
    Pat::new("ghp_HostileTestToken_0000").unwrap()
}

fn validate(url: &str, timeout: Duration) -> PatVerdict {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(GitHub::with_timeout(url, timeout).unwrap().validate(&pat()))
}

#[test]
fn server_errors_are_unavailable_not_a_verdict_on_the_pat() {
    for status in ["500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable"] {
        let url = server(move |_| Some(reply(status, &[], "{\"message\":\"oops\"}")));
        assert!(
            matches!(validate(&url, Duration::from_secs(5)), PatVerdict::Unavailable { retry_after_secs: None, .. }),
            "{status}"
        );
    }
}

#[test]
fn rate_limits_are_unavailable_and_say_when_to_come_back() {
    let url = server(|_| Some(reply("429 Too Many Requests", &[("Retry-After", "120")], "{}")));
    match validate(&url, Duration::from_secs(5)) {
        PatVerdict::Unavailable { retry_after_secs, reason } => {
            assert_eq!(retry_after_secs, Some(120));
            assert!(reason.contains("rate limited"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let url = server(move |_| {
        Some(reply(
            "403 Forbidden",
            &[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", &reset.to_string())],
            "{\"message\":\"API rate limit exceeded\"}",
        ))
    });
    match validate(&url, Duration::from_secs(5)) {
        PatVerdict::Unavailable { retry_after_secs: Some(secs), .. } => assert!((590..=600).contains(&secs), "{secs}"),
        other => panic!("a rate-limited 403 is not a rejected PAT: {other:?}"),
    }
}

#[test]
fn a_plain_403_or_401_is_a_verdict_on_the_pat() {
    let url = server(|_| Some(reply("401 Unauthorized", &[], "{\"message\":\"Bad credentials\"}")));
    assert!(matches!(validate(&url, Duration::from_secs(5)), PatVerdict::Rejected { .. }));
    let url = server(|_| Some(reply("403 Forbidden", &[("X-RateLimit-Remaining", "4999")], "{}")));
    assert!(matches!(validate(&url, Duration::from_secs(5)), PatVerdict::Rejected { .. }));
}

#[test]
fn a_silent_github_times_out() {
    let url = server(|_| None);
    let started = Instant::now();
    let verdict = validate(&url, Duration::from_millis(700));
    assert!(matches!(verdict, PatVerdict::Unavailable { .. }), "{verdict:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn garbage_and_oversized_answers_are_unavailable() {
    let url = server(|_| Some(reply("200 OK", &[], "this is not json")));
    assert!(matches!(validate(&url, Duration::from_secs(5)), PatVerdict::Unavailable { .. }));
    let huge = "x".repeat(2 * 1024 * 1024);
    let url = server(move |_| Some(reply("200 OK", &[], &huge)));
    assert!(matches!(validate(&url, Duration::from_secs(5)), PatVerdict::Unavailable { .. }));
}

#[test]
fn a_user_without_graphql_access_is_rejected_with_the_reason() {
    let url = server(|line| {
        if line.starts_with("GET /user") {
            Some(reply("200 OK", &[], "{\"login\":\"octo\",\"id\":7}"))
        } else {
            Some(reply("200 OK", &[], "{\"data\":{\"viewer\":null}}"))
        }
    });
    match validate(&url, Duration::from_secs(5)) {
        PatVerdict::Rejected { reason } => assert!(reason.contains("Public Repositories"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_graphql_error_echoing_the_authorization_header_is_masked_and_cut() {
    let url = server(|line| {
        if line.starts_with("GET /user") {
            Some(reply("200 OK", &[], "{\"login\":\"octo\",\"id\":7}"))
        } else {
            let message = format!("{} Bad credentials for Bearer ghp_HostileTestToken_0000", "x".repeat(5000));
            Some(reply("200 OK", &[], &serde_json::json!({"errors": [{"message": message}]}).to_string()))
        }
    });
    match validate(&url, Duration::from_secs(5)) {
        PatVerdict::Rejected { reason } => {
            assert!(!reason.contains("HostileTest") && !reason.contains("Token_0000"), "{reason}");
            assert!(reason.chars().count() < 500, "cut: {} characters", reason.chars().count());
        }
        other => panic!("{other:?}"),
    }
    // Within what is kept, the echo is masked.
    let url = server(|line| {
        if line.starts_with("GET /user") {
            Some(reply("200 OK", &[], "{\"login\":\"octo\",\"id\":7}"))
        } else {
            Some(reply(
                "200 OK",
                &[],
                "{\"errors\":[{\"message\":\"Bad credentials: Bearer ghp_HostileTestToken_0000\"}]}",
            ))
        }
    });
    match validate(&url, Duration::from_secs(5)) {
        PatVerdict::Rejected { reason } => {
            assert_eq!(reason, "GitHub GraphQL error: Bad credentials: Bearer ***0000")
        }
        other => panic!("{other:?}"),
    }
}
