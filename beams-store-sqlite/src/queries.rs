//! The store's operations as SQL on one connection. Blocking: callers run them off the async
//! executor. Every multi-statement change runs in one `BEGIN IMMEDIATE` transaction, which
//! takes SQLite's write lock up front, so concurrent writers — in this process or another —
//! queue on the busy timeout instead of interleaving.

use beams_core::{
    AssociatedDevice, AssociationOutcome, AssociationRequest, Device, DeviceColumns, DeviceId,
    DeviceMetadata, DeviceRegistration, Platform, PushToken, RegistrationOutcome, StoreError,
    Timestamp, UserId, check_renewal, check_token_platform,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::store_error;
use crate::row::{device_columns, device_from_row};

const SELECT_BY_TOKEN: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE platform = ?1 AND token = ?2"
);
/// A renewal changes the metadata and the registration time only (see `check_renewal`).
const RENEW: &str = concat!(
    "UPDATE devices SET metadata = ?2, token_registered_at = ?3 WHERE id = ?1 RETURNING ",
    device_columns!()
);
const DELETE_ID: &str = "DELETE FROM devices WHERE id = ?1";
const INSERT: &str = concat!(
    "INSERT INTO devices (id, platform, token, web_p256dh, web_auth, user_id, metadata, ",
    "created_at, associated_at, token_registered_at) ",
    "VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, NULL, ?7) RETURNING ",
    device_columns!()
);
const SELECT_BY_ID: &str = concat!("SELECT ", device_columns!(), " FROM devices WHERE id = ?1");
const DELETE_BY_ID: &str = concat!(
    "DELETE FROM devices WHERE id = ?1 RETURNING ",
    device_columns!()
);
const DELETE_BY_TOKEN: &str = concat!(
    "DELETE FROM devices WHERE platform = ?1 AND token = ?2 ",
    "AND token_registered_at <= ?3 RETURNING ",
    device_columns!()
);
const SELECT_BY_USER: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id = ?1 ORDER BY associated_at, id"
);
const SELECT_BY_USERS: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id IN (SELECT value FROM json_each(?1)) ",
    "ORDER BY user_id, associated_at, id"
);
const DELETE_BY_USER: &str = concat!(
    "DELETE FROM devices WHERE user_id = ?1 RETURNING ",
    device_columns!()
);
const UPDATE_METADATA: &str = concat!(
    "UPDATE devices SET metadata = ?2 WHERE id = ?1 RETURNING ",
    device_columns!()
);
const DELETE_OTHER_HOLDER: &str =
    "DELETE FROM devices WHERE platform = ?1 AND token = ?2 AND id <> ?3";
const UPDATE_TOKEN: &str = concat!(
    "UPDATE devices SET token = ?2, web_p256dh = ?3, web_auth = ?4, token_registered_at = ?5 ",
    "WHERE id = ?1 RETURNING ",
    device_columns!()
);
const SELECT_USER_OF: &str = "SELECT user_id FROM devices WHERE id = ?1";
const SELECT_ASSOCIATED: &str =
    "SELECT id, associated_at FROM devices WHERE user_id = ?1 AND platform = ?2";
const DISASSOCIATE: &str = "UPDATE devices SET user_id = NULL, associated_at = NULL WHERE id = ?1";
const ASSOCIATE: &str = "UPDATE devices SET user_id = ?2, associated_at = ?3 WHERE id = ?1";

pub(crate) fn register(
    conn: &mut Connection,
    registration: &DeviceRegistration,
) -> Result<RegistrationOutcome, StoreError> {
    check_token_platform(&registration.id, &registration.token)?;
    in_transaction(conn, |tx| {
        let platform = registration.token.platform().as_str();
        let token = registration.token.key();
        let metadata = DeviceColumns::metadata_json(&registration.metadata);
        let at = registration.at.as_unix_millis();
        let vanished = || {
            StoreError::corrupt_column(
                registration.id.as_str(),
                "id",
                "the registered row vanished inside its transaction",
            )
        };

        if let Some(existing) = one_device(tx, SELECT_BY_TOKEN, params![platform, token])? {
            if let Err(refusal) = check_renewal(&existing, registration) {
                return Ok(RegistrationOutcome::Refused(refusal));
            }
            let renewed = one_device(tx, RENEW, params![existing.id.as_str(), metadata, at])?;
            return renewed
                .map(RegistrationOutcome::Renewed)
                .ok_or_else(vanished);
        }
        // A caller reusing an id replaces that device whole.
        tx.prepare_cached(DELETE_ID)
            .and_then(|mut stmt| stmt.execute([registration.id.as_str()]))
            .map_err(store_error)?;
        let (p256dh, auth) = DeviceColumns::web_keys(&registration.token);
        let inserted = one_device(
            tx,
            INSERT,
            params![
                registration.id.as_str(),
                platform,
                token,
                p256dh,
                auth,
                metadata,
                at
            ],
        )?;
        inserted
            .map(RegistrationOutcome::Registered)
            .ok_or_else(vanished)
    })
}

