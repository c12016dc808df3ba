//! The schema, its versions, and the forward-only migrations applied on open.

use beams_core::{StoreError, StoreErrorKind};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::store_error;

/// Identifies a beams database in the SQLite header (`PRAGMA application_id`), so another
/// application's database is refused instead of being migrated.
const APPLICATION_ID: i32 = 0x6265_616D; // "beam"

/// Each entry takes the schema from version `index` to `index + 1`. Append only: an existing
/// database replays the steps it has not seen, in order, on open.
const MIGRATIONS: &[&str] = &[
    // 1: devices (a Web Push subscription's endpoint is its token, its keys sit beside it),
    // unique push token per platform, and each user's devices per platform in association
    // order.
    "CREATE TABLE devices (
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
        WHERE user_id IS NOT NULL;",
    // 2: Device Interests. Deleting a device deletes its subscriptions (foreign keys are on
    // for every connection).
    "CREATE TABLE device_interests (
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        interest  TEXT NOT NULL,
        PRIMARY KEY (device_id, interest)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX interests_by_name ON device_interests (interest, device_id);",
    // 3: the publish journal. An unfinished publish has a lease and maybe progress; a
    // finished one has its time and report and nothing else. Each index leads with the state,
    // so a claim probes the claimer's own publishes and the lapsed leases, the bound counts
    // unfinished index entries, and forgetting reads only the finished ones old enough.
    "CREATE TABLE publishes (
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
    CREATE INDEX publishes_by_finish ON publishes (state, finished_at);",
    // 4: the journal rebuilt for its per-publish writes. The request body, up to hundreds of
    // kilobytes, moves apart from the row each checkpoint rewrites (SQLite writes a changed
    // row out whole, overflow pages and all). Both tables are keyed by the publish id itself
    // (`WITHOUT ROWID`): one b-tree each, not a table and an index of its key. Each index
    // covers the publishes of the one state it serves: an accept adds two entries and a
    // finish moves the publish from those two to the third, where indexes led by the state
    // rewrote all three on every change of state. (The old table is dropped before the
    // bodies' table refers to its successor, so no cascade runs.)
    "CREATE TABLE journaled (
        id          TEXT PRIMARY KEY NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('users', 'interests')),
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
    ) STRICT, WITHOUT ROWID;
    INSERT INTO journaled
        SELECT id, kind, accepted_at, state, lease_owner, lease_until, progress, finished_at,
               report
        FROM publishes;
    CREATE TABLE bodies_moving AS SELECT id, body FROM publishes;
    DROP TABLE publishes;
    ALTER TABLE journaled RENAME TO publishes;
    CREATE TABLE publish_bodies (
        id   TEXT PRIMARY KEY NOT NULL REFERENCES publishes (id) ON DELETE CASCADE,
        body BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO publish_bodies (id, body) SELECT id, body FROM bodies_moving;
    DROP TABLE bodies_moving;
    CREATE INDEX publishes_by_owner ON publishes (lease_owner, accepted_at, id)
        WHERE state = 'unfinished';
    CREATE INDEX publishes_by_lease_end ON publishes (lease_until) WHERE state = 'unfinished';
    CREATE INDEX publishes_by_finish ON publishes (finished_at) WHERE state = 'finished';
    -- How many publishes are unfinished, kept by triggers on every change of a publish: an
    -- accept reads one row instead of counting the unfinished ones (a count that grows
    -- with the backlog the bound is there to cap).
    CREATE TABLE publish_counts (
        only       INTEGER PRIMARY KEY CHECK (only = 0),
        unfinished INTEGER NOT NULL CHECK (unfinished >= 0)
    ) STRICT;
    INSERT INTO publish_counts (only, unfinished)
        SELECT 0, count(*) FROM publishes WHERE state = 'unfinished';
    CREATE TRIGGER publish_accepted AFTER INSERT ON publishes
        WHEN new.state = 'unfinished'
        BEGIN UPDATE publish_counts SET unfinished = unfinished + 1; END;
    CREATE TRIGGER publish_state_changed AFTER UPDATE OF state ON publishes
        WHEN (old.state = 'unfinished') <> (new.state = 'unfinished')
        BEGIN
            UPDATE publish_counts SET unfinished = unfinished
                + (CASE WHEN new.state = 'unfinished' THEN 1 ELSE -1 END);
        END;
    CREATE TRIGGER publish_deleted AFTER DELETE ON publishes
        WHEN old.state = 'unfinished'
        BEGIN UPDATE publish_counts SET unfinished = unfinished - 1; END;",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], refusing one that is newer or not ours.
///
/// Runs in one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at once
/// migrate it once.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(store_error)?;
    let application_id: i32 = tx
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(store_error)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(store_error)?;

    if application_id != APPLICATION_ID && (application_id != 0 || version != 0) {
        return Err(StoreError::new(StoreErrorKind::NotAStore {
            detail: format!(
                "SQLite database of another application (application_id {application_id:#x})"
            ),
        }));
    }
    if application_id == 0 {
        let has_tables: bool = tx
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema)", [], |row| {
                row.get(0)
            })
            .map_err(store_error)?;
        if has_tables {
            return Err(StoreError::new(StoreErrorKind::NotAStore {
                detail: "SQLite database with tables of another application".to_owned(),
            }));
        }
    }
    if version < 0 {
        return Err(StoreError::new(StoreErrorKind::NotAStore {
            detail: format!("negative schema version {version}"),
        }));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(StoreErrorKind::IncompatibleVersion {
            found: version.to_string(),
            supported: SCHEMA_VERSION.to_string(),
        }));
    }

    let start = usize::try_from(version).unwrap_or(0);
    for step in &MIGRATIONS[start..] {
        tx.execute_batch(step).map_err(store_error)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(store_error)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(store_error)?;
    tx.commit().map_err(store_error)
}
