//! Devices: what the engine knows about one app install or browser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DeviceId, Platform, PushToken, Rule, Timestamp, UserId, ValidationError};

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The id the engine gave the device; its prefix is the token's platform.
    pub id: DeviceId,
    /// Where the push service reaches the device.
    pub token: PushToken,
    /// The user the device is associated with, if any.
    pub user: Option<UserId>,
    /// What the client SDK said about itself.
    pub metadata: DeviceMetadata,
    /// When the device was first registered.
    pub created_at: Timestamp,
    /// When the device was associated with its current user (`None` when it has no user).
    pub associated_at: Option<Timestamp>,
    /// When its push token was last registered; a dead-token report older than this is stale.
    pub token_registered_at: Timestamp,
}

impl Device {
    /// The device's platform.
    pub fn platform(&self) -> Platform {
        self.token.platform()
    }
}

/// What a store needs to register a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// The id to use if the token is new; a known token keeps its device's id.
    pub id: DeviceId,
    /// The device's push token.
    pub token: PushToken,
    /// The client's metadata.
    pub metadata: DeviceMetadata,
    /// The time of registration.
    pub at: Timestamp,
}

impl DeviceRegistration {
    /// The device a registration of a new token makes: no user yet, and `at` as both its
    /// creation and its token's registration time.
    pub fn into_device(self) -> Device {
        Device {
            id: self.id,
            token: self.token,
            user: None,
            metadata: self.metadata,
            created_at: self.at,
            associated_at: None,
            token_registered_at: self.at,
        }
    }
}

/// Free-form facts a client SDK reports about itself (`sdkVersion`, `iosVersion`, …), as
/// string pairs with bounded size.
///
/// ```
/// use beams_core::DeviceMetadata;
///
/// let metadata = DeviceMetadata::new([("sdkVersion", "1.1.0")])?;
/// assert_eq!(metadata.get("sdkVersion"), Some("1.1.0"));
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DeviceMetadata(BTreeMap<String, String>);

impl DeviceMetadata {
    /// The most entries.
    pub const MAX_ENTRIES: usize = 32;
    /// The longest key, in characters.
    pub const MAX_KEY_CHARS: usize = 64;
    /// The longest value, in characters.
    pub const MAX_VALUE_CHARS: usize = 512;

    /// Validates the given pairs as metadata.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, ValidationError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_map(map)
    }

    fn from_map(map: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        let too_long =
            |max, actual| ValidationError::new("metadata", Rule::TooLong { max, actual });
        if map.len() > Self::MAX_ENTRIES {
            return Err(too_long(Self::MAX_ENTRIES, map.len()));
        }
        for (key, value) in &map {
            if key.is_empty() {
                return Err(ValidationError::new("metadata", Rule::Empty));
            }
            let key_chars = key.chars().count();
            if key_chars > Self::MAX_KEY_CHARS {
                return Err(too_long(Self::MAX_KEY_CHARS, key_chars));
            }
            let value_chars = value.chars().count();
            if value_chars > Self::MAX_VALUE_CHARS {
                return Err(too_long(Self::MAX_VALUE_CHARS, value_chars));
            }
        }
        Ok(DeviceMetadata(map))
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every pair, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there is no metadata.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for DeviceMetadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        DeviceMetadata::from_map(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_sizes_are_bounded() {
        assert!(DeviceMetadata::new([("", "x")]).is_err());
        assert!(DeviceMetadata::new([("k".repeat(65), "x")]).is_err());
        assert!(DeviceMetadata::new([("k", "v".repeat(513))]).is_err());
        let many = (0..33).map(|i| (i.to_string(), String::new()));
        assert!(DeviceMetadata::new(many).is_err());
    }

    #[test]
    fn metadata_deserializes_through_validation() {
        let ok: DeviceMetadata = serde_json::from_str(r#"{"sdkVersion":"2.0"}"#).unwrap();
        assert_eq!(ok.get("sdkVersion"), Some("2.0"));
        assert!(serde_json::from_str::<DeviceMetadata>(r#"{"":"x"}"#).is_err());
    }
}
