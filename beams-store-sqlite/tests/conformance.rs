//! The beams-core conformance suite, every rule, on SQLite: in a file (with reopen), in
//! memory, and through `Arc<dyn DeviceStore>`.

use std::path::PathBuf;

use beams_core::testing::Guarded;
use beams_store_sqlite::SqliteDeviceStore;
use tempfile::TempDir;

async fn in_a_file() -> Guarded<SqliteDeviceStore, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteDeviceStore::open(dir.path().join("beams.db"))
        .await
        .expect("a new database opens");
    Guarded::new(store, dir)
}

async fn reopen(dir: PathBuf) -> SqliteDeviceStore {
    SqliteDeviceStore::open(dir.join("beams.db"))
        .await
        .expect("the database opens")
}

mod file {
    beams_core::device_store_conformance!(super::in_a_file, reopen: super::reopen);
}

mod memory {
    beams_core::device_store_conformance!(async || {
        beams_store_sqlite::SqliteDeviceStore::open_in_memory().expect("opens in memory")
    });
}

mod through_arc_dyn {
    use std::sync::Arc;

    use beams_core::DeviceStore;

    beams_core::device_store_conformance!(async || {
        Arc::new(super::in_a_file().await) as Arc<dyn DeviceStore>
    });
}
