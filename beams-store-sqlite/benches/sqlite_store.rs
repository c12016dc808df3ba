//! `SqliteDeviceStore` against a raw rusqlite baseline doing the same SQL, in one run.
//!
//! Each group has two ids. `store` calls the store through `&dyn DeviceStore`, driven by a
//! tokio multi-thread runtime's `block_on`: the store runs its SQLite work on the blocking pool,
//! so that hop is part of the cost. `raw_rusqlite` runs the store's SQL (from `src/queries.rs`)
//! in a plain loop on one `Connection` to its own file, with the store's schema, WAL,
//! `synchronous = NORMAL` (the store's default too) and a copy of the store's rows. Throughput
//! is per element, so criterion prints operations per second:
//!
//! - `associate`: a user at the limit (100 FCM devices) gets a device it does not have, so each
//!   association also evicts the oldest; evicted devices are the next ones associated.
//! - `devices_of_user/{store,raw_rusqlite}/{5,300}`: one user's devices (platforms in turn; 300 is
//!   100 per platform); an element is one lookup.
//! - `devices_of_users_1000`: 1000 users with 3 devices each in one call (the baseline passes the
//!   ids as one JSON array, like the store); an element is one device returned.
//!
//! The target: `store` at least 0.7× the throughput of `raw_rusqlite` in every group.
//!
//! Run with `cargo bench -p beams-store-sqlite`. For a short run, name the bench so the flags
//! reach criterion and not the library's test harness:
//! `cargo bench -p beams-store-sqlite --bench sqlite_store -- --warm-up-time 1 --measurement-time 4`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::path::Path;

use beams_core::testing::fixtures::{associate, policy, register, user};
use beams_core::{
    AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceId, DeviceStore, Platform,
    Timestamp, UserId, WhenFull,
};
use beams_store_sqlite::rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use beams_store_sqlite::{SqliteDeviceStore, SqliteOptions};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const USER_DEVICES: &str = "SELECT id, platform, token, web_p256dh, web_auth, user_id, metadata, \
     created_at, associated_at, token_registered_at FROM devices \
     WHERE user_id = ?1 ORDER BY associated_at, id";

const USERS_DEVICES: &str = "SELECT id, platform, token, web_p256dh, web_auth, user_id, metadata, \
     created_at, associated_at, token_registered_at FROM devices \
     WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY user_id, associated_at, id";

/// Devices per platform per user: the default policy's limit.
const LIMIT: usize = 100;
/// Free devices waiting to be associated in `associate` (evicted ones rejoin the queue).
const POOL: usize = 10;
const ALL_PLATFORMS: [Platform; 3] = [Platform::Fcm, Platform::Apns, Platform::Web];

/// A device row as the baseline reads it: every column, as plain Rust values.
type RawRow = (
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    i64,
);

fn limit_policy() -> AssociationPolicy {
    policy(LIMIT, WhenFull::EvictOldest)
}

fn open_store(rt: &Runtime, path: &Path) -> SqliteDeviceStore {
    rt.block_on(SqliteDeviceStore::open_with(path, SqliteOptions::default()))
        .expect("the bench store opens")
}

/// Registers `count` devices (platforms in turn), associating each with `who` if given;
/// `next` numbers tokens and times.
async fn seed(
    store: &dyn DeviceStore,
    who: Option<&UserId>,
    platforms: &[Platform],
    count: usize,
    next: &mut i64,
) -> Vec<DeviceId> {
    let mut ids = Vec::with_capacity(count);
    for platform in platforms.iter().cycle().take(count) {
        *next += 1;
        let device = register(store, *platform, next.unsigned_abs(), *next).await;
        if let Some(who) = who {
            let outcome = associate(store, &device.id, who, limit_policy(), *next).await;
            let fresh = AssociationOutcome::Associated {
                evicted: Vec::new(),
            };
            assert_eq!(outcome, fresh, "seeding stays within the limit");
        }
        ids.push(device.id);
    }
    ids
}

/// The baseline's connection: its own file, a copy of `store_file` (schema and rows, made by
/// SQLite itself so the schema is never written twice), with the store's pragmas.
fn raw_copy(path: &Path, store_file: &Path) -> Connection {
    let target = path.to_str().expect("the temp path is UTF-8");
    Connection::open(store_file)
        .and_then(|source| source.execute("VACUUM INTO ?1", [target]))
        .expect("the store file is copied");
    let conn = Connection::open(path).expect("the baseline file opens");
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .expect("the baseline switches to WAL");
    assert!(
        mode.eq_ignore_ascii_case("wal"),
        "the baseline is in WAL mode"
    );
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("the baseline sets synchronous");
    conn
}

