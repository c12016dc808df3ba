//! Device Interests at scale on SQLite: one publish to an interest with 100,000 subscribed
//! devices, against the store's own paging, and its peak memory (see the shared harness in
//! `beams-core/benches/support/interest_fanout.rs`).
//!
//! Run with `cargo bench -p beams-store-sqlite --bench interests` (about a minute on two cores).

#[path = "../../beams-core/benches/support/interest_fanout.rs"]
mod interest_fanout;

use std::path::Path;

use beams_store_sqlite::SqliteDeviceStore;
use interest_fanout::BenchStore;
use tokio::runtime::Runtime;

impl BenchStore for SqliteDeviceStore {
    const NAME: &'static str = "sqlite";
    const BUILDERS: usize = 32;

    fn open(rt: &Runtime, path: &Path) -> Result<Self, String> {
        rt.block_on(SqliteDeviceStore::open(path))
            .map_err(|e| format!("the store does not open: {e}"))
    }
}

fn main() {
    interest_fanout::run::<SqliteDeviceStore>();
}
