//! Values: a device as JSON, a user's devices on one platform as a compact list, and a
//! device's interests as a list of names.
//!
//! Every decode validates (ids, tokens and metadata go through beams-core's checks) and a
//! failure names the key that holds the bad bytes, as `StoreErrorKind::Corrupt`.

use std::fmt;

use beams_core::{
    AssociatedDevice, Device, DeviceId, Interest, StoreError, StoreErrorKind, Timestamp,
};

use crate::keys;

/// Why stored bytes did not decode, when serde did not say.
#[derive(Debug)]
struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Malformed {}

/// The error for a stored value, or an index entry, that cannot be right: only corruption gets
/// here.
pub(crate) fn corrupt(
    key: String,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StoreError {
    StoreError::with_source(StoreErrorKind::Corrupt { key }, source)
}

/// A device as stored under its id.
pub(crate) fn encode_device(device: &Device) -> Result<Vec<u8>, StoreError> {
    // Devices hold only strings, integers and string-keyed maps, which JSON always encodes.
    serde_json::to_vec(device).map_err(|err| StoreError::with_source(StoreErrorKind::Backend, err))
}

/// The device stored under `key`; it must carry that id.
pub(crate) fn decode_device(key: &[u8], bytes: &[u8]) -> Result<Device, StoreError> {
    let device: Device =
        serde_json::from_slice(bytes).map_err(|err| corrupt(keys::name::device(key), err))?;
    if keys::device(&device.id) != key {
        return Err(corrupt(
            keys::name::device(key),
            Malformed("the stored device has another id than its key"),
        ));
    }
    Ok(device)
}

/// A device id stored as an index value.
pub(crate) fn decode_device_id(
    bytes: &[u8],
    key: impl Fn() -> String,
) -> Result<DeviceId, StoreError> {
    let id = std::str::from_utf8(bytes).map_err(|err| corrupt(key(), err))?;
    DeviceId::parse(id).map_err(|err| corrupt(key(), err))
}

/// A user's devices on one platform: per device, `associated_at` (i64, big-endian), the id's
/// length (one byte) and the id.
pub(crate) fn encode_associated(devices: &[AssociatedDevice]) -> Vec<u8> {
    let mut out = Vec::with_capacity(devices.len() * 48);
    for device in devices {
        let id = device.id.as_str().as_bytes();
        out.extend_from_slice(&device.associated_at.as_unix_millis().to_be_bytes());
        // Device ids are a platform name, a dash and a UUID: 40 or 41 bytes.
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
    }
    out
}

/// Decodes [`encode_associated`]'s bytes; `key` names them in an error.
pub(crate) fn decode_associated(
    mut bytes: &[u8],
    key: impl Fn() -> String,
) -> Result<Vec<AssociatedDevice>, StoreError> {
    let truncated = || corrupt(key(), Malformed("a user's device list ends mid-entry"));
    let mut devices = Vec::with_capacity(bytes.len() / 48 + 1);
    while !bytes.is_empty() {
        let (at, rest) = bytes.split_first_chunk::<8>().ok_or_else(truncated)?;
        let (len, rest) = rest.split_first().ok_or_else(truncated)?;
        let (id, rest) = rest
            .split_at_checked(usize::from(*len))
            .ok_or_else(truncated)?;
        devices.push(AssociatedDevice {
            associated_at: Timestamp::from_unix_millis(i64::from_be_bytes(*at)),
            id: decode_device_id(id, &key)?,
        });
        bytes = rest;
    }
    Ok(devices)
}

/// A device's interests, already in name order and each once: per name its length (one byte)
/// and the name.
pub(crate) fn encode_interests<'a>(interests: impl IntoIterator<Item = &'a Interest>) -> Vec<u8> {
    let mut out = Vec::new();
    for interest in interests {
        let name = interest.as_str().as_bytes();
        // At most 164 ASCII characters.
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name);
    }
    out
}

