//! The schema, its versions, and the forward-only migrations applied on connect.

use beams_core::{StoreError, StoreErrorKind};
use tokio_postgres::Client;

use crate::error::store_error;

/// Each entry takes the schema from version `index` to `index + 1`. Append only: a database
/// replays the steps it has not seen, in order, on connect.
///
/// Every table that grows with devices or users is keyed for distribution (see the crate's
/// "Sharding" section): `devices` and `device_interests` by device id, `users` and
/// `user_devices` by user id; `publishes`, which grows with publishes, by publish id. User
/// ids are `bytea`, UTF-8: a user id may hold any character, U+0000 included, which `text`
/// cannot. Text that is compared or ordered is `COLLATE "C"`, so PostgreSQL orders it as
/// beams-core does, byte by byte, whatever the database's locale.
const MIGRATIONS: &[&str] = &[
    // 1: devices, the users who own them, and Device Interests.
    r#"CREATE TABLE devices (
        id                  text COLLATE "C" PRIMARY KEY,
        platform            text NOT NULL CHECK (platform IN ('apns', 'fcm', 'web')),
        token               text COLLATE "C" NOT NULL,
        web_p256dh          bytea,
        web_auth            bytea,
        user_id             bytea,
        metadata            text NOT NULL,
        created_at          bigint NOT NULL,
        associated_at       bigint,
        token_registered_at bigint NOT NULL,
        CHECK ((user_id IS NULL) = (associated_at IS NULL)),
        CHECK ((platform = 'web') = (web_p256dh IS NOT NULL AND web_auth IS NOT NULL))
    );
    CREATE UNIQUE INDEX devices_by_token ON devices (platform, token);

    -- One row per user who has ever been associated: the row every change to the user's
    -- devices locks first, so limit checks of one user never interleave, on any node.
    CREATE TABLE users (
        user_id bytea PRIMARY KEY
    );

    -- A user's devices, kept in step with devices.user_id by every statement that changes
    -- it: a user's listing, limit check and deletion read this table by its key alone.
    CREATE TABLE user_devices (
        user_id       bytea NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        device_id     text COLLATE "C" NOT NULL,
        platform      text NOT NULL,
        associated_at bigint NOT NULL,
        PRIMARY KEY (user_id, device_id)
    );
    CREATE INDEX user_devices_in_order ON user_devices (user_id, platform, associated_at, device_id);

    CREATE TABLE device_interests (
        device_id text COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        interest  text COLLATE "C" NOT NULL,
        PRIMARY KEY (device_id, interest)
    );
    CREATE INDEX interests_by_name ON device_interests (interest, device_id);"#,
    // 2: the publish journal. An unfinished publish has a lease (and maybe progress); a
    // finished one has its time and report, and nothing of its delivery.
    r#"CREATE TABLE publishes (
        id          text COLLATE "C" PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('users', 'interests')),
        body        bytea NOT NULL,
        accepted_at bigint NOT NULL,
        finished    boolean NOT NULL,
        lease_owner text,
        lease_until bigint,
        progress    bytea,
        finished_at bigint,
        report      bytea,
        CHECK (finished OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL
                            AND finished_at IS NULL AND report IS NULL)),
        CHECK (NOT finished OR (finished_at IS NOT NULL AND report IS NOT NULL
                                AND lease_owner IS NULL AND lease_until IS NULL
                                AND progress IS NULL))
    );
    -- What is left to deliver, in the order claims take it; its size is the accept bound.
    CREATE INDEX publishes_unfinished ON publishes (accepted_at, id) WHERE NOT finished;
    -- What forgetting old reports deletes.
    CREATE INDEX publishes_finished ON publishes (finished_at) WHERE finished;"#,
    // 3: how many publishes are unfinished, split over 16 rows by the id's hash, kept by the
    // statement that journals or finishes the publish: an accept reads 16 rows, not the
    // unfinished index, and concurrent accepts rarely wait on the same row. Counted from
    // what is unfinished when it runs (under the migration lock, before any accept).
    r#"CREATE TABLE publish_counts (
        slot       smallint PRIMARY KEY CHECK (slot BETWEEN 0 AND 15),
        unfinished bigint NOT NULL CHECK (unfinished >= 0)
    );
    INSERT INTO publish_counts
        SELECT slot, (SELECT count(*) FROM publishes
                      WHERE NOT finished AND hashtext(id) & 15 = slot)
        FROM generate_series(0, 15) AS slot;"#,
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Identifies beams' migrations among the advisory locks of a database (`"beam"`); the
/// second key is the schema's name, so stores in different schemas migrate side by side.
const LOCK_CLASS: i32 = 0x6265_616D;

/// Brings the schema the connection's `search_path` names to [`SCHEMA_VERSION`], refusing
/// one that is newer or holds another application's tables.
///
/// Runs in one transaction under a transaction-scoped advisory lock, so nodes that start at
/// once migrate once: the others wait, then find the schema current.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(store_error)?;
    let schema: Option<String> = tx
        .query_one("SELECT current_schema()", &[])
        .await
        .map_err(store_error)?
        .get(0);
    let Some(schema) = schema else {
        return Err(StoreError::new(StoreErrorKind::NotAStore {
            detail: "the search_path names no schema that exists".to_owned(),
        }));
    };
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS, &schema],
    )
    .await
    .map_err(store_error)?;

    let tables: Vec<String> = tx
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        )
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let version: i32 = if tables.iter().any(|t| t == "beams_schema") {
        tx.query_one("SELECT coalesce(max(version), 0) FROM beams_schema", &[])
            .await
            .map_err(store_error)?
            .get(0)
    } else if tables.is_empty() {
        tx.batch_execute(
            "CREATE TABLE beams_schema (
                version    integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(store_error)?;
        0
    } else {
        return Err(StoreError::new(StoreErrorKind::NotAStore {
            detail: format!("schema {schema:?} holds tables of another application"),
        }));
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(StoreErrorKind::IncompatibleVersion {
            found: version.to_string(),
            supported: SCHEMA_VERSION.to_string(),
        }));
    }

    let start = usize::try_from(version).unwrap_or(0);
    for (step, migration) in (start..).zip(&MIGRATIONS[start..]) {
        tx.batch_execute(migration).await.map_err(store_error)?;
        let applied = i32::try_from(step + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO beams_schema (version) VALUES ($1)",
            &[&applied],
        )
        .await
        .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)
}
