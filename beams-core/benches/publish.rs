//! Fan-out throughput and memory of `Beams::publish` (to users) over a `MemoryDeviceStore`, with
//! a gateway that answers `Delivered` at once, so only the engine's own work is measured.
//!
//! - Group `publish_fanout` (throughput in deliveries per second, current-thread runtime, one
//!   core): `engine_publish_to_users` publishes one request to 1000 users × 3 devices (one per
//!   platform, all three sections). `naive_lookup_and_send_baseline` does the same work without
//!   the engine in the same run: one `devices_of_users` lookup, one `Recipient` per device, the
//!   same gateway in batches of 100. The ratio engine / baseline is what the engine's bookkeeping
//!   (batching, bounded concurrency, breakers, report) costs.
//! - Then, outside criterion, the publishing memory overhead: a store of N users × 3 devices is
//!   built, the peak RSS is reset (`/proc/self/clear_refs`), the N users are published to in
//!   requests of 1000, and the overhead is peak RSS (`VmHWM`) − RSS before publishing. It runs
//!   for N = 10,000 and 100,000, each in a fresh child process of this binary (glibc told to
//!   give freed memory back, so earlier phases' free heap cannot hide the overhead). Memory is
//!   independent of the device count when the ratio of the two overheads is near 1, not 10.
//!   Linux only; this phase is skipped in test mode (`cargo test --benches`).
//!
//! Run with `cargo bench -p beams-core --bench publish`
//! (add `-- --warm-up-time 1 --measurement-time 4` for a short run).

use std::hint::black_box;
use std::sync::Arc;

use beams_core::{
    Batch, DeliveryOutcome, DeviceStore, MemoryDeviceStore, Payload, Platform, PublishId,
    PublishRequest, PushGateway, Recipient, UserId,
};
use beams_test_support::bench::harness::{
    ImmediateGateway, delivered, engine, populate_users, reset_peak, run_child, status_kb,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// Users in the throughput benchmark: one full request.
const USERS: usize = PublishRequest::MAX_USERS;
/// Deliveries per request in the throughput benchmark.
const DELIVERIES: usize = USERS * Platform::ALL.len();
/// Deliveries per gateway call in the baseline, as the engine's default batch.
const CHUNK: usize = 100;
/// Set in the child process that measures memory: the number of users to build and publish to.
const MEMORY_CHILD_ENV: &str = "BEAMS_PUBLISH_BENCH_MEMORY_USERS";

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime starts")
}

fn section() -> Value {
    json!({"notification": {"title": "Hello", "body": "A benchmark notification"}})
}

/// A publish to `users` with a section for every platform.
fn request(users: &[UserId]) -> PublishRequest {
    let mut request = PublishRequest::to_users(users.iter().cloned()).expect("1 to 1000 users");
    for platform in Platform::ALL {
        request = request
            .with_section(platform, section())
            .expect("the section is an object");
    }
    request
}

/// The baseline: the same lookup and sends with no engine; returns the deliveries accepted.
async fn naive(
    store: &dyn DeviceStore,
    gateway: &dyn PushGateway,
    users: &[UserId],
    payload: &Arc<Payload>,
) -> usize {
    let devices = store.devices_of_users(users).await.expect("memory lookup");
    let mut accepted = 0;
    for chunk in devices.chunks(CHUNK) {
        let batch = Batch {
            payload: Arc::clone(payload),
            recipients: chunk.iter().map(Recipient::of).collect(),
        };
        let outcomes = gateway.send(&batch).await;
        accepted += outcomes
            .iter()
            .filter(|o| matches!(o, DeliveryOutcome::Delivered))
            .count();
    }
    accepted
}

