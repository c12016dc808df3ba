//! The server under load over HTTP, against its own engine on the same database in one run.
//!
//! The bench runs the `beams-server` binary of this build as a child process (default SQLite
//! store, a fresh data directory, `RUST_LOG=warn`) and drives it with h2load (Debian package
//! `nghttp2-client`) over HTTP/1.1 keep-alive (`--h1`) and HTTP/2 in cleartext (prior
//! knowledge). Each run:
//!
//! - `associate`: `PUT …/devices/fcm/{id}/user` with a Beams Token, every request a different
//!   registered device. h2load sends the same headers with every request and starts each
//!   client at the top of its URI list, so each connection is its own h2load process with its
//!   own user and its own slice of devices: HTTP/1.1 uses 16 connections, HTTP/2 4 connections
//!   of 4 streams. Every user passes the default limit (100 devices, evict the oldest) early,
//!   so most associations also evict.
//! - `direct`, the baseline: `Beams::associate_device` (token check included) on the same
//!   database file before the server opens it, with the same policy, 16 tasks of one user each.
//! - `register`: `POST …/devices/fcm` with one JSON body. h2load cannot vary a body, so after
//!   the first request every registration renews the same device (a write all the same).
//! - `publish`: `POST …/publishes/users` to 16 users with 100 FCM devices each. No FCM gateway is
//!   configured: a publish is answered at once and, in the background, looks up the users'
//!   devices and skips them, so this measures answering and lookups, not delivery. The bench
//!   waits for the server to go idle after each publish run and prints how long that took.
//! - `associate + slow`: the association runs again while 200 slow clients hold connections,
//!   half sending a request header one byte a second, half sending nothing; a slow client the
//!   server drops connects again.
//!
//! For each run: successful requests per second, p50 and p99 latency (from h2load's
//! per-request log), the server's CPU time per request and its peak RSS during the run
//! (`VmHWM`, reset before each run). Figures vary across machines, so each row also has a ratio
//! to a baseline of the same run; the targets are `associate` at least 0.5× `direct` and the
//! p99 with slow clients within 2× the p99 without.
//!
//! Run with `cargo bench -p beams-server --bench load` (about a minute on two cores). Without
//! `--bench` (as `cargo test --benches` runs it) it makes a small run; without h2load on the
//! `PATH` it says so and does nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use beams_core::{
    AssociationPolicy, Beams, DeviceId, DeviceMetadata, InstanceId, Platform, SecretKey,
    TokenIssuer, UserId, WhenFull,
};
use beams_store_sqlite::SqliteDeviceStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const INSTANCE: &str = "0b7a1e52-6c1d-4f0e-9a3b-2d4c6e8f0a1b";
const SECRET: &str = "load-bench-secret-key-0123456789abcdef0123";

/// Requests in flight at once in every run, and tasks in the direct baseline.
const CONCURRENCY: usize = 16;
/// HTTP/2 connections; each carries `CONCURRENCY / H2_CONNECTIONS` streams at once.
const H2_CONNECTIONS: usize = 4;
/// The default device limit, under the default policy (evict the oldest).
const DEVICE_LIMIT: usize = 100;
/// Every wait on the server or on h2load is bounded by this.
const LIMIT: Duration = Duration::from_secs(300);

/// How big a run is: `cargo bench` measures, `cargo test --benches` only checks it works.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// Devices associated in each association run.
    associations: usize,
    /// Requests in each register and publish run.
    requests: usize,
    slow_clients: usize,
}

const BENCH: Size = Size {
    associations: 20_000,
    requests: 20_000,
    slow_clients: 200,
};

const SMOKE: Size = Size {
    associations: 800,
    requests: 400,
    slow_clients: 20,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }

    /// h2load's `-c` and `-m` for `CONCURRENCY` requests in flight.
    fn connections_and_streams(self) -> (usize, usize) {
        match self {
            Protocol::Http1 => (CONCURRENCY, 1),
            Protocol::Http2 => (H2_CONNECTIONS, CONCURRENCY / H2_CONNECTIONS),
        }
    }

    fn h2load_args(self) -> &'static [&'static str] {
        match self {
            Protocol::Http1 => &["--h1"],
            Protocol::Http2 => &[],
        }
    }
}

