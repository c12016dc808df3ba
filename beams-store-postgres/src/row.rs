//! How a device is laid out in a `devices` row, both ways.

use beams_core::{
    Device, DeviceId, DeviceMetadata, EndpointRules, Platform, PushToken, StoreError, Timestamp,
    UserId, WebSubscription,
};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::error::corrupt_row;

/// The columns every device query selects, in the order [`device_from_row`] reads them, from
/// the table aliased `d`; a macro so queries can be `concat!`-ed into constants.
macro_rules! device_columns {
    () => {
        "d.id, d.platform, d.token, d.web_p256dh, d.web_auth, d.user_id, d.metadata, \
         d.created_at, d.associated_at, d.token_registered_at"
    };
}

pub(crate) use device_columns;

/// The Web Push keys columns (`web_p256dh`, `web_auth`), `NULL` for other platforms.
pub(crate) fn web_key_columns(token: &PushToken) -> (Option<&[u8]>, Option<&[u8]>) {
    match token {
        PushToken::Web(subscription) => (
            Some(subscription.p256dh().as_slice()),
            Some(subscription.auth().as_slice()),
        ),
        _ => (None, None),
    }
}

/// The metadata column, as JSON.
pub(crate) fn metadata_column(metadata: &DeviceMetadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".to_owned())
}

/// A user id as stored: its UTF-8 bytes.
pub(crate) fn user_column(user: &UserId) -> &[u8] {
    user.as_str().as_bytes()
}

/// A stored user id, validated as on the way in.
pub(crate) fn user_from_column(bytes: Vec<u8>, device: &str) -> Result<UserId, StoreError> {
    let text = String::from_utf8(bytes).map_err(|e| corrupt_row(device, "user_id", e))?;
    UserId::new(text).map_err(|e| corrupt_row(device, "user_id", e))
}

/// Reads a device from a row selected with [`device_columns`], validating every field as on
/// the way in, so a hand-edited or damaged row is a typed `Corrupt` error naming it.
pub(crate) fn device_from_row(row: &Row) -> Result<Device, StoreError> {
    let raw_id: String = column(row, "?", 0, "id")?;
    let id = DeviceId::parse(&raw_id).map_err(|e| corrupt_row(&raw_id, "id", e))?;

    let platform: String = column(row, &raw_id, 1, "platform")?;
    let platform: Platform = platform
        .parse()
        .map_err(|e| corrupt_row(&raw_id, "platform", e))?;
    if id.platform() != platform {
        return Err(corrupt_row(
            &raw_id,
            "platform",
            "the id names another platform",
        ));
    }
    let raw_token: String = column(row, &raw_id, 2, "token")?;
    let token = match platform {
        Platform::Web => {
            let p256dh: Vec<u8> = column(row, &raw_id, 3, "web_p256dh")?;
            let auth: Vec<u8> = column(row, &raw_id, 4, "web_auth")?;
            WebSubscription::from_bytes(&raw_token, &p256dh, &auth, EndpointRules::STORED)
                .map(PushToken::Web)
        }
        other => PushToken::parse(other, &raw_token, EndpointRules::default()),
    }
    .map_err(|e| corrupt_row(&raw_id, "token", e))?;
    let user: Option<Vec<u8>> = column(row, &raw_id, 5, "user_id")?;
    let user = user
        .map(|bytes| user_from_column(bytes, &raw_id))
        .transpose()?;
    let metadata: String = column(row, &raw_id, 6, "metadata")?;
    let metadata: DeviceMetadata =
        serde_json::from_str(&metadata).map_err(|e| corrupt_row(&raw_id, "metadata", e))?;
    let created_at: i64 = column(row, &raw_id, 7, "created_at")?;
    let associated_at: Option<i64> = column(row, &raw_id, 8, "associated_at")?;
    let token_registered_at: i64 = column(row, &raw_id, 9, "token_registered_at")?;

    Ok(Device {
        id,
        token,
        user,
        metadata,
        created_at: Timestamp::from_unix_millis(created_at),
        associated_at: associated_at.map(Timestamp::from_unix_millis),
        token_registered_at: Timestamp::from_unix_millis(token_registered_at),
    })
}

fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    id: &str,
    index: usize,
    name: &str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| corrupt_row(id, name, e))
}

/// Every device in `rows`.
pub(crate) fn devices_from_rows(rows: &[Row]) -> Result<Vec<Device>, StoreError> {
    rows.iter().map(device_from_row).collect()
}
