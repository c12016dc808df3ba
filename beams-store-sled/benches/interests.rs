//! Device Interests at scale on sled: one publish to an interest with 100,000 subscribed
//! devices, against the store's own paging, and its peak memory (see the shared harness in
//! `beams-core/benches/support/interest_fanout.rs`). The store writes out every 500 ms: a
//! publish whose deliveries all succeed writes nothing, so durability only speeds the build.
//!
//! Run with `cargo bench -p beams-store-sled --bench interests` (about a minute on two cores).

#[path = "../../beams-core/benches/support/interest_fanout.rs"]
mod interest_fanout;

use std::path::Path;
use std::time::Duration;

use beams_store_sled::{Durability, SledDeviceStore};
use interest_fanout::BenchStore;
use tokio::runtime::Runtime;

impl BenchStore for SledDeviceStore {
    const NAME: &'static str = "sled";
    // As many writes as the store's writer commits in one group.
    const BUILDERS: usize = 64;

    fn open(_rt: &Runtime, path: &Path) -> Result<Self, String> {
        SledDeviceStore::open_with(path, Durability::FlushEvery(Duration::from_millis(500)))
            .map_err(|e| format!("the store does not open: {e}"))
    }
}

fn main() {
    interest_fanout::run::<SledDeviceStore>();
}
