//! The store's device operations as SQL.
//!
//! Each change is one statement, or one transaction whose row locks are always taken in the
//! same order — the user's `users` row, then `devices` rows, then `user_devices` rows — so
//! two calls never wait on each other in a circle. Every statement reads or writes its table
//! by the table's distribution key (see the crate's "Sharding" section).

use beams_core::{
    AssociatedDevice, AssociationOutcome, AssociationRequest, Device, DeviceColumns, DeviceId,
    DeviceMetadata, DeviceRegistration, Platform, PushToken, RegistrationOutcome, StoreError,
    Timestamp, UserId, check_renewal,
};
use deadpool_postgres::{GenericClient, Transaction};
use futures_util::future::try_join4;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::store_error;
use crate::row::{
    device_columns, device_from_row, devices_from_rows, user_column, user_from_column,
};

/// Deletes the devices `d` that match a condition and, in the same statement, their rows in
/// `user_devices`; answers the deleted devices.
macro_rules! deleting {
    ($condition:literal) => {
        concat!(
            "WITH gone AS (DELETE FROM devices d WHERE ",
            $condition,
            " RETURNING ",
            device_columns!(),
            "), unlisted AS (DELETE FROM user_devices u USING gone ",
            "WHERE u.user_id = gone.user_id AND u.device_id = gone.id) ",
            "SELECT * FROM gone"
        )
    };
}

pub(crate) const SELECT_BY_TOKEN: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices d WHERE d.platform = $1 AND d.token = $2 FOR UPDATE"
);
/// A renewal changes the metadata and the registration time only (see `check_renewal`).
pub(crate) const RENEW: &str = concat!(
    "UPDATE devices d SET metadata = $2, token_registered_at = $3 WHERE d.id = $1 RETURNING ",
    device_columns!()
);
pub(crate) const DELETE_BY_ID: &str = deleting!("d.id = $1");
pub(crate) const INSERT: &str = concat!(
    "INSERT INTO devices AS d (id, platform, token, web_p256dh, web_auth, user_id, metadata, ",
    "created_at, associated_at, token_registered_at) ",
    "VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, NULL, $7) RETURNING ",
    device_columns!()
);
pub(crate) const SELECT_BY_ID: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices d WHERE d.id = $1"
);
pub(crate) const DELETE_BY_TOKEN: &str =
    deleting!("d.platform = $1 AND d.token = $2 AND d.token_registered_at <= $3");
/// A user's devices through their listing, oldest association first: the listing probed by
/// user id, each device by id; `d.user_id` is checked too, so a listing is never trusted alone.
/// A join, not `id = ANY (ARRAY (listing))`: PostgreSQL runs it as a nested loop of primary-key
/// probes, over twice as fast for a thousand users as the array form (measured, 600,000
/// devices).
pub(crate) const SELECT_BY_USER: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM user_devices u JOIN devices d ON d.id = u.device_id AND d.user_id = u.user_id ",
    "WHERE u.user_id = $1 ORDER BY u.associated_at, u.device_id"
);
/// Every device of many users in one statement: one probe of the listing per user, one of
/// the devices per device.
pub(crate) const SELECT_BY_USERS: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM user_devices u JOIN devices d ON d.id = u.device_id AND d.user_id = u.user_id ",
    "WHERE u.user_id = ANY ($1) ORDER BY u.user_id, u.associated_at, u.device_id"
);
pub(crate) const LOCK_USER: &str = "SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE";
pub(crate) const INSERT_USER: &str =
    "INSERT INTO users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";
pub(crate) const DELETE_BY_USER: &str =
    deleting!("d.id IN (SELECT device_id FROM user_devices WHERE user_id = $1) AND d.user_id = $1");
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE user_id = $1";
pub(crate) const UPDATE_METADATA: &str = concat!(
    "UPDATE devices d SET metadata = $2 WHERE d.id = $1 RETURNING ",
    device_columns!()
);
pub(crate) const LOCK_DEVICE: &str = "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE";
pub(crate) const DELETE_OTHER_HOLDER: &str =
    deleting!("d.platform = $1 AND d.token = $2 AND d.id <> $3");
pub(crate) const UPDATE_TOKEN: &str = concat!(
    "UPDATE devices d SET token = $2, web_p256dh = $3, web_auth = $4, token_registered_at = $5 ",
    "WHERE d.id = $1 RETURNING ",
    device_columns!()
);
pub(crate) const SELECT_USER_OF: &str = "SELECT user_id FROM devices WHERE id = $1";
pub(crate) const LOCK_USER_OF: &str = "SELECT user_id FROM devices WHERE id = $1 FOR UPDATE";
pub(crate) const SELECT_ASSOCIATED: &str =
    "SELECT device_id, associated_at FROM user_devices WHERE user_id = $1 AND platform = $2";
pub(crate) const DISASSOCIATE: &str =
    "UPDATE devices SET user_id = NULL, associated_at = NULL WHERE id = ANY($1) AND user_id = $2";
