//! `PostgresDeviceStore` against a raw tokio-postgres baseline sending the same SQL, in one run.
//!
//! The run makes a schema of its own on the test database (`TestSchema`; without a database it
//! says so and measures nothing). Each group has two ids. `store` calls the store through
//! `&dyn DeviceStore`. `raw_sql` sends the statements the store sends (copied below from
//! `src/queries.rs`) through the same kind of client — a `deadpool_postgres` pool of the same
//! size, built from the same URL, with `prepare_cached` — and nothing around them: rows are
//! read into plain tuples, and the eviction choice is inlined. Concurrency comes from tasks on a
//! tokio multi-thread runtime sharing the iteration count; a measurement is the wall time from
//! the first task's start to the last one's end. The database allows 100 connections, so the
//! `store` ids of a group run first, then its pool is closed and the baseline's opens. Before a
//! group, the seeded tables are vacuumed, analyzed and checkpointed, and the store gets a fresh
//! pool like the baseline's: otherwise the ids measured first run behind the seeding's disk
//! write-back (single-caller associations, each waiting on a WAL flush, then read about half
//! what they do in an interleaved run). Throughput is per element, so criterion prints
//! operations per second:
//!
//! - `associate/{store,raw_sql}/{1,16,64}`: 1, 16 or 64 concurrent callers, each with a user of
//!   its own at the limit (100 FCM devices), so callers never wait on each other's user lock and
//!   every association also evicts the user's oldest device; evicted devices are the caller's
//!   next ones to associate. One association is what the store sends for a free device: the
//!   lock-free read of its user (`SELECT_USER_OF`, on one pooled connection), then on another
//!   `BEGIN`, `INSERT_USER`, `LOCK_USER`, `LOCK_USER_OF` and `SELECT_ASSOCIATED` pipelined, the
//!   four changes pipelined, `COMMIT`. An element is one association.
//! - `devices_of_user/{store,raw_sql}/{1,16,64}`: one user's 5 devices (platforms in turn) read
//!   by 1, 16 or 64 concurrent callers; an element is one lookup.
//! - `devices_of_users_1000`: 1000 users with 3 devices each in one call, by one caller; an
//!   element is one device returned.
//!
//! The target: `store` at least 0.7× the throughput of `raw_sql` in every group.
//!
//! Run with `cargo bench -p beams-store-postgres --bench postgres_store` (the database is
//! `BEAMS_TEST_DATABASE_URL`, or the local `postgres://postgres@127.0.0.1:5432/test`). For a
//! short run: `cargo bench -p beams-store-postgres --bench postgres_store -- --warm-up-time 1
//! --measurement-time 5`.

use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use beams_core::testing::fixtures::{policy, register, user};
use beams_core::{
    AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceId, DeviceStore, Platform,
    Timestamp, UserId, WhenFull,
};
use beams_store_postgres::deadpool_postgres::tokio_postgres::{self, NoTls};
use beams_store_postgres::deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime as PoolRuntime,
};
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_test_support::postgres::TestSchema;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::try_join4;
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;

const SELECT_USER_OF: &str = "SELECT user_id FROM devices WHERE id = $1";
const INSERT_USER: &str =
    "INSERT INTO users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";
const LOCK_USER: &str = "SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE";
const LOCK_USER_OF: &str = "SELECT user_id FROM devices WHERE id = $1 FOR UPDATE";
const SELECT_ASSOCIATED: &str =
    "SELECT device_id, associated_at FROM user_devices WHERE user_id = $1 AND platform = $2";
const DISASSOCIATE: &str =
    "UPDATE devices SET user_id = NULL, associated_at = NULL WHERE id = ANY($1) AND user_id = $2";
const UNLIST: &str = "DELETE FROM user_devices WHERE user_id = $1 AND device_id = ANY($2)";
const ASSOCIATE: &str = "UPDATE devices SET user_id = $2, associated_at = $3 WHERE id = $1";
const LIST: &str = "INSERT INTO user_devices (user_id, device_id, platform, associated_at) \
     VALUES ($1, $2, $3, $4)";
