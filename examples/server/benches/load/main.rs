//! The server under load over HTTP, against its own engine on the same database in one run.
//!
//! The bench runs the `beams-server` binary of this build as a child process (default SQLite
//! store, a fresh data directory, `RUST_LOG=warn`, no per-client rate limits) and drives it
//! with h2load (Debian package `nghttp2-client`) over HTTP/1.1 keep-alive (`--h1`) and HTTP/2
//! in cleartext (prior knowledge), 16 requests in flight. For each protocol, in this order:
//!
//! - `engine (direct)`, the baseline: `Beams::associate_device` (token check included) in this
//!   process, on the server's database file opened a second time while the server is idle,
//!   with the server's policy, 16 tasks of one user each.
//! - `associate`: `PUT …/devices/fcm/{id}/user` with a Beams Token, every request a different
//!   device registered before the server started. h2load sends the same headers with every
//!   request and starts each client at the top of its URI list, so each connection is its own
//!   h2load process with its own user and its own slice of devices: HTTP/1.1 uses 16
//!   connections, HTTP/2 4 connections of 4 streams. Every user passes the default limit (100
//!   devices, evict the oldest) early, so most associations also evict, in the baseline too.
//! - `associate + slow`: the same again on other devices while 200 slow clients hold
//!   connections, half sending a request header one byte a second, half sending nothing; a
//!   slow client the server drops connects again.
//!
//! Then, for each protocol:
//!
//! - `register`: `POST …/devices/fcm` with one JSON body. h2load cannot vary a body, so after
//!   the first request every registration renews the same device (a write all the same).
//! - `publish`: `POST …/publishes/users` to 16 users with 100 FCM devices each. No FCM gateway
//!   is configured: a publish is answered at once and, in the background, looks up the users'
//!   devices and skips them, so this measures answering and lookups, not delivery. The bench
//!   waits for the server to go idle after each publish run and prints how long that took.
//!
//! Last, over HTTP/1.1 only, on the same 16 keep-alive connections one run after the other:
//!
//! - `GET /health`: the cheapest answer the server gives, the baseline;
//! - `report event`: `POST /reporting_api/v2/instances/{i}/events`, one Android-shaped
//!   delivery of a registered device for a publish the server made (h2load sends one body, so
//!   after the first every event is a repeat, as retries are), answered before it is recorded.
//!   The target: at least 0.5× the `/health` throughput.
//!
//! For each run: successful requests per second, p50 and p99 latency (from h2load's
//! per-request log), the server's CPU time per request (this process's for the baseline) and
//! its peak RSS during the run (`VmHWM`, reset before each run). Figures vary across machines,
//! so each row also has a ratio to a baseline measured just before it: the targets are
//! `associate` at least 0.5× the engine's throughput and the p99 beside slow clients within
//! 2× the p99 without. On a machine of few cores h2load takes its share of them, which the
//! throughput ratio counts against the server and the CPU ratio does not.
//!
//! Then, unless only the journal was asked for, the figures above are printed, and last comes
//! what the publish journal costs (see `journal.rs`): publish accepts with each store's journal
//! against the memory journal. `cargo bench -p beams-server --bench load -- journal` runs only
//! that part.
//!
//! Run with `cargo bench -p beams-server --bench load` (about four minutes on two cores).
//! Without `--bench` (as `cargo test --benches` runs it) it makes a small run; without h2load
//! on the `PATH` it says so and does nothing.

mod direct;
mod h2load;
mod journal;
mod measure;
mod server;
mod slow;

use std::process::Command;
use std::time::{Duration, Instant};

use beams_core::DeviceId;

use crate::direct::{direct_associations, register_devices};
use crate::h2load::Runs;
use crate::measure::{Measure, Row, mib, print_table};
use crate::server::{cpu_seconds, server_warnings, start_server, status_kib, wait_until_idle};
use crate::slow::SlowClients;

pub(crate) const INSTANCE: &str = "0b7a1e52-6c1d-4f0e-9a3b-2d4c6e8f0a1b";
pub(crate) const SECRET: &str = "load-bench-secret-key-0123456789abcdef0123";