/// Decodes [`encode_interests`]'s bytes, which must name valid interests in strictly
/// ascending order; `key` names them in an error.
pub(crate) fn decode_interests(
    mut bytes: &[u8],
    key: impl Fn() -> String,
) -> Result<Vec<Interest>, StoreError> {
    let mut interests: Vec<Interest> = Vec::new();
    while let Some((len, rest)) = bytes.split_first() {
        let (name, rest) = rest
            .split_at_checked(usize::from(*len))
            .ok_or_else(|| corrupt(key(), Malformed("a device's interest list ends mid-name")))?;
        let name = std::str::from_utf8(name).map_err(|err| corrupt(key(), err))?;
        let interest = Interest::new(name).map_err(|err| corrupt(key(), err))?;
        if interests.last().is_some_and(|last| *last >= interest) {
            return Err(corrupt(
                key(),
                Malformed("a device's interest list is out of order"),
            ));
        }
        interests.push(interest);
        bytes = rest;
    }
    Ok(interests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use beams_core::Platform;

    fn key() -> String {
        "beams.users/alice/fcm".to_owned()
    }

    #[test]
    fn association_lists_round_trip() {
        let devices: Vec<AssociatedDevice> = [i64::MIN, -1, 0, i64::MAX]
            .into_iter()
            .zip(Platform::ALL.into_iter().cycle())
            .map(|(at, platform)| AssociatedDevice {
                associated_at: Timestamp::from_unix_millis(at),
                id: DeviceId::generate(platform),
            })
            .collect();
        let bytes = encode_associated(&devices);
        assert_eq!(decode_associated(&bytes, key).unwrap(), devices);
        assert!(decode_associated(&[], key).unwrap().is_empty());
    }

    #[test]
    fn a_truncated_or_invalid_list_is_corrupt_and_named() {
        let device = AssociatedDevice {
            associated_at: Timestamp::from_unix_millis(5),
            id: DeviceId::generate(Platform::Web),
        };
        let bytes = encode_associated(&[device]);
        for bad in [&bytes[..bytes.len() - 1], &bytes[..3], &bytes[..8]] {
            let err = decode_associated(bad, key).unwrap_err();
            assert_eq!(err.kind(), &StoreErrorKind::Corrupt { key: key() });
        }
        let mut wrong_id = bytes.clone();
        let last = wrong_id.len() - 1;
        wrong_id[last] = b'!';
        assert!(matches!(
            decode_associated(&wrong_id, key).unwrap_err().kind(),
            StoreErrorKind::Corrupt { .. }
        ));
    }

    #[test]
    fn interest_lists_round_trip_and_bad_ones_are_corrupt() {
        let key = || "beams.device_interests/web-1".to_owned();
        let interests: Vec<Interest> = ["a", "b.c", &"z".repeat(Interest::MAX_CHARS)]
            .into_iter()
            .map(|n| Interest::new(n).unwrap())
            .collect();
        let bytes = encode_interests(&interests);
        assert_eq!(decode_interests(&bytes, key).unwrap(), interests);
        assert!(decode_interests(&[], key).unwrap().is_empty());

        let reversed = encode_interests(interests.iter().rev());
        let repeated = encode_interests([&interests[0], &interests[0]]);
        let bad: [&[u8]; 5] = [
            &bytes[..bytes.len() - 1],
            b"\x00",
            b"\x02a/",
            &reversed,
            &repeated,
        ];
        for bad in bad {
            let err = decode_interests(bad, key).unwrap_err();
            assert_eq!(
                err.kind(),
                &StoreErrorKind::Corrupt { key: key() },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_device_under_another_id_is_corrupt() {
        let device = Device {
            id: DeviceId::generate(Platform::Fcm),
            token: beams_core::testing::fixtures::push_token(Platform::Fcm, 1),
            user: None,
            metadata: Default::default(),
            created_at: Timestamp::UNIX_EPOCH,
            associated_at: None,
            token_registered_at: Timestamp::UNIX_EPOCH,
        };
        let bytes = encode_device(&device).unwrap();
        assert_eq!(
            decode_device(keys::device(&device.id), &bytes).unwrap(),
            device
        );
        let other = DeviceId::generate(Platform::Fcm);
        let err = decode_device(keys::device(&other), &bytes).unwrap_err();
        assert_eq!(
            err.kind(),
            &StoreErrorKind::Corrupt {
                key: keys::name::device(keys::device(&other))
            }
        );
    }
}