/// The device sets registered before the server starts, one per association run.
#[derive(Debug, Clone, Copy)]
enum DeviceSet {
    Direct,
    Http1,
    Http2,
    Http1Slow,
    Http2Slow,
}

const DEVICE_SETS: [DeviceSet; 5] = [
    DeviceSet::Direct,
    DeviceSet::Http1,
    DeviceSet::Http2,
    DeviceSet::Http1Slow,
    DeviceSet::Http2Slow,
];

impl DeviceSet {
    fn user_prefix(self) -> &'static str {
        match self {
            DeviceSet::Direct => "direct",
            DeviceSet::Http1 => "h1",
            DeviceSet::Http2 => "h2",
            DeviceSet::Http1Slow => "h1-slow",
            DeviceSet::Http2Slow => "h2-slow",
        }
    }
}

/// One measured run.
#[derive(Debug, Default)]
struct Measure {
    /// Answers by status.
    statuses: BTreeMap<u16, usize>,
    /// Requests h2load gave up on (connection errors, timeouts).
    errored: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    peak_rss_kib: Option<u64>,
    cpu_seconds: Option<f64>,
}

impl Measure {
    fn ok(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    fn per_second(&self) -> f64 {
        self.ok() as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[at.min(sorted.len() - 1)]
    }

    /// Non-2xx answers and errors, for the table, e.g. `429×12 err×3`.
    fn other(&self) -> String {
        let mut other = String::new();
        for (status, n) in &self.statuses {
            if !(200..300).contains(status) {
                let _ = write!(other, "{status}×{n} ");
            }
        }
        if self.errored > 0 {
            let _ = write!(other, "err×{}", self.errored);
        }
        match other.trim() {
            "" => "-".to_owned(),
            trimmed => trimmed.to_owned(),
        }
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

    let started = Instant::now();
    let sets = rt.block_on(register_devices(&database, size.associations))?;
    println!(
        "registered {} FCM devices in {:.1}s",
        sets.iter().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    let direct = rt.block_on(direct_associations(
        &database,
        device_set(&sets, DeviceSet::Direct),
    ))?;

    let mut server = ServerProcess::start(&data_dir, &temp.path().join("server.log"))?;
    let idle_rss = status_kib(server.pid, "VmRSS").unwrap_or(0);
    let mut rows = vec![Row::new("associate", "direct (engine)", &direct, None)];
    let mut runs = Runs {
        server: &server,
        work: &work,
        counter: 0,
    };

    let mut undisturbed = Vec::new();
    for (protocol, set) in [
        (Protocol::Http1, DeviceSet::Http1),
        (Protocol::Http2, DeviceSet::Http2),
    ] {
        let measure = runs.associate(protocol, set, device_set(&sets, set))?;
        let ratio = measure.per_second() / direct.per_second().max(f64::MIN_POSITIVE);
        rows.push(Row::new(
            "associate",
            protocol.name(),
            &measure,
            Some(format!("{ratio:.2}× direct rps")),
        ));
        undisturbed.push(measure);
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

    let slow = rt.block_on(SlowClients::connect(server.addr.clone(), size.slow_clients))?;
    for ((protocol, set), calm) in [
        (Protocol::Http1, DeviceSet::Http1Slow),
        (Protocol::Http2, DeviceSet::Http2Slow),
    ]
    .into_iter()
    .zip(&undisturbed)
    {
        let measure = runs.associate(protocol, set, device_set(&sets, set))?;
        let p99 = measure.percentile(0.99).as_secs_f64()
            / calm.percentile(0.99).as_secs_f64().max(f64::MIN_POSITIVE);
        let rps = measure.per_second() / calm.per_second().max(f64::MIN_POSITIVE);
        rows.push(Row::new(
            &format!("associate + {} slow", size.slow_clients),
            protocol.name(),
            &measure,
            Some(format!("p99 {p99:.2}×, rps {rps:.2}× undisturbed")),
        ));
    }
    let slow_report = rt.block_on(slow.stop());
    let final_rss = status_kib(server.pid, "VmRSS").unwrap_or(0);
    let exited = server.child.try_wait().map_err(|e| format!("wait: {e}"))?;
    server.kill();
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
    println!("slow clients: {slow_report}");
    if let Some(status) = exited {
        println!("the server exited during the bench: {status}");
    }
    println!("server log: {warnings}");
    Ok(())
}

fn device_set(sets: &[Vec<DeviceId>], set: DeviceSet) -> &[DeviceId] {
    &sets[set as usize]
}

/// Registers `per_set` FCM devices for each association run, straight into the database the
/// server will open; returns their ids by set.
async fn register_devices(database: &Path, per_set: usize) -> Result<Vec<Vec<DeviceId>>, String> {
    let store = SqliteDeviceStore::open(database)
        .await
        .map_err(|e| format!("the store does not open: {e}"))?;
    let beams = engine(store)?;
    let mut sets = Vec::new();
    for (s, _) in DEVICE_SETS.iter().enumerate() {
        let tasks: Vec<JoinHandle<Result<Vec<DeviceId>, String>>> = (0..CONCURRENCY)
            .map(|task| {
                let beams = beams.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in (task..per_set).step_by(CONCURRENCY) {
                        let token = format!("load{s}x{n:07}:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYq");
                        let device = beams
                            .register_device(Platform::Fcm, &token, DeviceMetadata::default())
                            .await
                            .map_err(|e| format!("registration failed: {e}"))?;
                        ids.push(device.id);
                    }
                    Ok(ids)
                })
            })
            .collect();
        let mut ids = Vec::with_capacity(per_set);
        for task in tasks {
            ids.extend(task.await.map_err(|e| format!("a task failed: {e}"))??);
        }
        sets.push(ids);
    }
    Ok(sets)
}

fn engine(store: SqliteDeviceStore) -> Result<Beams, String> {
    let instance = InstanceId::new(INSTANCE).map_err(|e| e.to_string())?;
    let secret = SecretKey::new(SECRET).map_err(|e| e.to_string())?;
    let policy = AssociationPolicy::try_new(DEVICE_LIMIT, WhenFull::EvictOldest)
        .map_err(|e| e.to_string())?;
    Ok(Beams::builder(instance, secret, store)
        .policy(policy)
        .build())
}

fn token_for(user: &str) -> Result<String, String> {
    let instance = InstanceId::new(INSTANCE).map_err(|e| e.to_string())?;
    let secret = SecretKey::new(SECRET).map_err(|e| e.to_string())?;
    let user = UserId::new(user).map_err(|e| e.to_string())?;
    TokenIssuer::new(&instance, &secret)
        .issue(&user)
        .map(|issued| issued.token)
        .map_err(|e| e.to_string())
}

/// The baseline: the same associations through the engine, `CONCURRENCY` tasks of one user
/// each, on the database the server will serve (opened and closed here first).
async fn direct_associations(database: &Path, devices: &[DeviceId]) -> Result<Measure, String> {
    let store = SqliteDeviceStore::open(database)
        .await
        .map_err(|e| format!("the store does not open: {e}"))?;
    let beams = engine(store)?;
    let slices = split(devices, CONCURRENCY);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, slice) in slices.into_iter().enumerate() {
        let beams = beams.clone();
        let token = token_for(&format!("{}-{i}", DeviceSet::Direct.user_prefix()))?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(slice.len());
            for device in &slice {
                let start = Instant::now();
                beams
                    .associate_device(device, &token)
                    .await
                    .map_err(|e| format!("direct association failed: {e}"))?;
                latencies.push(start.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut measure = Measure::default();
    for task in tasks {
        let latencies = task.await.map_err(|e| format!("a task failed: {e}"))??;
        *measure.statuses.entry(200).or_default() += latencies.len();
        measure.latencies.extend(latencies);
    }
    measure.seconds = started.elapsed().as_secs_f64();
    Ok(measure)
}

fn split(devices: &[DeviceId], parts: usize) -> Vec<Vec<DeviceId>> {
    let mut slices = vec![Vec::new(); parts];
    for (i, device) in devices.iter().enumerate() {
        slices[i % parts].push(device.clone());
    }
    slices
}

fn registration_body() -> String {
    serde_json::json!({
        "token": "loadregister:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m-9BvP7aEzqNcLmR0v4HQ",
        "metadata": {"sdkVersion": "2.0.0"}
    })
    .to_string()
}

/// To the 16 users of the HTTP/1.1 association run, each with `DEVICE_LIMIT` FCM devices.
fn publish_body() -> String {
    let users: Vec<String> = (0..CONCURRENCY)
        .map(|i| format!("{}-{i}", DeviceSet::Http1.user_prefix()))
        .collect();
    serde_json::json!({
        "users": users,
        "fcm": {"notification": {"title": "Load", "body": "a publish under load"}}
    })
    .to_string()
}

/// The server binary of this build, as a child process; killed when dropped.
struct ServerProcess {
    child: Child,
    pid: u32,
    addr: String,
}

impl ServerProcess {
    fn start(data_dir: &Path, log: &Path) -> Result<Self, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("no server log: {e}"))?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_beams-server"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BEAMS_")) {
            command.env_remove(name);
        }
        let data_dir = data_dir.to_str().ok_or("the data directory is not UTF-8")?;
        let mut child = command
            .args([
                "--data-dir",
                data_dir,
                "--listen",
                "127.0.0.1:0",
                "--instance-id",
                INSTANCE,
                "--secret-key",
                SECRET,
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("beams-server does not start: {e}"))?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let mut server = ServerProcess {
            child,
            pid,
            addr: String::new(),
        };
        let stdout = stdout.ok_or("no stdout")?;
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = received
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| "beams-server printed no `listening on` line")?;
            if let Some(addr) = line.strip_prefix("listening on http://") {
                server.addr = addr.trim().to_owned();
                return Ok(server);
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts h2load runs against one server, each with its own files.
struct Runs<'a> {
    server: &'a ServerProcess,
    work: &'a Path,
    counter: usize,
}

impl Runs<'_> {
    fn file(&mut self, name: &str) -> PathBuf {
        self.counter += 1;
        self.work.join(format!("{}-{name}", self.counter))
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// One h2load process per connection, each with its own user and slice of `devices`.
    fn associate(
        &mut self,
        protocol: Protocol,
        set: DeviceSet,
        devices: &[DeviceId],
    ) -> Result<Measure, String> {
        let (connections, streams) = protocol.connections_and_streams();
        let mut processes = Vec::new();
        for (i, slice) in split(devices, connections).into_iter().enumerate() {
            let mut uris = String::new();
            for device in &slice {
                let _ = writeln!(
                    uris,
                    "{}/device_api/v1/instances/{INSTANCE}/devices/fcm/{device}/user",
                    self.base()
                );
            }
            let uri_file = self.file("uris.txt");
            std::fs::write(&uri_file, uris).map_err(|e| format!("write {uri_file:?}: {e}"))?;
            let token = token_for(&format!("{}-{i}", set.user_prefix()))?;
            let mut args: Vec<String> = protocol.h2load_args().iter().map(|&a| a.into()).collect();
            args.extend([
                "-c".into(),
                "1".into(),
                "-m".into(),
                streams.to_string(),
                "-n".into(),
                slice.len().to_string(),
                "-i".into(),
                path_arg(&uri_file)?,
                "-H".into(),
                ":method: PUT".into(),
                "-H".into(),
                format!("authorization: Bearer {token}"),
            ]);
            processes.push(args);
        }
        self.measure(processes)
    }

    /// One h2load process sending `requests` POSTs of `body` to `path`.
    fn post(
        &mut self,
        protocol: Protocol,
        path: &str,
        body: &str,
        headers: &[String],
        requests: usize,
    ) -> Result<Measure, String> {
        let (connections, streams) = protocol.connections_and_streams();
        let body_file = self.file("body.json");
        std::fs::write(&body_file, body).map_err(|e| format!("write {body_file:?}: {e}"))?;
        let mut args: Vec<String> = protocol.h2load_args().iter().map(|&a| a.into()).collect();
        args.extend([
            "-c".into(),
            connections.to_string(),
            "-m".into(),
            streams.to_string(),
            "-n".into(),
            requests.to_string(),
            "-d".into(),
            path_arg(&body_file)?,
        ]);
        for header in headers {
            args.extend(["-H".into(), header.clone()]);
        }
        args.push(format!("{}{path}", self.base()));
        self.measure(vec![args])
    }

    /// Runs the h2load processes at once and merges their per-request logs.
    fn measure(&mut self, processes: Vec<Vec<String>>) -> Result<Measure, String> {
        let pid = self.server.pid;
        reset_peak(pid);
        let cpu_before = cpu_seconds(pid);
        let mut running = Vec::new();
        for mut args in processes {
            let log = self.file("log.tsv");
            args.push(format!("--log-file={}", path_arg(&log)?));
            let child = Command::new("h2load")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("h2load does not start: {e}"))?;
            running.push((H2load(Some(child)), log));
        }
        let mut measure = Measure::default();
        let (mut first_start, mut last_end) = (u64::MAX, 0_u64);
        for (mut h2load, log) in running {
            let output = h2load.wait(LIMIT)?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            measure.errored += count_after(&stdout, " errored").unwrap_or(0)
                + count_after(&stdout, " timeout").unwrap_or(0);
            let log = std::fs::read_to_string(&log).map_err(|e| format!("read {log:?}: {e}"))?;
            for line in log.lines() {
                let mut fields = line.split('\t').map(str::parse::<u64>);
                let (Some(Ok(start)), Some(Ok(status)), Some(Ok(micros))) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(format!("unexpected h2load log line {line:?}"));
                };
                *measure
                    .statuses
                    .entry(u16::try_from(status).unwrap_or(0))
                    .or_default() += 1;
                measure.latencies.push(Duration::from_micros(micros));
                first_start = first_start.min(start);
                last_end = last_end.max(start + micros);
            }
            if !output.status.success() {
                return Err(format!(
                    "h2load failed ({}): {}{}",
                    output.status,
                    stdout,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        measure.seconds = last_end.saturating_sub(first_start) as f64 / 1e6;
        measure.peak_rss_kib = status_kib(pid, "VmHWM");
        measure.cpu_seconds = cpu_seconds(pid)
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        Ok(measure)
    }
}

/// An h2load process, killed if still running when dropped.
struct H2load(Option<Child>);

impl H2load {
    /// Waits (bounded) for h2load to exit and returns its output.
    fn wait(&mut self, limit: Duration) -> Result<Output, String> {
        let deadline = Instant::now() + limit;
        let child = self.0.as_mut().ok_or("h2load already waited for")?;
        while child
            .try_wait()
            .map_err(|e| format!("h2load: {e}"))?
            .is_none()
        {
            if Instant::now() > deadline {
                return Err(format!("h2load still running after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let child = self.0.take().ok_or("h2load already waited for")?;
        child
            .wait_with_output()
            .map_err(|e| format!("h2load output: {e}"))
    }
}

impl Drop for H2load {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn path_arg(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{path:?} is not UTF-8"))
}

/// The number before `label` in h2load's `requests:` line, e.g. `3 errored`.
fn count_after(stdout: &str, label: &str) -> Option<usize> {
    let line = stdout.lines().find(|line| line.starts_with("requests:"))?;
    line.split(',')
        .find(|part| part.ends_with(label))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `kB` field of the process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS (Linux).
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// User and system CPU time the process has used, in seconds (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks; 100 a second on every Linux this runs on (USER_HZ).
    Some((utime + stime) as f64 / 100.0)
}

/// Waits (bounded) until the server uses no CPU for half a second; returns how long that took.
fn wait_until_idle(pid: u32) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = cpu_seconds(pid).ok_or("cannot read the server's CPU time")?;
    let mut quiet_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = cpu_seconds(pid).ok_or("cannot read the server's CPU time")?;
        if now - last > 0.015 {
            quiet_since = Instant::now();
        }
        last = now;
        if quiet_since.elapsed() >= Duration::from_millis(500) {
            return Ok(quiet_since.duration_since(started));
        }
        if started.elapsed() > LIMIT {
            return Err(format!("the server was still busy after {LIMIT:?}"));
        }
    }
}

/// Connections that hold a server slot while doing almost nothing: half send a request header
/// one byte a second, half send nothing. A connection the server closes is opened again.
struct SlowClients {
    tasks: Vec<JoinHandle<()>>,
    trickling_dropped: Arc<AtomicUsize>,
    idle_dropped: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    started: Instant,
}

impl SlowClients {
    async fn connect(addr: String, clients: usize) -> Result<Self, String> {
        let connected = Arc::new(AtomicUsize::new(0));
        let trickling_dropped = Arc::new(AtomicUsize::new(0));
        let idle_dropped = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|i| {
                let trickle = i % 2 == 0;
                let dropped = Arc::clone(if trickle {
                    &trickling_dropped
                } else {
                    &idle_dropped
                });
                tokio::spawn(slow_client(
                    addr.clone(),
                    trickle,
                    Arc::clone(&connected),
                    dropped,
                    Arc::clone(&refused),
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while connected.load(Ordering::Relaxed) < clients {
            if Instant::now() > deadline {
                return Err("the slow clients could not all connect".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(SlowClients {
            tasks,
            trickling_dropped,
            idle_dropped,
            refused,
            started: Instant::now(),
        })
    }

    /// Stops them; says how often the server dropped or refused them.
    async fn stop(self) -> String {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        format!(
            "over {:.0}s, the server closed {} trickling and {} idle connections and refused {} \
             connection attempts",
            self.started.elapsed().as_secs_f64(),
            self.trickling_dropped.load(Ordering::Relaxed),
            self.idle_dropped.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

async fn slow_client(
    addr: String,
    trickle: bool,
    connected: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
) {
    let request_line = format!(
        "PUT /device_api/v1/instances/{INSTANCE}/devices/fcm/fcm-slow/user HTTP/1.1\r\n\
         host: {addr}\r\n"
    );
    let mut first = true;
    loop {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if first {
            connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        // Endless: the request line, then one padding header after another.
        let mut bytes = request_line
            .bytes()
            .chain(std::iter::repeat(b"x-slow: 1\r\n").flatten().copied());
        let mut buf = [0_u8; 512];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    // Whatever the server says (an error answer, or nothing: closed), this
                    // connection is over.
                    let _ = read;
                    break;
                }
                () = tokio::time::sleep(Duration::from_secs(1)), if trickle => {
                    let Some(byte) = bytes.next() else { break };
                    if stream.write_all(&[byte]).await.is_err() {
                        break;
                    }
                }
            }
        }
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The warnings and errors the server logged, counted by message.
fn server_warnings(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return "unreadable".into();
    };
    let mut by_message: BTreeMap<String, usize> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        // Drop the timestamp; keep level, target and message.
        let message = line.split_once(' ').map_or(line, |(_, rest)| rest).trim();
        let message: String = message.chars().take(160).collect();
        *by_message.entry(message).or_default() += 1;
    }
    if by_message.is_empty() {
        return "no warnings or errors".into();
    }
    by_message
        .iter()
        .map(|(message, n)| format!("\n  {n}× {message}"))
        .collect()
}

struct Row {
    operation: String,
    protocol: String,
    answers: usize,
    other: String,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request: Option<Duration>,
    peak_rss_kib: Option<u64>,
    ratio: String,
}

impl Row {
    fn new(operation: &str, protocol: &str, measure: &Measure, ratio: Option<String>) -> Self {
        let answers = measure.statuses.values().sum();
        Row {
            operation: operation.to_owned(),
            protocol: protocol.to_owned(),
            answers,
            other: measure.other(),
            per_second: measure.per_second(),
            p50: measure.percentile(0.5),
            p99: measure.percentile(0.99),
            cpu_per_request: measure
                .cpu_seconds
                .filter(|_| answers > 0)
                .map(|cpu| Duration::from_secs_f64(cpu / answers as f64)),
            peak_rss_kib: measure.peak_rss_kib,
            ratio: ratio.unwrap_or_else(|| "baseline".into()),
        }
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<22} {:<16} {:>7} {:<10} {:>9} {:>8} {:>8} {:>9} {:>9}  ratio",
        "operation",
        "client",
        "answers",
        "non-2xx",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/rq",
        "peak MiB"
    );
    for row in rows {
        println!(
            "{:<22} {:<16} {:>7} {:<10} {:>9.0} {:>8.2} {:>8.2} {:>9} {:>9}  {}",
            row.operation,
            row.protocol,
            row.answers,
            row.other,
            row.per_second,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.cpu_per_request
                .map_or("-".into(), |cpu| format!("{:.0}", cpu.as_secs_f64() * 1e6)),
            row.peak_rss_kib
                .map_or("-".into(), |kib| format!("{:.1}", mib(kib))),
            row.ratio
        );
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