/// Requests in flight at once in every run, and tasks in the direct baseline.
pub(crate) const CONCURRENCY: usize = 16;
/// HTTP/2 connections; each carries `CONCURRENCY / H2_CONNECTIONS` streams at once.
const H2_CONNECTIONS: usize = 4;
/// The default device limit, under the default policy (evict the oldest).
pub(crate) const DEVICE_LIMIT: usize = 100;
/// Every wait on the server or on h2load is bounded by this.
pub(crate) const LIMIT: Duration = Duration::from_secs(300);

/// How big a run is: `cargo bench` measures, `cargo test --benches` only checks it works.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// Devices associated in each association run.
    associations: usize,
    /// Requests in each register and publish run.
    requests: usize,
    /// Requests in each health and report run (each far cheaper).
    light_requests: usize,
    slow_clients: usize,
}

const BENCH: Size = Size {
    associations: 20_000,
    requests: 20_000,
    light_requests: 100_000,
    slow_clients: 200,
};

const SMOKE: Size = Size {
    associations: 800,
    requests: 400,
    light_requests: 400,
    slow_clients: 20,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }

    /// h2load's `-c` and `-m` for `CONCURRENCY` requests in flight.
    pub(crate) fn connections_and_streams(self) -> (usize, usize) {
        match self {
            Protocol::Http1 => (CONCURRENCY, 1),
            Protocol::Http2 => (H2_CONNECTIONS, CONCURRENCY / H2_CONNECTIONS),
        }
    }

    pub(crate) fn h2load_args(self) -> &'static [&'static str] {
        match self {
            Protocol::Http1 => &["--h1"],
            Protocol::Http2 => &[],
        }
    }
}

/// Which client an association run has, beside what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The engine in this process: the baseline.
    Direct,
    /// h2load alone.
    Calm,
    /// h2load beside slow clients.
    Slow,
}

/// The devices of one association run, registered before the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceSet {
    pub(crate) protocol: Protocol,
    pub(crate) phase: Phase,
}

pub(crate) const DEVICE_SETS: [DeviceSet; 6] = {
    use {Phase::*, Protocol::*};
    [
        DeviceSet {
            protocol: Http1,
            phase: Direct,
        },
        DeviceSet {
            protocol: Http1,
            phase: Calm,
        },
        DeviceSet {
            protocol: Http1,
            phase: Slow,
        },
        DeviceSet {
            protocol: Http2,
            phase: Direct,
        },
        DeviceSet {
            protocol: Http2,
            phase: Calm,
        },
        DeviceSet {
            protocol: Http2,
            phase: Slow,
        },
    ]
};

impl DeviceSet {
    /// Where the set's ids are in what [`register_devices`] returns.
    fn index(self) -> usize {
        self.protocol as usize * 3 + self.phase as usize
    }

    /// The set's users are this, a hyphen and a number: one user per connection.
    pub(crate) fn users(self) -> String {
        let protocol = match self.protocol {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
        };
        let phase = match self.phase {
            Phase::Direct => "direct",
            Phase::Calm => "calm",
            Phase::Slow => "slow",
        };
        format!("{protocol}-{phase}")
    }
}

fn main() {
    if let Err(reason) = Command::new("h2load").arg("--version").output() {
        println!(
            "h2load is not on the PATH ({reason}); install it (Debian: nghttp2-client) to run \
             the load bench"
        );
        return;
    }
    let size = if std::env::args().any(|arg| arg == "--bench") {
        BENCH
    } else {
        SMOKE
    };
    if let Err(error) = run(size) {
        eprintln!("load bench failed: {error}");
        std::process::exit(1);
    }
}

