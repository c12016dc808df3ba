//! A database written before Device Interests and the publish journal (schema version 1)
//! opens, upgrades and keeps its devices; one whose journal kept request bodies in the
//! publish's row (version 3) keeps its publishes, bodies and all.

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
    assert_eq!(version, 4);
}

/// What versions 2 and 3 added, exactly as they were released.
const VERSIONS_2_AND_3: &str = "CREATE TABLE device_interests (
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        interest  TEXT NOT NULL,
        PRIMARY KEY (device_id, interest)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX interests_by_name ON device_interests (interest, device_id);
    CREATE TABLE publishes (
        id          TEXT PRIMARY KEY NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('users', 'interests')),
        body        BLOB NOT NULL,
        accepted_at INTEGER NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('unfinished', 'finished')),
        lease_owner TEXT,
        lease_until INTEGER,
        progress    BLOB,
        finished_at INTEGER,
        report      BLOB,
        CHECK ((state = 'unfinished'
                AND lease_owner IS NOT NULL AND lease_until IS NOT NULL
                AND finished_at IS NULL AND report IS NULL)
            OR (state = 'finished'
                AND lease_owner IS NULL AND lease_until IS NULL AND progress IS NULL
                AND finished_at IS NOT NULL AND report IS NOT NULL))
    ) STRICT;
    CREATE INDEX publishes_by_owner ON publishes (state, lease_owner, accepted_at, id);
    CREATE INDEX publishes_by_lease_end ON publishes (state, lease_until);
    CREATE INDEX publishes_by_finish ON publishes (state, finished_at);
    PRAGMA user_version = 3;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_journal_upgrades_and_keeps_its_publishes_and_bodies() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    let (unfinished, finished) = (journal_entry(1), journal_entry(2));
    {
        let conn = rusqlite::Connection::open(&path).expect("raw connection");
        conn.execute_batch(VERSION_1).expect("the version 1 schema");
        conn.execute_batch(VERSIONS_2_AND_3)
            .expect("the version 3 schema");
        conn.execute(
            "INSERT INTO publishes (id, kind, body, accepted_at, state, lease_owner, lease_until, \
             progress) VALUES (?1, 'users', ?2, 1, 'unfinished', 'node-a/1', 100, X'01')",
            rusqlite::params![unfinished.id.as_str(), unfinished.body],
        )
        .expect("an unfinished version 3 publish");
        conn.execute(
            "INSERT INTO publishes (id, kind, body, accepted_at, state, finished_at, report) \
             VALUES (?1, 'users', ?2, 2, 'finished', 50, X'02')",
            rusqlite::params![finished.id.as_str(), finished.body],
        )
        .expect("a finished version 3 publish");
    }

    let journal = SqliteDeviceStore::open(&path)
        .await
        .expect("the old database opens")
        .journal();
    for entry in [&unfinished, &finished] {
        let record = journal
            .record(&entry.id)
            .await
            .expect("read succeeds")
            .expect("the publish is kept");
        assert_eq!(&record.entry, entry, "kept with its body");
    }
    assert_eq!(journal.unfinished().await.expect("unfinished"), 1);
    let claimed = journal
        .claim(
            &lease("node-a/2", 500),
            beams_core::Timestamp::from_unix_millis(10),
            Some("node-a"),
        )
        .await
        .expect("claim")
        .expect("the node takes its publish back");
    assert_eq!(claimed.entry, unfinished);
}
