//! Device Interests in SQL: a device's subscriptions, and the devices of interests.

use std::collections::BTreeSet;

use beams_core::{Device, DeviceId, Interest, InterestChange, StoreError};
use rusqlite::{Connection, params};

use crate::error::store_error;
use crate::queries::{in_transaction, many_devices};
use crate::row::device_columns;

pub(crate) const DEVICE_EXISTS: &str = "SELECT 1 FROM devices WHERE id = ?1";
pub(crate) const CLEAR: &str = "DELETE FROM device_interests WHERE device_id = ?1";
pub(crate) const INSERT: &str =
    "INSERT OR IGNORE INTO device_interests (device_id, interest) VALUES (?1, ?2)";
pub(crate) const DELETE: &str =
    "DELETE FROM device_interests WHERE device_id = ?1 AND interest = ?2";
/// Subscribes a device that exists, is not subscribed yet and has fewer than `?3` interests.
pub(crate) const INSERT_BELOW_MAX: &str = "INSERT INTO device_interests (device_id, interest) \
     SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?1) \
     AND NOT EXISTS (SELECT 1 FROM device_interests WHERE device_id = ?1 AND interest = ?2) \
     AND (SELECT count(*) FROM device_interests WHERE device_id = ?1) < ?3";
pub(crate) const HAS: &str =
    "SELECT 1 FROM device_interests WHERE device_id = ?1 AND interest = ?2";
pub(crate) const PAGE: &str = "SELECT interest FROM device_interests WHERE device_id = ?1 AND interest > ?2 \
     ORDER BY interest LIMIT ?3";
/// One interest's subscribers after a device id, in id order, limited: the index
/// `(interest, device_id)` answers it without sorting, however large the interest.
pub(crate) const IDS_OF: &str = "SELECT device_id FROM device_interests \
     WHERE interest = ?1 AND device_id > ?2 ORDER BY device_id LIMIT ?3";
pub(crate) const DEVICES_BY_IDS: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
);

fn exists(conn: &Connection, id: &DeviceId) -> Result<bool, StoreError> {
    conn.prepare_cached(DEVICE_EXISTS)
        .and_then(|mut stmt| stmt.exists([id.as_str()]))
        .map_err(store_error)
}

pub(crate) fn set(
    conn: &mut Connection,
    id: &DeviceId,
    interests: &BTreeSet<Interest>,
) -> Result<Option<()>, StoreError> {
    in_transaction(conn, |tx| {
        if !exists(tx, id)? {
            return Ok(None);
        }
        tx.prepare_cached(CLEAR)
            .and_then(|mut stmt| stmt.execute([id.as_str()]))
            .map_err(store_error)?;
        let mut insert = tx.prepare_cached(INSERT).map_err(store_error)?;
        for interest in interests {
            insert
                .execute(params![id.as_str(), interest.as_str()])
                .map_err(store_error)?;
        }
        Ok(Some(()))
    })
}

pub(crate) fn add(
    conn: &mut Connection,
    id: &DeviceId,
    interest: &Interest,
    max: usize,
) -> Result<Option<InterestChange>, StoreError> {
    in_transaction(conn, |tx| {
        // One statement inserts when the device is below the maximum; only when it changes
        // nothing is it worth asking why.
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let added = tx
            .prepare_cached(INSERT_BELOW_MAX)
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), interest.as_str(), max]))
            .map_err(store_error)?;
        if added > 0 {
            return Ok(Some(InterestChange::Added));
        }
        if !exists(tx, id)? {
            return Ok(None);
        }
        let has = tx
            .prepare_cached(HAS)
            .and_then(|mut stmt| stmt.exists(params![id.as_str(), interest.as_str()]))
            .map_err(store_error)?;
        Ok(Some(if has {
            InterestChange::AlreadySubscribed
        } else {
            InterestChange::TooMany {
                max: usize::try_from(max).unwrap_or(usize::MAX),
            }
        }))
    })
}

pub(crate) fn remove(
    conn: &mut Connection,
    id: &DeviceId,
    interest: &Interest,
) -> Result<Option<bool>, StoreError> {
    in_transaction(conn, |tx| {
        let removed = tx
            .prepare_cached(DELETE)
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), interest.as_str()]))
            .map_err(store_error)?;
        if removed > 0 {
            return Ok(Some(true));
        }
        Ok(exists(tx, id)?.then_some(false))
    })
}

pub(crate) fn page(
    conn: &Connection,
    id: &DeviceId,
    after: Option<&Interest>,
    limit: usize,
) -> Result<Option<Vec<Interest>>, StoreError> {
    // One snapshot for both statements, so a device deleted in between cannot read as present.
    let conn = &conn.unchecked_transaction().map_err(store_error)?;
    if !exists(conn, id)? {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(PAGE).map_err(store_error)?;
    let after = after.map_or("", Interest::as_str);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let names = stmt
        .query_map(params![id.as_str(), after, limit], |row| {
            row.get::<_, String>(0)
        })
        .map_err(store_error)?;
    names
        .map(|name| {
            let name = name.map_err(store_error)?;
            Interest::new(name).map_err(|e| {
                StoreError::corrupt_column(id.as_str(), "device_interests.interest", e)
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The next page of devices subscribed to any of `interests`. Each interest is scanned for
/// its first `limit` subscribers after `after`; the page is the first `limit` of their union,
/// which those scans are sure to contain. One query over all interests at once would make
/// SQLite collect and sort every remaining subscriber for every page.
pub(crate) fn subscribers_page(
    conn: &Connection,
    interests: &[Interest],
    after: Option<&DeviceId>,
    limit: usize,
) -> Result<Vec<Device>, StoreError> {
    if interests.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    // One snapshot for the id scans and the device read, so the page holds every id it chose.
    let conn = &conn.unchecked_transaction().map_err(store_error)?;
    let after = after.map_or("", DeviceId::as_str);
    let sql_limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut ids = BTreeSet::new();
    let mut stmt = conn.prepare_cached(IDS_OF).map_err(store_error)?;
    for interest in interests {
        let rows = stmt
            .query_map(params![interest.as_str(), after, sql_limit], |row| {
                row.get::<_, String>(0)
            })
            .map_err(store_error)?;
        for id in rows {
            ids.insert(id.map_err(store_error)?);
        }
    }
    let page: Vec<String> = ids.into_iter().take(limit).collect();
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let page = serde_json::to_string(&page)
        .map_err(|e| StoreError::with_source(beams_core::StoreErrorKind::Backend, e))?;
    many_devices(conn, DEVICES_BY_IDS, [page])
}