fn run(size: Size) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let temp = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let data_dir = temp.path().join("data");
    std::fs::create_dir(&data_dir).map_err(|e| format!("no data directory: {e}"))?;
    let database = data_dir.join("beams.db");
    let work = temp.path().join("h2load");
    std::fs::create_dir(&work).map_err(|e| format!("no h2load directory: {e}"))?;
    if std::env::args().any(|arg| arg == "journal") {
        return journal::journal_runs(&rt, temp.path(), size.requests);
    }

    let started = Instant::now();
    let sets = rt.block_on(register_devices(&database, size.associations))?;
    println!(
        "registered {} FCM devices in {:.1}s",
        sets.iter().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    let mut server = start_server(&data_dir, &temp.path().join("server.log"), &[])?;
    let idle_rss = status_kib(server.pid, "VmRSS").unwrap_or(0);
    let mut rows = Vec::new();
    let mut runs = Runs {
        server: &server,
        work: &work,
        counter: 0,
    };

    // Each HTTP association run comes right after its baseline and right before the same run
    // beside slow clients, so the runs compared see the same machine. The baseline opens the
    // database the (idle) server has open, as a second process would.
    let mut slow_reports = Vec::new();
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let set = |phase| DeviceSet { protocol, phase };
        let direct = {
            let own_cpu = cpu_seconds(std::process::id());
            let devices = device_set(&sets, set(Phase::Direct));
            let mut direct =
                rt.block_on(direct_associations(&database, set(Phase::Direct), devices))?;
            direct.cpu_seconds = cpu_seconds(std::process::id())
                .zip(own_cpu)
                .map(|(after, before)| after - before);
            direct
        };
        rows.push(Row::new("associate", "engine (direct)", &direct, None));
        let calm = runs.associate(set(Phase::Calm), device_set(&sets, set(Phase::Calm)))?;
        rows.push(Row::new(
            "associate",
            protocol.name(),
            &calm,
            Some(against_direct(&calm, &direct)),
        ));
        let slow = rt.block_on(SlowClients::connect(server.addr.clone(), size.slow_clients))?;
        let disturbed = runs.associate(set(Phase::Slow), device_set(&sets, set(Phase::Slow)));
        slow_reports.push((protocol, rt.block_on(slow.stop())));
        let disturbed = disturbed?;
        let p99 = disturbed.percentile(0.99).as_secs_f64()
            / calm.percentile(0.99).as_secs_f64().max(f64::MIN_POSITIVE);
        let rps = disturbed.per_second() / calm.per_second().max(f64::MIN_POSITIVE);
        rows.push(Row::new(
            &format!("associate + {} slow", size.slow_clients),
            protocol.name(),
            &disturbed,
            Some(format!("p99 {p99:.2}×, rps {rps:.2}× undisturbed")),
        ));
    }

    let mut settle_times = Vec::new();
    for (operation, body, headers) in [
        (
            "register",
            registration_body(),
            vec!["content-type: application/json".to_owned()],
        ),
        (
            "publish",
            publish_body(),
            vec![
                "content-type: application/json".to_owned(),
                format!("authorization: Bearer {SECRET}"),
            ],
        ),
    ] {
        let path = match operation {
            "register" => format!("/device_api/v1/instances/{INSTANCE}/devices/fcm"),
            _ => format!("/publish_api/v1/instances/{INSTANCE}/publishes/users"),
        };
        let mut first: Option<f64> = None;
        for protocol in [Protocol::Http1, Protocol::Http2] {
            let measure = runs.post(protocol, &path, &body, &headers, size.requests)?;
            if operation == "publish" {
                settle_times.push((protocol, wait_until_idle(server.pid)?));
            }
            let ratio = first.map(|rps| format!("{:.2}× HTTP/1.1 rps", measure.per_second() / rps));
            first.get_or_insert(measure.per_second());
            rows.push(Row::new(operation, protocol.name(), &measure, ratio));
        }
    }

    // The reporting route against the cheapest route there is, on the same 16 HTTP/1.1
    // keep-alive connections, one right after the other.
    let publish_id = publish_once(&server.addr)?;
    let reporter = device_set(
        &sets,
        DeviceSet {
            protocol: Protocol::Http1,
            phase: Phase::Calm,
        },
    )
    .first()
    .ok_or("no device to report from")?;
    let health = runs.get(Protocol::Http1, "/health", size.light_requests)?;
    let report = runs.post(
        Protocol::Http1,
        &format!("/reporting_api/v2/instances/{INSTANCE}/events"),
        &report_body(&publish_id, reporter),
        &["content-type: application/json".to_owned()],
        size.light_requests,
    )?;
    let ratio = report.per_second() / health.per_second().max(f64::MIN_POSITIVE);
    rows.push(Row::new(
        "GET /health",
        Protocol::Http1.name(),
        &health,
        None,
    ));
    rows.push(Row::new(
        "report event",
        Protocol::Http1.name(),
        &report,
        Some(format!("rps {ratio:.2}× /health")),
    ));
    let reports_settled = wait_until_idle(server.pid)?;

    let final_rss = status_kib(server.pid, "VmRSS").unwrap_or(0);
    let exited = server.child.try_wait().map_err(|e| format!("wait: {e}"))?;
    if exited.is_none() {
        server.kill_now()?;
    }
    let warnings = server_warnings(&temp.path().join("server.log"));

    print_table(&rows);
    println!();
    println!(
        "concurrency {CONCURRENCY} (HTTP/1.1: {CONCURRENCY} connections; HTTP/2: \
         {H2_CONNECTIONS} connections × {} streams); {} associations per run; {} requests per \
         register/publish run; device limit {DEVICE_LIMIT}, evict oldest",
        CONCURRENCY / H2_CONNECTIONS,
        size.associations,
        size.requests
    );
    println!(
        "server RSS: {:.1} MiB idle after start, {:.1} MiB at the end",
        mib(idle_rss),
        mib(final_rss)
    );
    for (protocol, settled) in settle_times {
        println!(
            "publish {}: background deliveries went on {:.1}s after the last answer",
            protocol.name(),
            settled.as_secs_f64()
        );
    }
    for (protocol, report) in slow_reports {
        println!("slow clients beside {}: {report}", protocol.name());
    }
    println!(
        "report event: {} events of one delivery, recorded in the background; the server \
         was idle {:.1}s after the last answer",
        size.light_requests,
        reports_settled.as_secs_f64()
    );
    if let Some(status) = exited {
        println!("the server exited during the bench: {status}");
    }
    println!("server log: {warnings}");
    println!();
    journal::journal_runs(&rt, temp.path(), size.requests)
}

