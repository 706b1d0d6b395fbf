//! The optional metrics listener: `GET /metrics` answered with the latest exposition
//! ([`super::metrics`]), nothing else. Off by default; loopback unless the operator says
//! otherwise (`metrics.listen`, `metrics.listen_beyond_loopback`).
//!
//! A scrape never reaches the daemon's loop: the loop publishes each new text into a
//! `watch` channel and this task answers from it. Every connection has a deadline, a cap on
//! what it may send, and a place among a bounded number of connections; a slow or hostile
//! client costs one of those places for a few seconds at most.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// How long one connection may take, request and answer included.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);
/// The most a request may send before its headers end.
const REQUEST_CAP: usize = 8 * 1024;
/// Scrapers served at once; more wait in the kernel's accept queue.
const CONNECTIONS: usize = 8;

pub struct MetricsListener {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves `text` until dropped.
pub async fn serve(addr: SocketAddr, text: watch::Receiver<String>) -> std::io::Result<MetricsListener> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::debug!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let text = text.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer(stream, text)).await;
                drop(permit);
            });
        }
    });
    Ok(MetricsListener { addr, task })
}

async fn answer(mut stream: TcpStream, text: watch::Receiver<String>) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
        if request.len() > REQUEST_CAP {
            return respond(&mut stream, "431 Request Header Fields Too Large", "text/plain", "request too large\n")
                .await;
        }
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => {
            let body = text.borrow().clone();
            let body = if method == b"HEAD" { String::new() } else { body };
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body).await
        }
        (b"GET", b"/") => {
            respond(&mut stream, "200 OK", "text/plain; charset=utf-8", "gittensor-miner-agent: metrics at /metrics\n")
                .await
        }
        (b"GET" | b"HEAD", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found: try /metrics\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "only GET /metrics\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn serves_the_latest_text_and_nothing_else() {
        let (tx, rx) = watch::channel("a 1\n".to_owned());
        let listener = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        let answer = get(listener.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("\r\n\r\na 1\n"), "{answer}");
        tx.send("a 2\n".into()).unwrap();
        assert!(get(listener.addr, b"GET /metrics HTTP/1.0\r\n\r\n").await.ends_with("a 2\n"));
        assert!(get(listener.addr, b"GET /secret HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 404"));
        assert!(get(listener.addr, b"POST /metrics HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 405"));
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(20_000));
        assert!(get(listener.addr, huge.as_bytes()).await.starts_with("HTTP/1.1 431"));
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_request_does_not_block_others() {
        let (_tx, rx) = watch::channel("a 1\n".to_owned());
        let listener = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        let mut stalled = Vec::new();
        for _ in 0..CONNECTIONS - 1 {
            let mut s = TcpStream::connect(listener.addr).await.unwrap();
            s.write_all(b"GET /metr").await.unwrap();
            stalled.push(s);
        }
        let answer = tokio::time::timeout(Duration::from_secs(2), get(listener.addr, b"GET /metrics HTTP/1.1\r\n\r\n"))
            .await
            .expect("a scrape waited behind stalled clients");
        assert!(answer.ends_with("a 1\n"));
    }
}
