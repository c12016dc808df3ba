//! The id the engine gives a device when it registers.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::{Platform, Rule, ValidationError};

/// A device id: the platform, a dash, and a random UUID (`web-1db66b8a-f51f-49de-…`),
/// the shape Beams gives its devices.
///
/// Ids are made by [`DeviceId::generate`]; ids that arrive from clients go through
/// [`DeviceId::parse`], which refuses anything of another shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// A new, random id for a device on `platform`.
    pub fn generate(platform: Platform) -> Self {
        DeviceId(format!(
            "{}-{}",
            platform.as_str(),
            Uuid::new_v4().hyphenated()
        ))
    }

    /// Validates an id received from outside.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let shape = || {
            ValidationError::new(
                "device_id",
                Rule::Format {
                    expected: "a platform (apns, fcm, web), a dash and a lowercase hyphenated UUID",
                },
            )
        };
        let (platform, uuid) = value.split_once('-').ok_or_else(shape)?;
        platform.parse::<Platform>().map_err(|_| shape())?;
        // Only the canonical spelling (36 characters, lowercase), so one device has exactly
        // one id string.
        let canonical = uuid.len() == 36 && !uuid.bytes().any(|b| b.is_ascii_uppercase());
        if !canonical || Uuid::try_parse(uuid).is_err() {
            return Err(shape());
        }
        Ok(DeviceId(value.to_owned()))
    }

    /// The platform named by the id.
    pub fn platform(&self) -> Platform {
        match self.0.as_bytes().first() {
            Some(b'a') => Platform::Apns,
            Some(b'f') => Platform::Fcm,
            _ => Platform::Web,
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for DeviceId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceId::parse(s)
    }
}

impl serde::Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DeviceId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_name_their_platform() {
        for platform in Platform::ALL {
            let id = DeviceId::generate(platform);
            assert!(id.as_str().starts_with(platform.as_str()));
            assert_eq!(DeviceId::parse(id.as_str()).unwrap(), id);
            assert_eq!(id.platform(), platform);
        }
    }

    #[test]
    fn generated_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000)
            .map(|_| DeviceId::generate(Platform::Web))
            .collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "web",
            "web-",
            "sms-1db66b8a-f51f-49de-b225-72591535c855",
            "web-1DB66B8A-F51F-49DE-B225-72591535C855",
            "web-1db66b8af51f49deb22572591535c855",
            "web-1db66b8a-f51f-49de-b225-72591535c855/../x",
        ] {
            assert_eq!(
                DeviceId::parse(bad).unwrap_err().field(),
                "device_id",
                "{bad}"
            );
        }
    }
}
