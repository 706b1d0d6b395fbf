//! The optional metrics listener: `GET /metrics` answered with the latest exposition
//! ([`super::metrics`]), nothing else. Off by default; loopback unless the operator says
//! otherwise (`metrics.listen`, `metrics.listen_beyond_loopback`).
//!
//! A scrape never reaches the daemon's loop: the loop publishes each new text into a
//! `watch` channel and this task answers from it. Every connection has a deadline, a cap on
//! what it may send, and a place among a bounded number of connections; a slow or hostile
//! client costs one of those places for a few seconds at most.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How long one connection may take, request and answer included.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);
/// The most a request may send before its headers end (hyper's smallest read buffer): more
/// is answered 431 by hyper.
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
                // One request per connection (a scrape every few seconds needs no more), read
                // into a buffer no larger than the cap.
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .max_buf_size(REQUEST_CAP)
                    .serve_connection(
                        TokioIo::new(stream),
                        hyper::service::service_fn(move |request| {
                            let text = text.clone();
                            async move { Ok::<_, Infallible>(answer(&request, &text)) }
                        }),
                    );
                let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
                drop(permit);
            });
        }
    });
    Ok(MetricsListener { addr, task })
}

/// `GET /metrics` (and `HEAD`, whose body hyper leaves out), a pointer at `/`, and nothing else.
fn answer<B>(request: &Request<B>, text: &watch::Receiver<String>) -> Response<Full<Bytes>> {
    let (method, path) = (request.method(), request.uri().path());
    let reading = method == Method::GET || method == Method::HEAD;
    match path {
        "/metrics" if reading => {
            respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text.borrow().clone())
        }
        "/" if method == Method::GET => {
            respond(StatusCode::OK, "text/plain; charset=utf-8", "gittensor-miner-agent: metrics at /metrics\n".into())
        }
        _ if reading => respond(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics\n".into()),
        _ => respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET /metrics\n".into()),
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

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
        let head = get(listener.addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200") && head.contains("content-length: 4") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(20_000));
        assert!(get(listener.addr, huge.as_bytes()).await.starts_with("HTTP/1.1 431"));
        // One request per connection.
        let two = get(listener.addr, b"GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n").await;
        assert_eq!(two.matches("HTTP/1.1 200").count(), 1, "{two}");
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
