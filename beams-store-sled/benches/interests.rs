//! Device Interests at scale on sled: one publish to an interest with 100,000 subscribed
//! devices, against the store's own paging, and its peak memory (see the shared harness in
//! `beams_test_support::bench::interest_fanout`). The store writes out every 500 ms: a
//! publish whose deliveries all succeed writes nothing, so durability only speeds the build.
//!
//! Run with `cargo bench -p beams-store-sled --bench interests` (about a minute on two cores).

use std::time::Duration;

use beams_store_sled::{Durability, SledDeviceStore};
use beams_test_support::bench::interest_fanout::{self, BenchStore};

fn main() {
    interest_fanout::run(BenchStore {
        name: "sled",
        // As many writes as the store's writer commits in one group.
        builders: 64,
        open: |_rt, path| {
            SledDeviceStore::open_with(path, Durability::FlushEvery(Duration::from_millis(500)))
                .map_err(|e| format!("the store does not open: {e}"))
        },
    });
}