const SELECT_BY_USER: &str = "SELECT d.id, d.platform, d.token, d.web_p256dh, d.web_auth, \
     d.user_id, d.metadata, d.created_at, d.associated_at, d.token_registered_at \
     FROM user_devices u JOIN devices d ON d.id = u.device_id AND d.user_id = u.user_id \
     WHERE u.user_id = $1 ORDER BY u.associated_at, u.device_id";
const SELECT_BY_USERS: &str = "SELECT d.id, d.platform, d.token, d.web_p256dh, d.web_auth, \
     d.user_id, d.metadata, d.created_at, d.associated_at, d.token_registered_at \
     FROM user_devices u JOIN devices d ON d.id = u.device_id AND d.user_id = u.user_id \
     WHERE u.user_id = ANY ($1) ORDER BY u.user_id, u.associated_at, u.device_id";

/// Devices per platform per user: the default policy's limit.
const LIMIT: usize = 100;
/// Free devices each `associate` caller starts with (evicted ones rejoin its queue).
const SPARE: usize = 4;
/// Concurrent callers in the groups that vary them.
const CALLERS: [usize; 3] = [1, 16, 64];
/// Connections in the store's pool and in the baseline's: one per caller at most.
const POOL_SIZE: usize = 64;
/// Concurrent tasks seeding the schema.
const SEEDERS: usize = 16;
const ALL_PLATFORMS: [Platform; 3] = [Platform::Fcm, Platform::Apns, Platform::Web];

/// A device row as the baseline reads it: every column, as plain Rust values.
type RawRow = (
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    String,
    i64,
    Option<i64>,
    i64,
);

fn limit_policy() -> AssociationPolicy {
    policy(LIMIT, WhenFull::EvictOldest)
}

fn connect_store(rt: &Runtime, url: &str) -> PostgresDeviceStore {
    let options = PostgresOptions::default().pool_size(POOL_SIZE);
    rt.block_on(PostgresDeviceStore::connect_with(url, options))
        .expect("the bench store connects")
}

/// Vacuums and analyzes the seeded tables and flushes them to disk, so both ids start from the
/// same settled state and neither an autovacuum nor the write-back of the seeding runs under a
/// measurement (commits wait on a WAL flush, which a write-back in progress slows).
fn settle(rt: &Runtime, schema: &TestSchema) {
    rt.block_on(async {
        let client = schema.client().await;
        // Apart: VACUUM cannot run in the transaction a multi-statement batch is.
        client
            .batch_execute("VACUUM ANALYZE devices, users, user_devices")
            .await?;
        client.batch_execute("CHECKPOINT").await
    })
    .expect("the seeded schema is vacuumed");
}

/// The baseline's pool: the store's kind of pool, same size, same URL, no store around it.
fn raw_pool(url: &str) -> Pool {
    let config: tokio_postgres::Config = url.parse().expect("the schema URL parses");
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    Pool::builder(Manager::from_config(config, NoTls, manager_config))
        .max_size(POOL_SIZE)
        .runtime(PoolRuntime::Tokio1)
        .build()
        .expect("the baseline pool builds")
}

/// Runs `iters` operations shared among the first `callers` of `workers`, each in a task of its
/// own (`op(worker, share)` answers the worker back, so its state carries to the next sample);
/// answers the wall time until the last task ends.
fn concurrently<W, Fut>(
    rt: &Runtime,
    workers: &mut Vec<W>,
    callers: usize,
    iters: u64,
    op: impl Fn(W, u64) -> Fut,
) -> Duration
where
    W: Send + 'static,
    Fut: Future<Output = W> + Send + 'static,
{
    let n = callers as u64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .zip(workers.drain(..callers))
        .map(|(i, worker)| rt.spawn(op(worker, iters / n + u64::from(i < iters % n))))
        .collect();
    let done: Vec<W> = rt.block_on(async {
        let mut done = Vec::with_capacity(tasks.len());
        for task in tasks {
            done.push(task.await.expect("a bench task did not panic"));
        }
        done
    });
    let elapsed = start.elapsed();
    workers.splice(0..0, done);
    elapsed
}

