//! APNs gateway throughput against the loopback mock: 50,000 notifications with 1, 2 and 4
//! connections, in notifications/s and client CPU per notification; then h2load (nghttp2)
//! against the same mock with the same body and headers, as the ceiling.
//!
//! `cargo bench -p beams-push --bench apns` (set `APNS_BENCH_N` to change the count). The mock
//! runs in a child process, so this process's CPU time is the client's alone.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use beams_core::{Batch, DeliveryOutcome, PushGateway};
use beams_push::Transport;
use beams_push::apns::{ApnsEndpoint, ApnsGateway};
use beams_test_support::apns_mock::{
    KEY_ID, MockApns, MockOptions, TEAM_ID, TOPIC, TestKey, batch, payload,
};
use futures_util::StreamExt;
use serde_json::json;

const CHILD_ENV: &str = "BEAMS_APNS_BENCH_MOCK";
/// Deliveries per `send` call and calls in flight, the engine's shape scaled up.
const BATCH: usize = 500;
const CALLS_IN_FLIGHT: usize = 16;

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        run_mock();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("APNS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 50_000 } else { 2_000 });

    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mock process");
    let mut lines = BufReader::new(child.stdout.take().expect("mock stdout")).lines();
    let addr = lines.next().expect("mock address").expect("utf-8");
    let mut pem = String::new();
    for line in lines.by_ref() {
        let line = line.expect("utf-8");
        pem.push_str(&line);
        pem.push('\n');
        if line.starts_with("-----END") {
            break;
        }
    }
    let body = json!({"aps": {"alert": {"title": "Hello", "body": "A notification from beams"}}});

    println!("APNs gateway → loopback mock at {addr}, {n} notifications per run");
    println!(
        "{:>11} {:>14} {:>16} {:>14}",
        "connections", "notifications/s", "client CPU µs/n", "mock CPU µs/n"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut ours = Vec::new();
    for connections in [1, 2, 4] {
        let rate = runtime.block_on(run_gateway(&addr, &pem, &body, connections, n, child.id()));
        ours.push((connections, rate));
    }

    match benching && h2load_available() {
        false if !benching => {}
        false => println!("h2load not found (apt-get install nghttp2-client): no ceiling measured"),
        true => {
            println!();
            println!(
                "h2load against the same mock, same body and headers (-m 1000 streams/connection)"
            );
            println!(
                "{:>11} {:>14} {:>10}",
                "connections", "requests/s", "ours/h2load"
            );
            for (connections, rate) in &ours {
                let ceiling = run_h2load(&addr, &pem, &body, *connections, n);
                match ceiling {
                    Some(ceiling) => {
                        println!("{connections:>11} {ceiling:>14.0} {:>10.2}", rate / ceiling)
                    }
                    None => println!("{connections:>11} {:>14}", "h2load failed"),
                }
            }
        }
    }
    drop(child.stdin.take());
    let _ = child.wait();
}

async fn run_gateway(
    addr: &str,
    pem: &str,
    body: &serde_json::Value,
    connections: usize,
    n: usize,
    mock_pid: u32,
) -> f64 {
    let gateway = ApnsGateway::builder(pem, KEY_ID, TEAM_ID, TOPIC)
        .endpoint(ApnsEndpoint::custom(
            format!("http://{addr}"),
            Transport::PlainText,
        ))
        .pool_size(connections)
        .build()
        .expect("a gateway");
    let gateway = Arc::new(gateway);
    let message = payload(body.clone());
    let batches: Vec<Batch> = (1..=n)
        .step_by(BATCH)
        .map(|first| batch(first..(first + BATCH).min(n + 1), &message))
        .collect();
    // Warm up: open and confirm every connection.
    send_all(&gateway, &batches[..n.min(5_000).div_ceil(BATCH)]).await;

    let (cpu_before, mock_before) = (cpu_ticks("self"), cpu_ticks(&mock_pid.to_string()));
    let started = Instant::now();
    let delivered = send_all(&gateway, &batches).await;
    let elapsed = started.elapsed();
    let (cpu, mock_cpu) = (
        cpu_ticks("self") - cpu_before,
        cpu_ticks(&mock_pid.to_string()) - mock_before,
    );
    assert_eq!(delivered, n, "every notification delivered");
    let rate = n as f64 / elapsed.as_secs_f64();
    // /proc counts CPU time in clock ticks of 10 ms.
    let per = |ticks: u64| ticks as f64 * 10_000.0 / n as f64;
    println!(
        "{connections:>11} {rate:>14.0} {:>16.1} {:>14.1}",
        per(cpu),
        per(mock_cpu)
    );
    rate
}

/// Sends `batches` (of `BATCH` each), `CALLS_IN_FLIGHT` calls at once; counts the delivered.
async fn send_all(gateway: &Arc<ApnsGateway>, batches: &[Batch]) -> usize {
    futures_util::stream::iter(batches)
        .map(|batch| {
            let gateway = gateway.clone();
            async move { gateway.send(batch).await }
        })
        .buffer_unordered(CALLS_IN_FLIGHT)
        .map(|outcomes| {
            outcomes
                .iter()
                .filter(|o| **o == DeliveryOutcome::Delivered)
                .count()
        })
        .fold(0, |sum, n| async move { sum + n })
        .await
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, after_name)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let fields: Vec<&str> = after_name.split(' ').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    field(11) + field(12)
}