/// The store's association SQL for a free device of `who` at the limit; returns the evicted
/// device, chosen as the store's policy does: the oldest association, ties by id.
fn raw_associate(conn: &mut Connection, device: &str, who: &str, at: i64) -> Option<String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("the baseline begins");
    let current: Option<Option<String>> = tx
        .prepare_cached("SELECT user_id FROM devices WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([device], |row| row.get(0)).optional())
        .expect("the baseline reads the device");
    assert_eq!(current, Some(None), "the baseline associates free devices");
    let associated: Vec<(String, i64)> = tx
        .prepare_cached(
            "SELECT id, associated_at FROM devices WHERE user_id = ?1 AND platform = ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![who, "fcm"], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .expect("the baseline reads the user's devices");
    let others = associated.iter().filter(|(id, _)| id != device);
    let evicted = if others.clone().count() >= LIMIT {
        others
            .min_by_key(|(id, at)| (*at, id))
            .map(|(id, _)| id.clone())
    } else {
        None
    };
    if let Some(id) = &evicted {
        tx.prepare_cached("UPDATE devices SET user_id = NULL, associated_at = NULL WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .expect("the baseline evicts");
    }
    tx.prepare_cached("UPDATE devices SET user_id = ?2, associated_at = ?3 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![device, who, at]))
        .expect("the baseline associates");
    tx.commit().expect("the baseline commits");
    evicted
}

/// Runs a device query of the baseline, reading every column of every row.
fn raw_devices(conn: &Connection, sql: &str, param: &str) -> Vec<RawRow> {
    let mut stmt = conn.prepare_cached(sql).expect("the baseline prepares");
    let rows = stmt
        .query_map([param], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
            ))
        })
        .expect("the baseline queries");
    rows.collect::<Result<_, _>>()
        .expect("the baseline reads rows")
}

fn bench_associate(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let file = dir.join("associate.db");
    let sqlite = open_store(rt, &file);
    let store: &dyn DeviceStore = &sqlite;
    let who = user("full-user");
    let mut next = 0;
    rt.block_on(seed(store, Some(&who), &[Platform::Fcm], LIMIT, &mut next));
    let free = rt.block_on(seed(store, None, &[Platform::Fcm], POOL, &mut next));
    let mut raw = raw_copy(&dir.join("associate-raw.db"), &file);

    let mut group = c.benchmark_group("associate");
    group.throughput(Throughput::Elements(1));
    let (mut pool, mut at) = (VecDeque::from(free.clone()), next);
    group.bench_function("store", |b| {
        b.iter(|| {
            at += 1;
            let request = AssociationRequest {
                device: pool.pop_front().expect("evictions refill the pool"),
                user: who.clone(),
                policy: limit_policy(),
                at: Timestamp::from_unix_millis(at),
            };
            match rt.block_on(store.associate(&request)) {
                Ok(Some(AssociationOutcome::Associated { evicted })) if evicted.len() == 1 => {
                    pool.extend(evicted)
                }
                other => panic!("expected one eviction, got {other:?}"),
            }
        })
    });
    let mut pool: VecDeque<String> = free.iter().map(|id| id.as_str().to_owned()).collect();
    let mut at = next;
    group.bench_function("raw_rusqlite", |b| {
        b.iter(|| {
            at += 1;
            let device = pool.pop_front().expect("evictions refill the pool");
            let evicted = raw_associate(&mut raw, &device, who.as_str(), at);
            pool.push_back(evicted.expect("at the limit the baseline evicts one"));
        })
    });
    group.finish();
}

fn bench_lookups(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let file = dir.join("lookups.db");
    let sqlite = open_store(rt, &file);
    let store: &dyn DeviceStore = &sqlite;
    let mut next = 0;
    let singles = [
        (5, user("five-devices")),
        (300, user("three-hundred-devices")),
    ];
    for (count, who) in &singles {
        rt.block_on(seed(store, Some(who), &ALL_PLATFORMS, *count, &mut next));
    }
    let many: Vec<UserId> = (0..1000).map(|i| user(&format!("user-{i:04}"))).collect();
    for who in &many {
        rt.block_on(seed(store, Some(who), &ALL_PLATFORMS, 3, &mut next));
    }
    let raw = raw_copy(&dir.join("lookups-raw.db"), &file);

    let mut group = c.benchmark_group("devices_of_user");
    group.throughput(Throughput::Elements(1));
    for (count, who) in &singles {
        let found = rt
            .block_on(store.devices_of_user(who))
            .expect("devices_of_user succeeds");
        assert_eq!(found.len(), *count, "the store finds every device");
        let found = raw_devices(&raw, USER_DEVICES, who.as_str());
        assert_eq!(found.len(), *count, "the baseline finds every device");
        group.bench_function(BenchmarkId::new("store", count), |b| {
            b.iter(|| rt.block_on(store.devices_of_user(black_box(who))))
        });
        group.bench_function(BenchmarkId::new("raw_rusqlite", count), |b| {
            b.iter(|| raw_devices(&raw, USER_DEVICES, black_box(who.as_str())))
        });
    }
    group.finish();

    let devices = 3 * many.len();
    let found = rt
        .block_on(store.devices_of_users(&many))
        .expect("devices_of_users succeeds");
    assert_eq!(found.len(), devices, "the store finds every device");
    let names: Vec<&str> = many.iter().map(UserId::as_str).collect();
    let raw_many = || {
        let ids = serde_json::to_string(black_box(&names)).expect("user ids serialize");
        raw_devices(&raw, USERS_DEVICES, &ids)
    };
    assert_eq!(raw_many().len(), devices, "the baseline finds every device");

    let mut group = c.benchmark_group("devices_of_users_1000");
    group.throughput(Throughput::Elements(devices as u64));
    group.sample_size(20);
    group.bench_function("store", |b| {
        b.iter(|| rt.block_on(store.devices_of_users(black_box(&many))))
    });
    group.bench_function("raw_rusqlite", |b| b.iter(raw_many));
    group.finish();
}

fn sqlite_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("a tokio runtime starts");
    // Every file lives here until the last group has run.
    let dir = tempfile::tempdir().expect("a temp dir is created");
    bench_associate(c, &rt, dir.path());
    bench_lookups(c, &rt, dir.path());
}

criterion_group!(benches, sqlite_store);
criterion_main!(benches);