pub(crate) const UNLIST: &str =
    "DELETE FROM user_devices WHERE user_id = $1 AND device_id = ANY($2)";
pub(crate) const ASSOCIATE: &str =
    "UPDATE devices SET user_id = $2, associated_at = $3 WHERE id = $1";
pub(crate) const LIST: &str = "INSERT INTO user_devices (user_id, device_id, platform, associated_at) \
     VALUES ($1, $2, $3, $4)";

/// Registers or renews a device in one transaction. Two registrations of one new token may
/// both find none and both insert: the second fails on the unique index, and its retry
/// renews what the first made (see `Retry::OnConflict`).
pub(crate) async fn register(
    tx: &Transaction<'_>,
    registration: &DeviceRegistration,
) -> Result<RegistrationOutcome, StoreError> {
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

    if let Some(existing) = one_device(tx, SELECT_BY_TOKEN, &[&platform, &token]).await? {
        if let Err(refusal) = check_renewal(&existing, registration) {
            return Ok(RegistrationOutcome::Refused(refusal));
        }
        let renewed = one_device(tx, RENEW, &[&existing.id.as_str(), &metadata, &at]).await?;
        return renewed
            .map(RegistrationOutcome::Renewed)
            .ok_or_else(vanished);
    }
    // A caller reusing an id replaces that device whole.
    many_devices(tx, DELETE_BY_ID, &[&registration.id.as_str()]).await?;
    let (p256dh, auth) = DeviceColumns::web_keys(&registration.token);
    let inserted = one_device(
        tx,
        INSERT,
        &[
            &registration.id.as_str(),
            &platform,
            &token,
            &p256dh,
            &auth,
            &metadata,
            &at,
        ],
    )
    .await?;
    inserted
        .map(RegistrationOutcome::Registered)
        .ok_or_else(vanished)
}

pub(crate) async fn device(
    client: &impl GenericClient,
    id: &DeviceId,
) -> Result<Option<Device>, StoreError> {
    one_device(client, SELECT_BY_ID, &[&id.as_str()]).await
}

pub(crate) async fn remove_device(
    client: &impl GenericClient,
    id: &DeviceId,
) -> Result<Option<Device>, StoreError> {
    one_device(client, DELETE_BY_ID, &[&id.as_str()]).await
}

pub(crate) async fn remove_device_by_token(
    client: &impl GenericClient,
    token: &PushToken,
    registered_no_later_than: Timestamp,
) -> Result<Option<Device>, StoreError> {
    let cutoff = registered_no_later_than.as_unix_millis();
    one_device(
        client,
        DELETE_BY_TOKEN,
        &[&token.platform().as_str(), &token.key(), &cutoff],
    )
    .await
}

pub(crate) async fn devices_of_user(
    client: &impl GenericClient,
    user: &UserId,
) -> Result<Vec<Device>, StoreError> {
    many_devices(client, SELECT_BY_USER, &[&user_column(user)]).await
}

pub(crate) async fn devices_of_users(
    client: &impl GenericClient,
    users: &[UserId],
) -> Result<Vec<Device>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&[u8]> = users.iter().map(user_column).collect();
    many_devices(client, SELECT_BY_USERS, &[&ids]).await
}

/// Deletes every device of the user, under the user's lock so no association slips in
/// between, and the user's row with them.
pub(crate) async fn remove_user(
    tx: &Transaction<'_>,
    user: &UserId,
) -> Result<Vec<Device>, StoreError> {
    let user = user_column(user);
    execute(tx, LOCK_USER, &[&user]).await?;
    let removed = many_devices(tx, DELETE_BY_USER, &[&user]).await?;
    execute(tx, DELETE_USER, &[&user]).await?;
    Ok(removed)
}

pub(crate) async fn update_metadata(
    client: &impl GenericClient,
    id: &DeviceId,
    metadata: &DeviceMetadata,
) -> Result<Option<Device>, StoreError> {
    let metadata = DeviceColumns::metadata_json(metadata);
    one_device(client, UPDATE_METADATA, &[&id.as_str(), &metadata]).await
}

/// Moves a device to a new push token; a device that held that token is deleted first.
pub(crate) async fn update_token(
    tx: &Transaction<'_>,
    id: &DeviceId,
    token: &PushToken,
    at: Timestamp,
) -> Result<Option<Device>, StoreError> {
    if execute(tx, LOCK_DEVICE, &[&id.as_str()]).await? == 0 {
        return Ok(None);
    }
    let platform = token.platform().as_str();
    many_devices(
        tx,
        DELETE_OTHER_HOLDER,
        &[&platform, &token.key(), &id.as_str()],
    )
    .await?;
    let (p256dh, auth) = DeviceColumns::web_keys(token);
    let at = at.as_unix_millis();
    one_device(
        tx,
        UPDATE_TOKEN,
        &[&id.as_str(), &token.key(), &p256dh, &auth, &at],
    )
    .await
}