pub(crate) fn device(conn: &Connection, id: &DeviceId) -> Result<Option<Device>, StoreError> {
    one_device(conn, SELECT_BY_ID, [id.as_str()])
}

pub(crate) fn remove_device(
    conn: &mut Connection,
    id: &DeviceId,
) -> Result<Option<Device>, StoreError> {
    in_transaction(conn, |tx| one_device(tx, DELETE_BY_ID, [id.as_str()]))
}

pub(crate) fn remove_device_by_token(
    conn: &mut Connection,
    token: &PushToken,
    registered_no_later_than: Timestamp,
) -> Result<Option<Device>, StoreError> {
    in_transaction(conn, |tx| {
        one_device(
            tx,
            DELETE_BY_TOKEN,
            params![
                token.platform().as_str(),
                token.key(),
                registered_no_later_than.as_unix_millis()
            ],
        )
    })
}

pub(crate) fn devices_of_user(conn: &Connection, user: &UserId) -> Result<Vec<Device>, StoreError> {
    many_devices(conn, SELECT_BY_USER, [user.as_str()])
}

/// Every device of the given users in one statement: the ids travel as one JSON array
/// parameter, so any number of users shares one prepared statement and the index on
/// `user_id` is probed once per user.
pub(crate) fn devices_of_users(
    conn: &Connection,
    users: &[UserId],
) -> Result<Vec<Device>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(users)
        .map_err(|e| StoreError::with_source(beams_core::StoreErrorKind::Backend, e))?;
    many_devices(conn, SELECT_BY_USERS, [ids])
}

pub(crate) fn remove_user(conn: &mut Connection, user: &UserId) -> Result<Vec<Device>, StoreError> {
    in_transaction(conn, |tx| many_devices(tx, DELETE_BY_USER, [user.as_str()]))
}

/// Runs `change` in an immediate transaction that commits only if it succeeds: a deletion
/// whose returned rows do not decode is rolled back, so an error never half-applies.
pub(crate) fn in_transaction<T>(
    conn: &mut Connection,
    change: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(store_error)?;
    let result = change(&tx)?;
    tx.commit().map_err(store_error)?;
    Ok(result)
}

pub(crate) fn update_metadata(
    conn: &mut Connection,
    id: &DeviceId,
    metadata: &DeviceMetadata,
) -> Result<Option<Device>, StoreError> {
    in_transaction(conn, |tx| {
        one_device(
            tx,
            UPDATE_METADATA,
            params![id.as_str(), DeviceColumns::metadata_json(metadata)],
        )
    })
}

/// Moves a device to a new push token; a device that held that token is deleted first.
pub(crate) fn update_token(
    conn: &mut Connection,
    id: &DeviceId,
    token: &PushToken,
    at: Timestamp,
) -> Result<Option<Device>, StoreError> {
    check_token_platform(id, token)?;
    in_transaction(conn, |tx| {
        let exists = tx
            .prepare_cached(SELECT_USER_OF)
            .and_then(|mut stmt| stmt.exists([id.as_str()]))
            .map_err(store_error)?;
        if !exists {
            return Ok(None);
        }
        let platform = token.platform().as_str();
        tx.prepare_cached(DELETE_OTHER_HOLDER)
            .and_then(|mut stmt| stmt.execute(params![platform, token.key(), id.as_str()]))
            .map_err(store_error)?;
        let (p256dh, auth) = DeviceColumns::web_keys(token);
        one_device(
            tx,
            UPDATE_TOKEN,
            params![id.as_str(), token.key(), p256dh, auth, at.as_unix_millis()],
        )
    })
}

/// The association primitive: reads, plans (in beams-core) and applies in one transaction.
pub(crate) fn associate(
    conn: &mut Connection,
    request: &AssociationRequest,
) -> Result<Option<AssociationOutcome>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(store_error)?;
    let device_id = request.device.as_str();
    let current: Option<Option<String>> = tx
        .prepare_cached(SELECT_USER_OF)
        .and_then(|mut stmt| stmt.query_row([device_id], |row| row.get(0)).optional())
        .map_err(store_error)?;
    let Some(current) = current else {
        return Ok(None);
    };
    let current = current
        .map(UserId::new)
        .transpose()
        .map_err(|e| StoreError::corrupt_column(device_id, "user_id", e))?;

    let plan =
        request
            .policy
            .plan_loading(&request.device, current.as_ref(), &request.user, || {
                associated(&tx, &request.user, request.device.platform())
            })?;
    let evicted = match plan.to_apply() {
        Ok(evict) => evict,
        Err(unchanged) => return Ok(Some(unchanged)),
    };
    {
        let mut disassociate = tx.prepare_cached(DISASSOCIATE).map_err(store_error)?;
        for id in &evicted {
            disassociate.execute([id.as_str()]).map_err(store_error)?;
        }
        tx.prepare_cached(ASSOCIATE)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    device_id,
                    request.user.as_str(),
                    request.at.as_unix_millis()
                ])
            })
            .map_err(store_error)?;
    }
    tx.commit().map_err(store_error)?;
    Ok(Some(AssociationOutcome::Associated { evicted }))
}

