//! Files that are not a (current) beams database are typed errors, never panics.

use std::path::Path;

use beams_core::testing::fixtures::{associate, register, user};
use beams_core::{AssociationPolicy, DeviceStore, Platform, StoreErrorKind};
use beams_store_sqlite::{SqliteDeviceStore, rusqlite};

async fn open_kind(path: &Path) -> Option<StoreErrorKind> {
    SqliteDeviceStore::open(path)
        .await
        .err()
        .map(|e| e.kind().clone())
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "this is not a database\n".repeat(200)).expect("write the file");
    assert!(matches!(
        open_kind(&path).await,
        Some(StoreErrorKind::NotAStore { .. })
    ));
}

#[tokio::test]
async fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).expect("raw connection");
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
        .expect("another schema");
    drop(conn);
    assert!(matches!(
        open_kind(&path).await,
        Some(StoreErrorKind::NotAStore { .. })
    ));
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    drop(
        SqliteDeviceStore::open(&path)
            .await
            .expect("a new database opens"),
    );
    let conn = rusqlite::Connection::open(&path).expect("raw connection");
    conn.pragma_update(None, "user_version", 99)
        .expect("set a future version");
    drop(conn);
    let kind = open_kind(&path).await;
    assert_eq!(
        kind,
        Some(StoreErrorKind::IncompatibleVersion {
            found: "99".into(),
            supported: "4".into()
        })
    );
}

#[tokio::test]
async fn an_empty_file_becomes_a_new_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    std::fs::write(&path, b"").expect("an empty file");
    let store = SqliteDeviceStore::open(&path).await.expect("opens");
    assert!(
        store
            .devices_of_user(&user("alice"))
            .await
            .expect("reads")
            .is_empty()
    );
}

#[tokio::test]
async fn a_truncated_database_gives_typed_errors() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    {
        let store = SqliteDeviceStore::open(&path).await.expect("opens");
        let alice = user("alice");
        for n in 0..300 {
            let device = register(&store, Platform::ALL[n % 3], n as u64, 1).await;
            associate(
                &store,
                &device.id,
                &alice,
                AssociationPolicy::default(),
                n as i64,
            )
            .await;
        }
    }
    let len = std::fs::metadata(&path).expect("the file exists").len();
    assert!(
        len > 16 * 4096,
        "the database spans many pages ({len} bytes)"
    );
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open for writing");
    file.set_len(len / 2).expect("truncate");
    drop(file);

    let outcome = match SqliteDeviceStore::open(&path).await {
        Err(err) => Err(err),
        Ok(store) => store.devices_of_user(&user("alice")).await.map(|_| ()),
    };
    let err = outcome.expect_err("half a database cannot be read whole");
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Corrupt { .. } | StoreErrorKind::NotAStore { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_damaged_row_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    let store = SqliteDeviceStore::open(&path).await.expect("opens");
    let device = register(&store, Platform::Apns, 1, 1).await;
    let conn = rusqlite::Connection::open(&path).expect("raw connection");
    conn.execute(
        "UPDATE devices SET token = 'not hex' WHERE id = ?1",
        [device.id.as_str()],
    )
    .expect("damage the row");

    let err = store
        .device(&device.id)
        .await
        .expect_err("the row does not decode");
    let StoreErrorKind::Corrupt { key } = err.kind() else {
        panic!("expected Corrupt, got {err}");
    };
    assert!(
        key.contains(device.id.as_str()) && key.contains("token"),
        "{key}"
    );

    // Removing the damaged device reports the damage and leaves the row as it was.
    assert!(store.remove_device(&device.id).await.is_err());
    let still_there: i64 = conn
        .query_row("SELECT count(*) FROM devices", [], |row| row.get(0))
        .expect("count");
    assert_eq!(still_there, 1);
}
