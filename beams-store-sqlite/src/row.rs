//! How a device is laid out in a `devices` row, both ways.

use beams_core::{Device, DeviceColumns, StoreError};
use rusqlite::Row;
use rusqlite::types::FromSql;

/// The columns every device query selects, in the order [`device_from_row`] reads them; a
/// macro so queries can be `concat!`-ed into constants.
macro_rules! device_columns {
    () => {
        "id, platform, token, web_p256dh, web_auth, user_id, metadata, created_at, \
         associated_at, token_registered_at"
    };
}

pub(crate) use device_columns;

/// Reads a device from a row selected with [`device_columns`]; beams-core validates every
/// field as on the way in, so a hand-edited or damaged row is a typed `Corrupt` error naming
/// it.
pub(crate) fn device_from_row(row: &Row<'_>) -> Result<Device, StoreError> {
    let id: String = column(row, "?", 0, "id")?;
    DeviceColumns {
        platform: column(row, &id, 1, "platform")?,
        token: column(row, &id, 2, "token")?,
        web_p256dh: column(row, &id, 3, "web_p256dh")?,
        web_auth: column(row, &id, 4, "web_auth")?,
        user_id: column(row, &id, 5, "user_id")?,
        metadata: column(row, &id, 6, "metadata")?,
        created_at: column(row, &id, 7, "created_at")?,
        associated_at: column(row, &id, 8, "associated_at")?,
        token_registered_at: column(row, &id, 9, "token_registered_at")?,
        id,
    }
    .into_device()
}

fn column<T: FromSql>(row: &Row<'_>, id: &str, index: usize, name: &str) -> Result<T, StoreError> {
    row.get(index)
        .map_err(|e| StoreError::corrupt_column(id, name, e))
}
