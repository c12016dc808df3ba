//! Connections a slow or greedy client holds: closed by the header deadline and the idle
//! timeout, answered 408 past the request timeout, capped in number, and kept usable (or
//! closed with `Connection: close`) after an early refusal.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{INSTANCE, TestServer, connect, read_answer};

/// Every wait here is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

/// Reads until the peer closes (`true`) or `BOUND` passes (`false`); what was read is
/// returned too.
async fn read_until_closed(stream: &mut TcpStream) -> (bool, String) {
    let mut read = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (closed, String::from_utf8_lossy(&read).into_owned())
}

/// Writes an HTTP/1.1 JSON POST of `body` to `path`, with `headers` (each ending in CRLF).
async fn post_json(stream: &mut TcpStream, path: &str, headers: &str, body: &str) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let server = TestServer::start(&["--header-read-timeout", "1", "--idle-timeout", "2"]).await;
    let started = tokio::time::Instant::now();

    // Headers a byte at a time, slower than the deadline allows.
    let mut slow = connect(&server).await;
    let trickle = async {
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\n" {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(BOUND, trickle).await;
    let (closed, _) = read_until_closed(&mut slow).await;
    assert!(closed, "the slow connection is closed");

    // A connection that never sends a byte, and one idle after a request.
    let mut silent = connect(&server).await;
    let mut idle = connect(&server).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (closed, _) = read_until_closed(&mut silent).await;
    assert!(closed, "the silent connection is closed");
    let (closed, _) = read_until_closed(&mut idle).await;
    assert!(closed, "the idle connection is closed");
    assert!(started.elapsed() < BOUND);
    server.stop().await;
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_is_answered_408() {
    let server = TestServer::start(&["--request-timeout", "1"]).await;
    let mut stream = connect(&server).await;
    let path = format!("/device_api/v1/instances/{INSTANCE}/devices/fcm");
    stream
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{{\"tok"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"Request Timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "the unread body ends the connection: {answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_early_refusal_keeps_the_connection_usable_or_says_close() {
    let server = TestServer::start(&[]).await;
    let publish = format!("/publish_api/v1/instances/{INSTANCE}/publishes/users");
    let body = format!(
        "{{\"users\":[\"alice\"],\"web\":{{\"notification\":{{\"title\":\"{}\"}}}}}}",
        "x".repeat(20_000)
    );

    // Refused on the secret key before the body is read: the answer says close, and the
    // server closes.
    let mut stream = connect(&server).await;
    post_json(
        &mut stream,
        &publish,
        "Authorization: Bearer wrong\r\n",
        &body,
    )
    .await;
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let (closed, rest) = read_until_closed(&mut stream).await;
    assert!(closed && rest.is_empty(), "{rest}");

    // Refused after the body was read: the connection stays usable for the next request.
    let mut stream = connect(&server).await;
    let register = format!("/device_api/v1/instances/{INSTANCE}/devices/fcm");
    let bad = "{\"token\": \"not a token\"}";
    post_json(&mut stream, &register, "", bad).await;
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = TestServer::start(&["--max-connections", "2"]).await;
    let first = connect(&server).await;
    let _second = connect(&server).await;
    // Served in turn: give the server time to take the first two.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = connect(&server).await;
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0_u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "no answer while two connections are open");

    drop(first);
    let answer = read_answer(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}