fn h2load_available() -> bool {
    Command::new("h2load")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// h2load's requests/s for `n` requests over `connections` connections.
fn run_h2load(
    addr: &str,
    pem: &str,
    body: &serde_json::Value,
    connections: usize,
    n: usize,
) -> Option<f64> {
    let dir = std::env::temp_dir().join(format!("beams-apns-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let body_path = dir.join("body.json");
    std::fs::write(&body_path, serde_json::to_vec(body).ok()?).ok()?;
    let jwt = provider_jwt(pem)?;
    let output = Command::new("h2load")
        .args([
            "-n",
            &n.to_string(),
            "-c",
            &connections.to_string(),
            "-m",
            "1000",
        ])
        .arg("-d")
        .arg(&body_path)
        .args(["-H", &format!("authorization: bearer {jwt}")])
        .args(["-H", &format!("apns-topic: {TOPIC}")])
        .args(["-H", "apns-push-type: alert"])
        .args(["-H", "apns-priority: 10"])
        .args(["-H", "apns-expiration: 0"])
        .args(["-H", "content-type: application/json"])
        .arg(format!("http://{addr}/3/device/{:064x}", 1))
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout);
    // "finished in 1.23s, 40650.41 req/s, 1.23MB/s" and "requests: … 50000 succeeded"
    let rate = text
        .lines()
        .find(|l| l.starts_with("finished in"))?
        .split(", ")
        .nth(1)?
        .strip_suffix(" req/s")?
        .parse()
        .ok()?;
    if !text.contains(&format!("{n} succeeded")) {
        eprintln!("h2load did not succeed:\n{text}");
        return None;
    }
    Some(rate)
}

/// A provider token for h2load, signed like the gateway's.
fn provider_jwt(pem: &str) -> Option<String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = None;
    header.kid = Some(KEY_ID.to_owned());
    let iat = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let claims = json!({"iss": TEAM_ID, "iat": iat});
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).ok()?;
    jsonwebtoken::encode(&header, &claims, &key).ok()
}

/// The child: serve the mock until the parent closes stdin.
fn run_mock() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let key = TestKey::generate();
        let mock = MockApns::start(
            &key,
            MockOptions {
                max_concurrent_streams: Some(1000),
                allow_token_churn: true,
                ..MockOptions::default()
            },
        )
        .await;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", mock.addr).expect("stdout");
        write!(stdout, "{}", key.pem).expect("stdout");
        stdout.flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .is_ok_and(|read| read > 0)
            {}
        })
        .await
        .expect("stdin watcher");
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(mock);
    });
}