/// Runs `seed(i)` for every `i` in `0..count` from [`SEEDERS`] tasks.
fn seed_concurrently<T, Fut>(rt: &Runtime, count: usize, seed: impl Fn(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut seeded = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(SEEDERS) {
        let tasks: Vec<_> = chunk.iter().map(|&i| rt.spawn(seed(i))).collect();
        for task in tasks {
            seeded.push(rt.block_on(task).expect("a seeding task did not panic"));
        }
    }
    seeded
}

/// A caller of the `associate` group: its user, at the limit, and the free devices it
/// associates next.
struct Caller {
    user: UserId,
    free: VecDeque<DeviceId>,
    at: i64,
}

/// Registers `LIMIT + SPARE` FCM devices for caller `n` (tokens numbered from `first`) and
/// associates `LIMIT` of them with `who`, at times `1..=LIMIT`.
async fn seed_caller(store: PostgresDeviceStore, who: UserId, first: u64) -> Caller {
    let store: &dyn DeviceStore = &store;
    let mut free = VecDeque::new();
    for k in 0..(LIMIT + SPARE) as u64 {
        let device = register(store, Platform::Fcm, first + k, 1).await;
        if k < LIMIT as u64 {
            associate_within_limit(store, device.id, &who, k as i64 + 1).await;
        } else {
            free.push_back(device.id);
        }
    }
    Caller {
        user: who,
        free,
        at: LIMIT as i64,
    }
}

/// One association through the store; its evicted device rejoins the caller's queue.
async fn store_associate(store: &dyn DeviceStore, caller: &mut Caller) {
    caller.at += 1;
    let request = AssociationRequest {
        device: caller.free.pop_front().expect("evictions refill the queue"),
        user: caller.user.clone(),
        policy: limit_policy(),
        at: Timestamp::from_unix_millis(caller.at),
    };
    match store.associate(&request).await {
        Ok(Some(AssociationOutcome::Associated { evicted })) if evicted.len() == 1 => {
            caller.free.extend(evicted)
        }
        other => panic!("expected one eviction, got {other:?}"),
    }
}

/// Prepares (cached) and runs a statement, answering the rows it changed.
async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = client.prepare_cached(sql).await?;
    client.execute(&stmt, params).await
}

/// Runs a cached statement, answering its rows.
async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(sql).await?;
    client.query(&stmt, params).await
}

/// The store's association statements for a free device of `who` at the limit, with the
/// eviction chosen inline as the policy does: the oldest association, ties by id. Answers the
/// evicted device.
async fn raw_associate(pool: &Pool, device: &str, who: &[u8], at: i64) -> String {
    {
        let client = pool.get().await.expect("a baseline connection");
        let stmt = client
            .prepare_cached(SELECT_USER_OF)
            .await
            .expect("prepares");
        let row = client.query_opt(&stmt, &[&device]).await.expect("reads");
        let current: Option<&[u8]> = row.as_ref().expect("the device exists").get(0);
        assert!(current.is_none(), "the baseline associates free devices");
    }
    let mut client = pool.get().await.expect("a baseline connection");
    let tx = client.transaction().await.expect("the baseline begins");
    let (_, locked, locked_device, rows) = try_join4(
        execute(&tx, INSERT_USER, &[&who]),
        execute(&tx, LOCK_USER, &[&who]),
        query(&tx, LOCK_USER_OF, &[&device]),
        query(&tx, SELECT_ASSOCIATED, &[&who, &"fcm"]),
    )
    .await
    .expect("locks and reads");
    assert_eq!(locked, 1, "the user has a row");
    let current: Option<&[u8]> = locked_device.first().expect("the device exists").get(0);
    assert!(current.is_none(), "the device is still free");
    let others: Vec<(i64, &str)> = rows
        .iter()
        .map(|row| (row.get(1), row.get(0)))
        .filter(|(_, id)| *id != device)
        .collect();
    let evicted = match others.iter().min() {
        Some((_, oldest)) if others.len() >= LIMIT => vec![*oldest],
        _ => Vec::new(),
    };
    let platform = "fcm";
    let changed = try_join4(
        execute(&tx, DISASSOCIATE, &[&evicted, &who]),
        execute(&tx, ASSOCIATE, &[&device, &who, &at]),
        execute(&tx, UNLIST, &[&who, &evicted]),
        execute(&tx, LIST, &[&who, &device, &platform, &at]),
    )
    .await
    .expect("the changes apply");
    assert_eq!(changed, (1, 1, 1, 1), "one eviction, one association");
    let evicted = evicted[0].to_owned();
    tx.commit().await.expect("the baseline commits");
    evicted
}