fn device_set(sets: &[Vec<DeviceId>], set: DeviceSet) -> &[DeviceId] {
    sets.get(set.index()).map_or(&[], Vec::as_slice)
}

/// Throughput, and server CPU per request, against the engine's.
fn against_direct(measure: &Measure, direct: &Measure) -> String {
    let rps = measure.per_second() / direct.per_second().max(f64::MIN_POSITIVE);
    let cpu = measure
        .cpu_per_request()
        .zip(direct.cpu_per_request())
        .map_or("-".into(), |(http, engine)| {
            format!(
                "{:.2}",
                http.as_secs_f64() / engine.as_secs_f64().max(f64::MIN_POSITIVE)
            )
        });
    format!("rps {rps:.2}×, CPU/rq {cpu}× direct")
}

pub(crate) fn split(devices: &[DeviceId], parts: usize) -> Vec<Vec<DeviceId>> {
    let mut slices = vec![Vec::new(); parts];
    for (i, device) in devices.iter().enumerate() {
        slices[i % parts].push(device.clone());
    }
    slices
}

/// Publishes `publish_body()` once over a plain connection and returns its publish id: the
/// events reported then name a publish the server tracks, as real ones do.
fn publish_once(addr: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let body = publish_body();
    let request = format!(
        "POST /publish_api/v1/instances/{INSTANCE}/publishes/users HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {SECRET}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream =
        std::net::TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(LIMIT))
        .map_err(|e| format!("set a read timeout: {e}"))?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send the publish: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read the publish answer: {e}"))?;
    let json = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or_else(|| format!("not an HTTP answer: {answer:?}"))?;
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|body| body["publishId"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("no publishId in {answer:?}"))
}

/// A delivery from `device`, as the Android SDK reports it.
fn report_body(publish_id: &str, device: &DeviceId) -> String {
    serde_json::json!({
        "event": "Delivery",
        "deviceId": device.as_str(),
        "userId": "h1-calm-0",
        "publishId": publish_id,
        "timestampSecs": 1_717_171_717,
        "appInBackground": true,
        "hasDisplayableContent": true,
        "hasData": false
    })
    .to_string()
}

fn registration_body() -> String {
    serde_json::json!({
        "token": "loadregister:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m-9BvP7aEzqNcLmR0v4HQ",
        "metadata": {"sdkVersion": "2.0.0"}
    })
    .to_string()
}

/// To the 16 users of the undisturbed HTTP/1.1 association run, each with `DEVICE_LIMIT` FCM devices.
fn publish_body() -> String {
    let users: Vec<String> = (0..CONCURRENCY)
        .map(|i| {
            let set = DeviceSet {
                protocol: Protocol::Http1,
                phase: Phase::Calm,
            };
            format!("{}-{i}", set.users())
        })
        .collect();
    serde_json::json!({
        "users": users,
        "fcm": {"notification": {"title": "Load", "body": "a publish under load"}}
    })
    .to_string()
}
