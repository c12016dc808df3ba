//! Device Interests in SQL: a device's subscriptions, and the devices of interests.

use std::collections::BTreeSet;

use beams_core::{Device, DeviceId, Interest, InterestChange, StoreError};
use deadpool_postgres::{GenericClient, Transaction};

use crate::error::store_error;
use crate::queries::{execute, many_devices, query};
use crate::row::device_columns;

/// Locks the device's row against other interest changes (and its deletion) until commit:
/// a device's subscriptions change one transaction at a time, so a count checked is a count
/// kept. `NO KEY` leaves the row's key free, so subscribing never waits on the foreign key.
pub(crate) const LOCK_DEVICE: &str = "SELECT 1 FROM devices WHERE id = $1 FOR NO KEY UPDATE";
pub(crate) const DEVICE_EXISTS: &str = "SELECT 1 FROM devices WHERE id = $1";
pub(crate) const CLEAR: &str = "DELETE FROM device_interests WHERE device_id = $1";
pub(crate) const INSERT_ALL: &str = "INSERT INTO device_interests (device_id, interest) \
     SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING";
/// Subscribes the device unless it is subscribed already or has `$3` interests.
pub(crate) const INSERT_BELOW_MAX: &str = "INSERT INTO device_interests (device_id, interest) \
     SELECT $1, $2 WHERE (SELECT count(*) FROM device_interests WHERE device_id = $1) < $3 \
     ON CONFLICT DO NOTHING";
pub(crate) const HAS: &str =
    "SELECT 1 FROM device_interests WHERE device_id = $1 AND interest = $2";
pub(crate) const DELETE: &str =
    "DELETE FROM device_interests WHERE device_id = $1 AND interest = $2";
/// Whether the device exists, and a page of its interests, from one snapshot.
pub(crate) const PAGE: &str = "SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1), \
     ARRAY(SELECT interest FROM device_interests WHERE device_id = $1 AND interest > $2 \
     ORDER BY interest LIMIT $3)";
/// The next page of devices subscribed to any of `$1`: each interest is read by the index
/// `(interest, device_id)` for its first `$3` subscribers after `$2` — one index scan per
/// interest, however large — and the page is the first `$3` of their union, which those
/// scans are sure to contain.
pub(crate) const SUBSCRIBERS_PAGE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices d WHERE d.id IN (",
    "SELECT DISTINCT s.device_id FROM unnest($1::text[]) AS i (name) ",
    "CROSS JOIN LATERAL (SELECT device_id FROM device_interests ",
    "WHERE interest = i.name AND device_id > $2 ORDER BY device_id LIMIT $3) s ",
    "ORDER BY s.device_id LIMIT $3) ORDER BY d.id"
);

async fn exists(client: &impl GenericClient, id: &DeviceId) -> Result<bool, StoreError> {
    Ok(execute(client, DEVICE_EXISTS, &[&id.as_str()]).await? > 0)
}

pub(crate) async fn set(
    tx: &Transaction<'_>,
    id: &DeviceId,
    interests: &BTreeSet<Interest>,
) -> Result<Option<()>, StoreError> {
    if execute(tx, LOCK_DEVICE, &[&id.as_str()]).await? == 0 {
        return Ok(None);
    }
    execute(tx, CLEAR, &[&id.as_str()]).await?;
    let names: Vec<&str> = interests.iter().map(Interest::as_str).collect();
    if !names.is_empty() {
        execute(tx, INSERT_ALL, &[&id.as_str(), &names]).await?;
    }
    Ok(Some(()))
}

pub(crate) async fn add(
    tx: &Transaction<'_>,
    id: &DeviceId,
    interest: &Interest,
    max: usize,
) -> Result<Option<InterestChange>, StoreError> {
    if execute(tx, LOCK_DEVICE, &[&id.as_str()]).await? == 0 {
        return Ok(None);
    }
    let most = i64::try_from(max).unwrap_or(i64::MAX);
    let added = execute(
        tx,
        INSERT_BELOW_MAX,
        &[&id.as_str(), &interest.as_str(), &most],
    )
    .await?;
    if added > 0 {
        return Ok(Some(InterestChange::Added));
    }
    let has = execute(tx, HAS, &[&id.as_str(), &interest.as_str()]).await? > 0;
    Ok(Some(if has {
        InterestChange::AlreadySubscribed
    } else {
        InterestChange::TooMany { max }
    }))
}

pub(crate) async fn remove(
    client: &impl GenericClient,
    id: &DeviceId,
    interest: &Interest,
) -> Result<Option<bool>, StoreError> {
    if execute(client, DELETE, &[&id.as_str(), &interest.as_str()]).await? > 0 {
        return Ok(Some(true));
    }
    Ok(exists(client, id).await?.then_some(false))
}

pub(crate) async fn page(
    client: &impl GenericClient,
    id: &DeviceId,
    after: Option<&Interest>,
    limit: usize,
) -> Result<Option<Vec<Interest>>, StoreError> {
    let after = after.map_or("", Interest::as_str);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(client, PAGE, &[&id.as_str(), &after, &limit]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let (exists, names): (bool, Vec<String>) = row
        .try_get(0)
        .and_then(|exists| Ok((exists, row.try_get(1)?)))
        .map_err(store_error)?;
    if !exists {
        return Ok(None);
    }
    names
        .into_iter()
        .map(|name| {
            Interest::new(name).map_err(|e| {
                StoreError::corrupt_column(id.as_str(), "device_interests.interest", e)
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(crate) async fn subscribers_page(
    client: &impl GenericClient,
    interests: &[Interest],
    after: Option<&DeviceId>,
    limit: usize,
) -> Result<Vec<Device>, StoreError> {
    if interests.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = interests.iter().map(Interest::as_str).collect();
    let after = after.map_or("", DeviceId::as_str);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    many_devices(client, SUBSCRIBERS_PAGE, &[&names, &after, &limit]).await
}