/// The policy's view of a user's devices on one platform.
fn associated(
    conn: &Connection,
    user: &UserId,
    platform: Platform,
) -> Result<Vec<AssociatedDevice>, StoreError> {
    let mut stmt = conn
        .prepare_cached(SELECT_ASSOCIATED)
        .map_err(store_error)?;
    let rows = stmt
        .query_map(params![user.as_str(), platform.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(store_error)?;
    rows.map(|row| {
        let (id, at) = row.map_err(store_error)?;
        let id = DeviceId::parse(&id).map_err(|e| StoreError::corrupt_column(&id, "id", e))?;
        Ok(AssociatedDevice {
            associated_at: Timestamp::from_unix_millis(at),
            id,
        })
    })
    .collect()
}

fn one_device(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Device>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_error)?;
    let mut rows = stmt.query(params).map_err(store_error)?;
    let device = match rows.next().map_err(store_error)? {
        Some(row) => Some(device_from_row(row)?),
        None => None,
    };
    // Step to the end: a RETURNING statement finishes its change only when fully stepped.
    while rows.next().map_err(store_error)?.is_some() {}
    Ok(device)
}

pub(crate) fn many_devices(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Device>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_error)?;
    let mut rows = stmt.query(params).map_err(store_error)?;
    let mut devices = Vec::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        devices.push(device_from_row(row)?);
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lookup and keyed change probes an index, never a scan of the table or an index.
    /// The journal's partial indexes, each over the publishes of one state.
    const PUBLISHES_OF_ONE_STATE: [&str; 3] = [
        "publishes_by_owner",
        "publishes_by_lease_end",
        "publishes_by_finish",
    ];

    #[test]
    fn every_query_uses_an_index() {
        let mut conn = Connection::open_in_memory().expect("an in-memory database");
        crate::schema::migrate(&mut conn).expect("schema");
        for sql in [
            SELECT_BY_TOKEN,
            RENEW,
            DELETE_ID,
            SELECT_BY_ID,
            DELETE_BY_ID,
            DELETE_BY_TOKEN,
            SELECT_BY_USER,
            SELECT_BY_USERS,
            DELETE_BY_USER,
            SELECT_USER_OF,
            SELECT_ASSOCIATED,
            UPDATE_METADATA,
            DELETE_OTHER_HOLDER,
            UPDATE_TOKEN,
            crate::interests::DEVICE_EXISTS,
            crate::interests::CLEAR,
            crate::interests::DELETE,
            crate::interests::INSERT_BELOW_MAX,
            crate::interests::HAS,
            crate::interests::PAGE,
            crate::interests::IDS_OF,
            crate::interests::DEVICES_BY_IDS,
            DISASSOCIATE,
            ASSOCIATE,
            crate::journal::EXISTS,
            crate::journal::COUNT_UNFINISHED,
            crate::journal::INSERT,
            crate::journal::CHECKPOINT,
            crate::journal::RENEW,
            crate::journal::FINISH,
            crate::journal::CLAIM,
            crate::journal::SELECT,
            crate::journal::FORGET,
        ] {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("the query plans");
            let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |row| {
                    row.get::<_, String>(3)
                })
                .expect("plan rows")
                .collect::<Result<_, _>>()
                .expect("plan text");
            // `SEARCH <table> USING … (col=? …)` probes an index; `SCAN <table>` reads all of
            // the table or of an index, and so does a search on a range alone (`(id>?)`):
            // every step on the devices, the interests or the publishes must probe with an
            // equality — except in the indexes of the publishes of one state, which hold
            // only those: a range there reads only what it asks for (lapsed leases, old
            // reports), and only counting every unfinished publish, from index entries and
            // no row, may read one whole.
            for table in ["devices", "device_interests", "publishes"] {
                for step in plan.iter().filter(|step| {
                    step.starts_with(&format!("SCAN {table}"))
                        || step.starts_with(&format!("SEARCH {table} "))
                }) {
                    let of_one_state = PUBLISHES_OF_ONE_STATE.iter().any(|index| {
                        step.contains(&format!("INDEX {index} "))
                            || step.ends_with(&format!("INDEX {index}"))
                    });
                    if of_one_state && step.starts_with("SCAN") {
                        assert!(
                            step.contains("COVERING INDEX") && sql.contains("count(*)"),
                            "{sql} reads every publish of a state: {step}\n{plan:#?}"
                        );
                        continue;
                    }
                    assert!(
                        step.starts_with("SEARCH") && (step.contains("=?") || of_one_state),
                        "{sql} reads {table} without probing an index: {step}\n{plan:#?}"
                    );
                }
            }
        }
    }
}
