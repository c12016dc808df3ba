//! What checkpoints cost a fan-out: one publish to 1000 users × 3 devices (one per platform)
//! on a SQLite device store, with a gateway that answers `Delivered` at once, three ways in
//! one run (group `journaled_fanout`, throughput in deliveries per second, multi-thread
//! runtime of two workers, as the server runs):
//!
//! - `unjournaled`, the baseline: the body parsed, `Beams::publication` and `deliver` — no
//!   journal writes at all;
//! - `memory_journal`: `Beams::accept` (the same parse, then the journal entry) and
//!   `deliver`, journaling in a `MemoryPublishJournal`: the engine's own checkpoint work
//!   (progress encoded after each page of 100 users, the lease renewed) without a disk;
//! - `sqlite_journal`: the same with the store's `SqlitePublishJournal` in the same database
//!   file, as `beams-server` runs: an accept, a checkpoint per page (10) and the finish, each
//!   a committed write.
//!
//! The target: `sqlite_journal` at least 0.9× `unjournaled`.
//!
//! Run with `cargo bench -p beams-store-sqlite --bench journaled_fanout`
//! (add `-- --warm-up-time 1 --measurement-time 5` for a short run).

use std::sync::Arc;

use beams_core::{
    Beams, MemoryPublishJournal, Platform, PublishRequest, PublishTargetKind, UserId,
};
use beams_store_sqlite::SqliteDeviceStore;
use beams_test_support::bench::harness::{delivered, engine, journaled_engine, populate_users};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tokio::runtime::Runtime;

/// Users in the publish: one full request.
const USERS: usize = PublishRequest::MAX_USERS;
/// Deliveries per publish.
const DELIVERIES: usize = USERS * Platform::ALL.len();

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts")
}

/// The publish body, as the publish API receives it: every user, a section per platform.
fn body(users: &[UserId]) -> Vec<u8> {
    let section = json!({"notification": {"title": "Hello", "body": "A benchmark notification"}});
    let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
    json!({"users": users, "apns": {"aps": {"alert": "Hello"}}, "fcm": section, "web": section})
        .to_string()
        .into_bytes()
}

async fn unjournaled(beams: &Beams, body: &[u8]) -> usize {
    let request = PublishRequest::parse(PublishTargetKind::Users, body).expect("a valid body");
    let publication = beams.publication(request).expect("has sections");
    delivered(&publication.deliver().await)
}

async fn journaled(beams: &Beams, body: &[u8]) -> usize {
    let publication = beams
        .accept(PublishTargetKind::Users, body)
        .await
        .expect("accepted");
    delivered(&publication.deliver().await)
}

fn journaled_fanout(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = rt
        .block_on(SqliteDeviceStore::open(dir.path().join("beams.db")))
        .expect("the store opens");
    let users = rt.block_on(populate_users(&store, USERS));
    let body = body(&users);
    let plain = engine(store.clone());
    let in_memory = journaled_engine(store.clone(), Arc::new(MemoryPublishJournal::new()));
    let on_disk = journaled_engine(store.clone(), Arc::new(store.journal()));
    for beams in [&in_memory, &on_disk] {
        assert_eq!(rt.block_on(journaled(beams, &body)), DELIVERIES);
    }
    assert_eq!(rt.block_on(unjournaled(&plain, &body)), DELIVERIES);

    let mut group = c.benchmark_group("journaled_fanout");
    group.throughput(Throughput::Elements(DELIVERIES as u64));
    group.bench_function("unjournaled", |b| {
        b.iter(|| rt.block_on(unjournaled(&plain, &body)))
    });
    group.bench_function("memory_journal", |b| {
        b.iter(|| rt.block_on(journaled(&in_memory, &body)))
    });
    group.bench_function("sqlite_journal", |b| {
        b.iter(|| rt.block_on(journaled(&on_disk, &body)))
    });
    group.finish();
}

criterion_group!(benches, journaled_fanout);
criterion_main!(benches);
