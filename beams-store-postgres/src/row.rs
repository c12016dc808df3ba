//! How a device is laid out in a `devices` row, both ways.

use beams_core::{Device, DeviceColumns, StoreError, UserId};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

/// The columns every device query selects, in the order [`device_from_row`] reads them, from
/// the table aliased `d`; a macro so queries can be `concat!`-ed into constants.
macro_rules! device_columns {
    () => {
        "d.id, d.platform, d.token, d.web_p256dh, d.web_auth, d.user_id, d.metadata, \
         d.created_at, d.associated_at, d.token_registered_at"
    };
}

pub(crate) use device_columns;

/// A user id as stored: its UTF-8 bytes (`bytea`, which holds U+0000 where `text` cannot).
pub(crate) fn user_column(user: &UserId) -> &[u8] {
    user.as_str().as_bytes()
}

/// A stored user id, validated as on the way in.
pub(crate) fn user_from_column(bytes: Vec<u8>, device: &str) -> Result<UserId, StoreError> {
    let text = user_text(bytes, device)?;
    UserId::new(text).map_err(|e| StoreError::corrupt_column(device, "user_id", e))
}

fn user_text(bytes: Vec<u8>, device: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::corrupt_column(device, "user_id", e))
}

/// Reads a device from a row selected with [`device_columns`]; beams-core validates every
/// field as on the way in, so a hand-edited or damaged row is a typed `Corrupt` error naming
/// it.
pub(crate) fn device_from_row(row: &Row) -> Result<Device, StoreError> {
    let id: String = column(row, "?", 0, "id")?;
    let user_id: Option<Vec<u8>> = column(row, &id, 5, "user_id")?;
    DeviceColumns {
        platform: column(row, &id, 1, "platform")?,
        token: column(row, &id, 2, "token")?,
        web_p256dh: column(row, &id, 3, "web_p256dh")?,
        web_auth: column(row, &id, 4, "web_auth")?,
        user_id: user_id.map(|bytes| user_text(bytes, &id)).transpose()?,
        metadata: column(row, &id, 6, "metadata")?,
        created_at: column(row, &id, 7, "created_at")?,
        associated_at: column(row, &id, 8, "associated_at")?,
        token_registered_at: column(row, &id, 9, "token_registered_at")?,
        id,
    }
    .into_device()
}

fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    id: &str,
    index: usize,
    name: &str,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::corrupt_column(id, name, e))
}

/// Every device in `rows`.
pub(crate) fn devices_from_rows(rows: &[Row]) -> Result<Vec<Device>, StoreError> {
    rows.iter().map(device_from_row).collect()
}
