//! Device Interests at scale on SQLite: one publish to an interest with 100,000 subscribed
//! devices, against the store's own paging, and its peak memory (see the shared harness in
//! `beams_test_support::bench::interest_fanout`).
//!
//! Run with `cargo bench -p beams-store-sqlite --bench interests` (about a minute on two cores).

use beams_store_sqlite::SqliteDeviceStore;
use beams_test_support::bench::interest_fanout::{self, BenchStore};

fn main() {
    interest_fanout::run(BenchStore {
        name: "sqlite",
        builders: 32,
        open: |rt, path| {
            rt.block_on(SqliteDeviceStore::open(path))
                .map_err(|e| format!("the store does not open: {e}"))
        },
    });
}