fn publish_fanout(c: &mut Criterion) {
    let rt = current_thread();
    let store = MemoryDeviceStore::new();
    let users = rt.block_on(populate_users(&store, USERS));
    let beams = engine(store.clone());
    let request = request(&users);
    let report = rt.block_on(beams.publish(request.clone()));
    assert_eq!(delivered(&report.expect("has sections")), DELIVERIES);

    let gateway = ImmediateGateway;
    let payload = Arc::new(Payload {
        publish_id: PublishId::generate(),
        instance: beams.instance_id().clone(),
        platform: Platform::Web,
        body: section(),
    });
    let accepted = rt.block_on(naive(&store, &gateway, &users, &payload));
    assert_eq!(accepted, DELIVERIES, "the baseline reaches every device");

    let mut group = c.benchmark_group("publish_fanout");
    group.throughput(Throughput::Elements(DELIVERIES as u64));
    group.bench_function("engine_publish_to_users", |b| {
        b.iter_batched(
            || request.clone(),
            |request| rt.block_on(beams.publish(request)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("naive_lookup_and_send_baseline", |b| {
        b.iter(|| rt.block_on(naive(&store, &gateway, black_box(&users), &payload)))
    });
    group.finish();
}

/// Publishing overhead for `users` users × 3 devices: `(store kB, overhead kB, peak source)`.
fn measure(users: usize) -> Result<(u64, u64, &'static str), String> {
    let rt = current_thread();
    let empty = status_kb("VmRSS")?;
    let store = MemoryDeviceStore::new();
    let ids = rt.block_on(populate_users(&store, users));
    let beams = engine(store);
    let before = status_kb("VmRSS")?;
    let exact = match reset_peak() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("cannot reset the peak (clear_refs: {e}); reporting sampled VmRSS instead");
            false
        }
    };
    let (mut sampled, mut accepted) = (before, 0);
    for chunk in ids.chunks(PublishRequest::MAX_USERS) {
        let report = rt.block_on(beams.publish(request(chunk)));
        accepted += delivered(&report.expect("the request has sections"));
        sampled = sampled.max(status_kb("VmRSS")?);
    }
    assert_eq!(accepted, 3 * users, "every device is delivered");
    let peak = if exact { status_kb("VmHWM")? } else { sampled };
    let source = if exact { "VmHWM" } else { "VmRSS-sampled" };
    let store_kb = before.saturating_sub(empty);
    Ok((store_kb, peak.saturating_sub(before), source))
}

/// Runs [`measure`] in a fresh child process, so no earlier phase's heap is reused; in this
/// process if the child cannot be started.
fn measure_isolated(users: usize) -> Result<(u64, u64, String), String> {
    let child = run_child(MEMORY_CHILD_ENV, &users.to_string());
    let output = match child {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(e) => {
            println!("cannot start a child process ({e}); measuring in this process");
            let (store, overhead, source) = measure(users)?;
            return Ok((store, overhead, source.to_owned()));
        }
    };
    let mut fields = output.splitn(3, ' ');
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
    match (number(), number(), fields.next()) {
        (Some(store), Some(overhead), Some(source)) => Ok((store, overhead, source.to_owned())),
        _ => Err(format!("the measuring child said: {output}")),
    }
}

fn memory_report() {
    println!("\npublish memory (users x 3 devices, published in requests of 1000 users):");
    let mut overheads = Vec::new();
    for users in [10_000, 100_000] {
        match measure_isolated(users) {
            Ok((store, overhead, source)) => {
                println!("  store of {users} users x 3 devices: {store} kB RSS");
                println!("  publishing overhead, {users} users: {overhead} kB (peak: {source})");
                overheads.push(overhead);
            }
            Err(e) => println!("  {users} users: not measured: {e}"),
        }
    }
    if let [small, large] = overheads[..] {
        let ratio = large as f64 / small.max(1) as f64;
        println!("  overhead ratio 100k / 10k users: {ratio:.2} (flat in devices: ~1, not 10)");
    }
}

criterion_group!(benches, publish_fanout);

fn main() {
    if let Ok(users) = std::env::var(MEMORY_CHILD_ENV) {
        let users = users.parse().expect("the parent passes a user count");
        match measure(users) {
            Ok((store, overhead, source)) => println!("{store} {overhead} {source}"),
            Err(e) => println!("{e}"),
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; without it criterion only tests, and so do we.
    if std::env::args().any(|arg| arg == "--bench") {
        memory_report();
    }
}