fn bench_associate(c: &mut Criterion, rt: &Runtime, schema: &TestSchema) {
    let url = &schema.url();
    let callers = *CALLERS.iter().max().unwrap_or(&1);
    let seeding = connect_store(rt, url);
    let seed = |side: &'static str, first: usize| {
        let store = seeding.clone();
        move |n: usize| {
            let token = ((first + n) * (LIMIT + SPARE)) as u64;
            seed_caller(store.clone(), user(&format!("{side}-{n:02}")), token)
        }
    };
    let mut store_callers = seed_concurrently(rt, callers, seed("store", 0));
    let raw_callers = seed_concurrently(rt, callers, seed("raw", callers));
    let mut raw_callers: Vec<(String, VecDeque<String>, i64)> = raw_callers
        .into_iter()
        .map(|caller| {
            let free = caller.free.iter().map(|id| id.as_str().to_owned());
            (caller.user.as_str().to_owned(), free.collect(), caller.at)
        })
        .collect();
    seeding.pool().close();
    settle(rt, schema);

    // A fresh pool, as the baseline's: the seeding's connections would take turns under one
    // caller (deadpool hands out the longest idle first), where the baseline reuses one.
    let store = connect_store(rt, url);
    let mut group = c.benchmark_group("associate");
    group.throughput(Throughput::Elements(1));
    for n in CALLERS {
        group.bench_function(BenchmarkId::new("store", n), |b| {
            b.iter_custom(|iters| {
                concurrently(rt, &mut store_callers, n, iters, |mut caller, count| {
                    let store = store.clone();
                    async move {
                        for _ in 0..count {
                            store_associate(&store, &mut caller).await;
                        }
                        caller
                    }
                })
            })
        });
    }
    store.pool().close();
    let pool = raw_pool(url);
    for n in CALLERS {
        group.bench_function(BenchmarkId::new("raw_sql", n), |b| {
            b.iter_custom(|iters| {
                concurrently(rt, &mut raw_callers, n, iters, |caller, count| {
                    let pool = pool.clone();
                    async move {
                        let (who, mut free, mut at) = caller;
                        for _ in 0..count {
                            at += 1;
                            let device = free.pop_front().expect("evictions refill the queue");
                            free.push_back(raw_associate(&pool, &device, who.as_bytes(), at).await);
                        }
                        (who, free, at)
                    }
                })
            })
        });
    }
    pool.close();
    group.finish();
}

/// Runs a device query of the baseline, reading every column of every row.
async fn raw_devices(pool: &Pool, sql: &str, param: &(dyn ToSql + Sync)) -> Vec<RawRow> {
    let client = pool.get().await.expect("a baseline connection");
    let stmt = client.prepare_cached(sql).await.expect("prepares");
    let rows = client.query(&stmt, &[param]).await.expect("queries");
    rows.iter()
        .map(|row| {
            (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
                row.get(7),
                row.get(8),
                row.get(9),
            )
        })
        .collect()
}

/// Registers `count` devices for `who` (platforms in turn, tokens numbered from `first`) and
/// associates them under the limit.
async fn seed_user(store: PostgresDeviceStore, who: UserId, count: usize, first: u64) {
    let store: &dyn DeviceStore = &store;
    for (k, platform) in ALL_PLATFORMS.iter().cycle().take(count).enumerate() {
        let device = register(store, *platform, first + k as u64, 1).await;
        associate_within_limit(store, device.id, &who, k as i64 + 1).await;
    }
}

/// Associates `device` with `who` at `at`, which seeding keeps under the limit: no eviction.
async fn associate_within_limit(store: &dyn DeviceStore, device: DeviceId, who: &UserId, at: i64) {
    let request = AssociationRequest {
        device,
        user: who.clone(),
        policy: limit_policy(),
        at: Timestamp::from_unix_millis(at),
    };
    let outcome = store.associate(&request).await.expect("associate succeeds");
    let fresh = AssociationOutcome::Associated {
        evicted: Vec::new(),
    };
    assert_eq!(outcome, Some(fresh), "seeding stays within the limit");
}

