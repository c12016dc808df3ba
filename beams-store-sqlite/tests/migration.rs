//! A database written before Device Interests and the publish journal (schema version 1)
//! opens, upgrades and keeps its devices.

use beams_core::testing::fixtures::{TEST_AUTH, TEST_P256DH, user};
use beams_core::testing::{journal_entry, lease};
use beams_core::{Acceptance, DeviceId, DeviceStore, Interest, InterestChange, PublishJournal};
use beams_store_sqlite::{SqliteDeviceStore, rusqlite};

/// Schema version 1 exactly as the first release wrote it.
const VERSION_1: &str = "CREATE TABLE devices (
        id                  TEXT PRIMARY KEY NOT NULL,
        platform            TEXT NOT NULL CHECK (platform IN ('apns', 'fcm', 'web')),
        token               TEXT NOT NULL,
        web_p256dh          BLOB,
        web_auth            BLOB,
        user_id             TEXT,
        metadata            TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        associated_at       INTEGER,
        token_registered_at INTEGER NOT NULL,
        CHECK ((user_id IS NULL) = (associated_at IS NULL)),
        CHECK ((platform = 'web') = (web_p256dh IS NOT NULL AND web_auth IS NOT NULL))
    ) STRICT;
    CREATE UNIQUE INDEX devices_by_token ON devices (platform, token);
    CREATE INDEX devices_by_user ON devices (user_id, platform, associated_at, id)
        WHERE user_id IS NOT NULL;
    PRAGMA application_id = 1650811245;
    PRAGMA user_version = 1;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_upgrades_and_keeps_its_devices() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    let id = DeviceId::generate(beams_core::Platform::Web);
    {
        let conn = rusqlite::Connection::open(&path).expect("raw connection");
        conn.execute_batch(VERSION_1).expect("the version 1 schema");
        let key = |s| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .expect("base64")
        };
        conn.execute(
            "INSERT INTO devices VALUES (?1, 'web', 'https://push.example.net/x', ?2, ?3, \
             'alice', '{}', 1, 2, 3)",
            rusqlite::params![id.as_str(), key(TEST_P256DH), key(TEST_AUTH)],
        )
        .expect("a version 1 device");
    }

    let store = SqliteDeviceStore::open(&path)
        .await
        .expect("the old database opens");
    let device = store
        .device(&id)
        .await
        .expect("read succeeds")
        .expect("the device is kept");
    assert_eq!(device.user, Some(user("alice")));
    let news = Interest::new("news").expect("an interest");
    let change = store
        .add_interest(&id, &news, 10)
        .await
        .expect("interests work after the upgrade");
    assert_eq!(change, Some(InterestChange::Added));
    let entry = journal_entry(1);
    let journal = store.journal();
    let acceptance = journal
        .accept(&entry, &lease("node-a", 100), 10)
        .await
        .expect("the journal works after the upgrade");
    assert_eq!(acceptance, Acceptance::Accepted);
    drop((store, journal));

    let conn = rusqlite::Connection::open(&path).expect("raw connection");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, 3);
}