/// What an association can decide from one read, outside any transaction: the device is
/// gone, or it already has a user (so the policy needs nothing more). `None`: the device is
/// free, and deciding needs the user's lock.
pub(crate) async fn associate_without_lock(
    client: &impl GenericClient,
    request: &AssociationRequest,
) -> Result<Option<Option<AssociationOutcome>>, StoreError> {
    let Some(current) = user_of(client, SELECT_USER_OF, &request.device).await? else {
        return Ok(Some(None));
    };
    // Free devices need the lock; a failed "read" here only says so.
    let plan = request
        .policy
        .plan_loading_async(&request.device, current.as_ref(), &request.user, || async {
            Err(())
        })
        .await;
    Ok(match plan.map(|plan| plan.to_apply()) {
        Ok(Err(unchanged)) => Some(Some(unchanged)),
        // Anything that changes the device is decided under the lock.
        Ok(Ok(_)) | Err(()) => None,
    })
}

/// The association primitive: locks the user, then the device; reads, plans (in beams-core)
/// and applies in one transaction. The user's lock is what makes the limit exact: every
/// association of the user, from any connection of any node, waits for the one before it to
/// commit, and then reads what it left.
///
/// The user's row is made if missing, locked, and the device and the user's listing read in
/// one round trip: PostgreSQL runs pipelined statements in order, each reading after the
/// lock. The listing is read even when the plan will not need it — cheaper than a second
/// round trip with the lock held.
pub(crate) async fn associate(
    tx: &Transaction<'_>,
    request: &AssociationRequest,
) -> Result<Option<AssociationOutcome>, StoreError> {
    let user = user_column(&request.user);
    let platform = request.device.platform();
    let (_, _, current, listed) = try_join4(
        execute(tx, INSERT_USER, &[&user]),
        execute(tx, LOCK_USER, &[&user]),
        user_of(tx, LOCK_USER_OF, &request.device),
        associated(tx, &request.user, platform),
    )
    .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let plan = request
        .policy
        .plan_loading_async(&request.device, current.as_ref(), &request.user, || async {
            Ok::<_, StoreError>(listed)
        })
        .await?;
    let evicted = match plan.to_apply() {
        Ok(evict) => evict,
        Err(unchanged) => return Ok(Some(unchanged)),
    };
    let evicted_ids: Vec<&str> = evicted.iter().map(DeviceId::as_str).collect();
    let device = request.device.as_str();
    let at = request.at.as_unix_millis();
    let platform = platform.as_str();
    // Sent together, run in this order: devices rows before user_devices rows.
    try_join4(
        execute(tx, DISASSOCIATE, &[&evicted_ids, &user]),
        execute(tx, ASSOCIATE, &[&device, &user, &at]),
        execute(tx, UNLIST, &[&user, &evicted_ids]),
        execute(tx, LIST, &[&user, &device, &platform, &at]),
    )
    .await?;
    Ok(Some(AssociationOutcome::Associated { evicted }))
}

/// The user of a device: `None` when there is no such device, `Some(None)` when it has none.
async fn user_of(
    client: &impl GenericClient,
    sql: &str,
    device: &DeviceId,
) -> Result<Option<Option<UserId>>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    let Some(row) = client
        .query_opt(&stmt, &[&device.as_str()])
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let user: Option<Vec<u8>> = row
        .try_get(0)
        .map_err(|e| StoreError::corrupt_column(device.as_str(), "user_id", e))?;
    user.map(|bytes| user_from_column(bytes, device.as_str()))
        .transpose()
        .map(Some)
}

/// The policy's view of a user's devices on one platform.
async fn associated(
    client: &impl GenericClient,
    user: &UserId,
    platform: Platform,
) -> Result<Vec<AssociatedDevice>, StoreError> {
    let rows = query(
        client,
        SELECT_ASSOCIATED,
        &[&user_column(user), &platform.as_str()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row
                .try_get(0)
                .map_err(|e| StoreError::corrupt_column("?", "id", e))?;
            let at: i64 = row
                .try_get(1)
                .map_err(|e| StoreError::corrupt_column(&id, "associated_at", e))?;
            let id = DeviceId::parse(&id).map_err(|e| StoreError::corrupt_column(&id, "id", e))?;
            Ok(AssociatedDevice {
                associated_at: Timestamp::from_unix_millis(at),
                id,
            })
        })
        .collect()
}

/// Runs a cached statement, answering the rows it changed.
pub(crate) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    client.execute(&stmt, params).await.map_err(store_error)
}

/// Runs a cached statement, answering its rows.
pub(crate) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    client.query(&stmt, params).await.map_err(store_error)
}

async fn one_device(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Device>, StoreError> {
    let rows = query(client, sql, params).await?;
    rows.first().map(device_from_row).transpose()
}

pub(crate) async fn many_devices(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Device>, StoreError> {
    devices_from_rows(&query(client, sql, params).await?)
}