fn bench_lookups(c: &mut Criterion, rt: &Runtime, schema: &TestSchema) {
    let url = &schema.url();
    // Tokens from here on do not meet the `associate` group's.
    let first_token = 1_000_000;
    let store = connect_store(rt, url);
    let single = user("five-devices");
    rt.block_on(seed_user(store.clone(), single.clone(), 5, first_token));
    let many: Vec<UserId> = (0..1000).map(|i| user(&format!("user-{i:04}"))).collect();
    seed_concurrently(rt, many.len(), |i| {
        let first = first_token + 10 + 3 * i as u64;
        seed_user(store.clone(), many[i].clone(), 3, first)
    });
    store.pool().close();
    settle(rt, schema);

    let mut group = c.benchmark_group("devices_of_user");
    group.throughput(Throughput::Elements(1));
    let store = connect_store(rt, url);
    let found = rt.block_on(store.devices_of_user(&single));
    let found = found.expect("devices_of_user succeeds");
    assert_eq!(found.len(), 5, "the store finds every device");
    for n in CALLERS {
        group.bench_function(BenchmarkId::new("store", n), |b| {
            b.iter_custom(|iters| {
                concurrently(rt, &mut vec![(); n], n, iters, |(), count| {
                    let (store, who) = (store.clone(), single.clone());
                    async move {
                        let store: &dyn DeviceStore = &store;
                        for _ in 0..count {
                            black_box(store.devices_of_user(black_box(&who)).await)
                                .expect("devices_of_user succeeds");
                        }
                    }
                })
            })
        });
    }
    store.pool().close();
    let pool = raw_pool(url);
    let raw_single = single.as_str().as_bytes().to_vec();
    let found = rt.block_on(raw_devices(&pool, SELECT_BY_USER, &raw_single));
    assert_eq!(found.len(), 5, "the baseline finds every device");
    for n in CALLERS {
        group.bench_function(BenchmarkId::new("raw_sql", n), |b| {
            b.iter_custom(|iters| {
                concurrently(rt, &mut vec![(); n], n, iters, |(), count| {
                    let (pool, who) = (pool.clone(), raw_single.clone());
                    async move {
                        for _ in 0..count {
                            black_box(raw_devices(&pool, SELECT_BY_USER, black_box(&who)).await);
                        }
                    }
                })
            })
        });
    }
    pool.close();
    group.finish();

    let devices = 3 * many.len();
    let mut group = c.benchmark_group("devices_of_users_1000");
    group.throughput(Throughput::Elements(devices as u64));
    group.sample_size(20);
    let store = connect_store(rt, url);
    let found = rt.block_on(store.devices_of_users(&many));
    let found = found.expect("devices_of_users succeeds");
    assert_eq!(found.len(), devices, "the store finds all");
    let dyn_store: &dyn DeviceStore = &store;
    group.bench_function("store", |b| {
        b.iter(|| rt.block_on(dyn_store.devices_of_users(black_box(&many))))
    });
    store.pool().close();
    let pool = raw_pool(url);
    let names: Vec<&[u8]> = many.iter().map(|who| who.as_str().as_bytes()).collect();
    let found = rt.block_on(raw_devices(&pool, SELECT_BY_USERS, &names));
    assert_eq!(found.len(), devices, "the baseline finds all");
    group.bench_function("raw_sql", |b| {
        b.iter(|| rt.block_on(raw_devices(&pool, SELECT_BY_USERS, black_box(&names))))
    });
    pool.close();
    group.finish();
}

fn postgres_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    // Every table lives here until the last group has run.
    let Some(schema) = rt.block_on(TestSchema::create()) else {
        println!("postgres_store: no PostgreSQL to measure against; nothing measured");
        return;
    };
    bench_associate(c, &rt, &schema);
    bench_lookups(c, &rt, &schema);
}

criterion_group!(benches, postgres_store);
criterion_main!(benches);
