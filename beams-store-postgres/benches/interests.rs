//! Device Interests at scale on PostgreSQL, beside SQLite in the same run: one publish to an
//! interest with 100,000 subscribed devices, against the store's own paging, and its peak
//! memory (see the shared harness in `beams_test_support::bench::interest_fanout`).
//!
//! The harness runs one store per process, and its memory step runs this binary again for each
//! measurement, opening the store afresh. So this process only makes a schema on the test
//! database (`TestSchema`, kept until both runs end), then runs itself twice, one store each —
//! SQLite first, then PostgreSQL — naming the store in `BEAMS_INTERESTS_BENCH_STORE` and, for
//! PostgreSQL, the schema's URL in `BEAMS_INTERESTS_BENCH_POSTGRES_URL`; the harness's own
//! children inherit both, so every measurement of a run is on the same store. The path the
//! harness passes is ignored on PostgreSQL. Without a database, only SQLite runs.
//!
//! Run with `cargo bench -p beams-store-postgres --bench interests` (a few minutes on two
//! cores; most of it building the PostgreSQL store).

use std::process::Command;

use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_store_sqlite::SqliteDeviceStore;
use beams_test_support::bench::interest_fanout::{self, BenchStore};
use beams_test_support::postgres::TestSchema;

/// Set in a run of one store: `sqlite` or `postgres`.
const STORE_ENV: &str = "BEAMS_INTERESTS_BENCH_STORE";
/// Set in the PostgreSQL run: the URL of the schema the parent made.
const URL_ENV: &str = "BEAMS_INTERESTS_BENCH_POSTGRES_URL";
/// Tasks building the store, and connections in the PostgreSQL store's pool.
const BUILDERS: usize = 32;

fn main() {
    match std::env::var(STORE_ENV).as_deref() {
        Ok("sqlite") => interest_fanout::run(BenchStore {
            name: "sqlite",
            builders: BUILDERS,
            open: |rt, path| {
                rt.block_on(SqliteDeviceStore::open(path))
                    .map_err(|e| format!("the store does not open: {e}"))
            },
        }),
        Ok("postgres") => interest_fanout::run(BenchStore {
            name: "postgres",
            builders: BUILDERS,
            open: |rt, _path| {
                let url = std::env::var(URL_ENV).map_err(|_| format!("{URL_ENV} is not set"))?;
                let options = PostgresOptions::default().pool_size(BUILDERS);
                rt.block_on(PostgresDeviceStore::connect_with(&url, options))
                    .map_err(|e| format!("the store does not connect: {e}"))
            },
        }),
        _ => side_by_side(),
    }
}

/// Runs the benchmark on SQLite, then on PostgreSQL in a schema of its own.
fn side_by_side() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let schema = rt.block_on(TestSchema::create());
    run_store("sqlite", None);
    match &schema {
        Some(schema) => run_store("postgres", Some(schema.url())),
        None => println!("\ninterests on postgres: not measured, no PostgreSQL to measure on"),
    }
}

/// Runs this binary again, with its arguments, on the store `name`.
fn run_store(name: &str, url: Option<String>) {
    println!("\n=== interests on {name} ===");
    let exe = std::env::current_exe().expect("the bench binary knows its path");
    let mut command = Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .env(STORE_ENV, name);
    if let Some(url) = url {
        command.env(URL_ENV, url);
    }
    let status = command.status().expect("the bench binary runs again");
    assert!(status.success(), "the {name} run failed: {status}");
}
