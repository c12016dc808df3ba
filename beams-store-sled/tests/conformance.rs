//! The beams-core conformance suite, every rule, on sled: in a directory (with reopen), in a
//! temporary sled database through `from_db`, through `Arc<dyn DeviceStore>`, and flushing on
//! an interval instead of every write.

use std::path::PathBuf;

use beams_core::testing::Guarded;
use beams_store_sled::SledDeviceStore;
use tempfile::TempDir;

/// A new store in a temporary directory that lives as long as the store.
async fn in_a_directory() -> Guarded<SledDeviceStore, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SledDeviceStore::open(dir.path().join("devices")).expect("a new store opens");
    Guarded::new(store, dir)
}

#[allow(
    dead_code,
    reason = "the conformance suite reopens the store, never raw sled"
)]
mod released;

mod directory {
    use super::*;

    beams_core::device_store_conformance!(
        in_a_directory,
        reopen: async |dir: PathBuf| released::open_store(&dir.join("devices"))
    );
}

mod temporary_db {
    beams_core::device_store_conformance!(async || {
        let db = beams_store_sled::sled::Config::new()
            .temporary(true)
            .open()
            .expect("a temporary sled database opens");
        beams_store_sled::SledDeviceStore::from_db(db).expect("the store opens on it")
    });
}

mod through_arc_dyn {
    use std::sync::Arc;

    use beams_core::DeviceStore;

    beams_core::device_store_conformance!(async || {
        Arc::new(super::in_a_directory().await) as Arc<dyn DeviceStore>
    });
}

mod interval_flush {
    use std::time::Duration;

    use beams_core::testing::Guarded;
    use beams_store_sled::{Durability, SledDeviceStore};

    beams_core::device_store_conformance!(async || {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SledDeviceStore::open_with(
            dir.path().join("devices"),
            Durability::FlushEvery(Duration::from_millis(100)),
        )
        .expect("a new store opens");
        Guarded::new(store, dir)
    });
}
