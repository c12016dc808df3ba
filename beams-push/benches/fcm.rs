//! `FcmGateway` throughput and CPU per message against the loopback mock FCM (h2c on
//! 127.0.0.1), at batches of 1,000 and 20,000 messages.
//!
//! The mock runs on its own runtime (threads named `gw-mock`) and the gateway on another
//! (`gw-client`), so the gateway's CPU is measured apart from the mock's: per-thread user +
//! system time from `/proc/self/task/*/stat` (Linux; clock ticks of 10 ms, so each size is
//! sent several times and the CPU summed). The access token is fetched in a warm-up batch;
//! every measured message then reuses it, as in production.
//!
//! Run with `cargo bench -p beams-push --bench fcm`; `cargo test --benches` runs one small
//! batch as a smoke test.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark should stop at the first surprise"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use beams_core::{Batch, DeliveryOutcome, PushGateway};
use beams_push::fcm::FcmGateway;
use beams_test_support::fcm_fixtures::{TestKey, batch, clock, payload};
use beams_test_support::fcm_mock::MockGoogle;
use serde_json::json;
use tokio::runtime::Runtime;

/// Linux's USER_HZ: `/proc` times are in hundredths of a second.
const TICKS_PER_SECOND: u64 = 100;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let mock_rt = runtime("gw-mock", 2);
    let client_rt = runtime("gw-client", 2);
    let mock = mock_rt.block_on(MockGoogle::start(TestKey::shared()));
    mock.stop_recording();

    let plan: &[(usize, usize, usize)] = if full {
        // (messages per batch, max in flight, batches)
        &[
            (1_000, 100, 20),
            (20_000, 100, 3),
            (1_000, 500, 20),
            (20_000, 500, 3),
        ]
    } else {
        &[(100, 100, 1)]
    };
    println!(
        "{:>8} {:>9} {:>8} {:>12} {:>14} {:>14} {:>14}",
        "messages",
        "in_flight",
        "batches",
        "msgs/s",
        "gateway_us/msg",
        "mock_us/msg",
        "process_us/msg"
    );
    for &(messages, in_flight, batches) in plan {
        let clock = clock();
        let gateway = Arc::new(
            mock.builder(&clock)
                .max_in_flight(in_flight)
                .build()
                .unwrap(),
        );
        let hello = payload(json!({
            "notification": {"title": "New message", "body": "Alice: are you coming tonight?"},
            "data": {"conversation": "c-1234", "sender": "alice"},
            "time_to_live": 3600,
        }));
        // Warm-up: the access token, the HTTP/2 connection, the allocator.
        send(
            &client_rt,
            &gateway,
            batch(&hello, 0..messages.min(1_000) as u64),
        );

        let mut elapsed = Duration::ZERO;
        let before = cpu_ticks();
        for _ in 0..batches {
            let outgoing = batch(&hello, 0..messages as u64);
            let start = Instant::now();
            send(&client_rt, &gateway, outgoing);
            elapsed += start.elapsed();
        }
        let after = cpu_ticks();
        let total = (messages * batches) as f64;
        let per_message = |ticks: u64| ticks as f64 * 1e6 / TICKS_PER_SECOND as f64 / total;
        println!(
            "{:>8} {:>9} {:>8} {:>12.0} {:>14.1} {:>14.1} {:>14.1}",
            messages,
            in_flight,
            batches,
            total / elapsed.as_secs_f64(),
            per_message(after.client - before.client),
            per_message(after.mock - before.mock),
            per_message(after.process - before.process),
        );
    }
    drop(mock);
}

fn runtime(name: &str, threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `batch` from a task of the client runtime, so all the gateway's work runs on its
/// named threads, and checks every message was delivered.
fn send(client_rt: &Runtime, gateway: &Arc<FcmGateway>, batch: Batch) {
    let gateway = gateway.clone();
    let outcomes = client_rt
        .block_on(client_rt.spawn(async move { gateway.send(&batch).await }))
        .unwrap();
    let delivered = outcomes
        .iter()
        .filter(|o| **o == DeliveryOutcome::Delivered)
        .count();
    assert_eq!(delivered, outcomes.len(), "{:?}", outcomes.first());
}

#[derive(Debug, Default)]
struct CpuTicks {
    client: u64,
    mock: u64,
    process: u64,
}

/// User + system clock ticks of the client threads, the mock threads and the whole process.
fn cpu_ticks() -> CpuTicks {
    let mut ticks = CpuTicks::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return ticks;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let used = stat_ticks(&stat);
        match comm.trim() {
            "gw-client" => ticks.client += used,
            "gw-mock" => ticks.mock += used,
            _ => {}
        }
    }
    ticks.process = std::fs::read_to_string("/proc/self/stat")
        .map(|s| stat_ticks(&s))
        .unwrap_or(0);
    ticks
}

/// `utime + stime` (fields 14 and 15) of a `/proc/…/stat` line; the name in parentheses may
/// hold spaces, so fields are counted after its closing parenthesis.
fn stat_ticks(stat: &str) -> u64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name, field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    field(11) + field(12)
}
