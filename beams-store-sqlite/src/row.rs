//! How a device is laid out in a `devices` row, both ways.

use beams_core::{
    Device, DeviceId, DeviceMetadata, EndpointRules, Platform, PushToken, StoreError, Timestamp,
    UserId,
};
use rusqlite::Row;
use rusqlite::types::FromSql;

use crate::error::corrupt_row;

/// The columns every device query selects, in the order [`device_from_row`] reads them; a
/// macro so queries can be `concat!`-ed into constants.
macro_rules! device_columns {
    () => {
        "id, platform, token_key, token, user_id, metadata, created_at, associated_at, \
         token_registered_at"
    };
}

pub(crate) use device_columns;

/// The token column: the raw token, or the subscription's JSON for Web Push.
pub(crate) fn token_column(token: &PushToken) -> String {
    match token {
        PushToken::Web(subscription) => subscription.to_json(),
        other => other.key().to_owned(),
    }
}

/// The metadata column, as JSON.
pub(crate) fn metadata_column(metadata: &DeviceMetadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".to_owned())
}

/// Reads a device from a row selected with [`DEVICE_COLUMNS`], validating every field as on
/// the way in, so a hand-edited or damaged row is a typed `Corrupt` error naming it.
pub(crate) fn device_from_row(row: &Row<'_>) -> Result<Device, StoreError> {
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
    let raw_token: String = column(row, &raw_id, 3, "token")?;
    // Loopback endpoints were accepted at registration only when allowed; reading back must
    // not refuse what was stored.
    let rules = EndpointRules {
        allow_loopback_http: true,
    };
    let token = PushToken::parse(platform, &raw_token, rules)
        .map_err(|e| corrupt_row(&raw_id, "token", e))?;
    let user: Option<String> = column(row, &raw_id, 4, "user_id")?;
    let user = user
        .map(UserId::new)
        .transpose()
        .map_err(|e| corrupt_row(&raw_id, "user_id", e))?;
    let metadata: String = column(row, &raw_id, 5, "metadata")?;
    let metadata: DeviceMetadata =
        serde_json::from_str(&metadata).map_err(|e| corrupt_row(&raw_id, "metadata", e))?;
    let created_at: i64 = column(row, &raw_id, 6, "created_at")?;
    let associated_at: Option<i64> = column(row, &raw_id, 7, "associated_at")?;
    let token_registered_at: i64 = column(row, &raw_id, 8, "token_registered_at")?;

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

fn column<T: FromSql>(row: &Row<'_>, id: &str, index: usize, name: &str) -> Result<T, StoreError> {
    row.get(index).map_err(|e| corrupt_row(id, name, e))
}
