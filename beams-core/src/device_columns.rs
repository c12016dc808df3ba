//! A device as relational stores keep it: one row of plain columns, checked on the way out.

use crate::{
    Device, DeviceId, DeviceMetadata, EndpointRules, Platform, PushToken, StoreError, Timestamp,
    UserId, WebSubscription,
};

/// A device's columns as a relational store reads them, before any validation: the id, the
/// platform, the push token (for Web Push, the subscription's endpoint, with its two keys
/// beside it), the user, the metadata as JSON, and the times in Unix milliseconds.
///
/// [`into_device`](Self::into_device) validates every field as on the way in, so a
/// hand-edited or damaged row is a typed `Corrupt` error naming its row and column, never a
/// device that breaks a rule.
///
/// ```
/// use beams_core::{DeviceColumns, Platform};
///
/// let device = DeviceColumns {
///     id: "fcm-3f2c7a8e-1b4d-4c6e-9f0a-2b3c4d5e6f70".into(),
///     platform: "fcm".into(),
///     token: "a-registration-token".into(),
///     web_p256dh: None,
///     web_auth: None,
///     user_id: Some("alice".into()),
///     metadata: "{}".into(),
///     created_at: 1,
///     associated_at: Some(2),
///     token_registered_at: 1,
/// }
/// .into_device()?;
/// assert_eq!(device.id.platform(), Platform::Fcm);
/// # Ok::<(), beams_core::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceColumns {
    /// The device id.
    pub id: String,
    /// `apns`, `fcm` or `web`.
    pub platform: String,
    /// The push token's key: the APNs or FCM token, or the Web Push endpoint.
    pub token: String,
    /// The Web Push subscription's `p256dh` key; `None` on other platforms.
    pub web_p256dh: Option<Vec<u8>>,
    /// The Web Push subscription's `auth` secret; `None` on other platforms.
    pub web_auth: Option<Vec<u8>>,
    /// The user the device is associated with.
    pub user_id: Option<String>,
    /// The metadata, as JSON.
    pub metadata: String,
    /// When the device was created.
    pub created_at: i64,
    /// When the device was associated with its user.
    pub associated_at: Option<i64>,
    /// When the device's push token was registered.
    pub token_registered_at: i64,
}

impl DeviceColumns {
    /// The columns of `device`, as a store writes them.
    pub fn of(device: &Device) -> Self {
        let (web_p256dh, web_auth) = match Self::web_keys(&device.token) {
            (Some(p256dh), Some(auth)) => (Some(p256dh.to_vec()), Some(auth.to_vec())),
            _ => (None, None),
        };
        DeviceColumns {
            id: device.id.as_str().to_owned(),
            platform: device.id.platform().as_str().to_owned(),
            token: device.token.key().to_owned(),
            web_p256dh,
            web_auth,
            user_id: device.user.as_ref().map(|user| user.as_str().to_owned()),
            metadata: Self::metadata_json(&device.metadata),
            created_at: device.created_at.as_unix_millis(),
            associated_at: device.associated_at.map(Timestamp::as_unix_millis),
            token_registered_at: device.token_registered_at.as_unix_millis(),
        }
    }

    /// The Web Push keys columns (`p256dh`, `auth`) of a token, `None` for other platforms.
    pub fn web_keys(token: &PushToken) -> (Option<&[u8]>, Option<&[u8]>) {
        match token {
            PushToken::Web(subscription) => (
                Some(subscription.p256dh().as_slice()),
                Some(subscription.auth().as_slice()),
            ),
            _ => (None, None),
        }
    }

    /// Metadata as the JSON a store keeps.
    pub fn metadata_json(metadata: &DeviceMetadata) -> String {
        serde_json::to_string(metadata).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The device these columns hold, every field validated.
    pub fn into_device(self) -> Result<Device, StoreError> {
        let row = self.id.as_str();
        let id = DeviceId::parse(row).map_err(|e| StoreError::corrupt_column(row, "id", e))?;
        let platform: Platform = self
            .platform
            .parse()
            .map_err(|e| StoreError::corrupt_column(row, "platform", e))?;
        if id.platform() != platform {
            return Err(StoreError::corrupt_column(
                row,
                "platform",
                "the id names another platform",
            ));
        }
        let token = match (platform, &self.web_p256dh, &self.web_auth) {
            (Platform::Web, Some(p256dh), Some(auth)) => {
                WebSubscription::from_bytes(&self.token, p256dh, auth, EndpointRules::STORED)
                    .map(PushToken::Web)
            }
            (Platform::Web, _, _) => {
                return Err(StoreError::corrupt_column(
                    row,
                    "web_p256dh",
                    "a Web Push device has no keys",
                ));
            }
            (other, _, _) => PushToken::parse(other, &self.token, EndpointRules::default()),
        }
        .map_err(|e| StoreError::corrupt_column(row, "token", e))?;
        let user = self
            .user_id
            .map(UserId::new)
            .transpose()
            .map_err(|e| StoreError::corrupt_column(row, "user_id", e))?;
        let metadata: DeviceMetadata = serde_json::from_str(&self.metadata)
            .map_err(|e| StoreError::corrupt_column(row, "metadata", e))?;
        Ok(Device {
            id,
            token,
            user,
            metadata,
            created_at: Timestamp::from_unix_millis(self.created_at),
            associated_at: self.associated_at.map(Timestamp::from_unix_millis),
            token_registered_at: Timestamp::from_unix_millis(self.token_registered_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreErrorKind;
    use crate::testing::fixtures::{metadata, push_token, user};

    fn device(platform: Platform) -> Device {
        Device {
            id: DeviceId::generate(platform),
            token: push_token(platform, 7),
            user: Some(user("alice")),
            metadata: metadata("1.2.3"),
            created_at: Timestamp::from_unix_millis(1),
            associated_at: Some(Timestamp::from_unix_millis(2)),
            token_registered_at: Timestamp::from_unix_millis(3),
        }
    }

    #[test]
    fn every_platforms_device_round_trips() {
        for platform in Platform::ALL {
            let device = device(platform);
            assert_eq!(DeviceColumns::of(&device).into_device().unwrap(), device);
        }
    }

    #[test]
    fn a_damaged_column_is_corrupt_naming_it() {
        let damaged = [
            (
                "id",
                DeviceColumns {
                    id: "nope".into(),
                    ..DeviceColumns::of(&device(Platform::Fcm))
                },
            ),
            (
                "platform",
                DeviceColumns {
                    platform: "apns".into(),
                    ..DeviceColumns::of(&device(Platform::Fcm))
                },
            ),
            (
                "token",
                DeviceColumns {
                    token: "".into(),
                    ..DeviceColumns::of(&device(Platform::Fcm))
                },
            ),
            (
                "web_p256dh",
                DeviceColumns {
                    web_p256dh: None,
                    ..DeviceColumns::of(&device(Platform::Web))
                },
            ),
            (
                "user_id",
                DeviceColumns {
                    user_id: Some("".into()),
                    ..DeviceColumns::of(&device(Platform::Fcm))
                },
            ),
            (
                "metadata",
                DeviceColumns {
                    metadata: "[".into(),
                    ..DeviceColumns::of(&device(Platform::Fcm))
                },
            ),
        ];
        for (column, columns) in damaged {
            let err = columns.into_device().unwrap_err();
            match err.kind() {
                StoreErrorKind::Corrupt { key } => {
                    assert!(key.ends_with(&format!("column {column}")), "{key}")
                }
                other => panic!("{column}: expected Corrupt, got {other:?}"),
            }
        }
    }
}
