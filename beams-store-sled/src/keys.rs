//! The on-disk key layout: which trees exist and how their keys are spelled.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `beams.meta` | `layout` | the layout version, ASCII ([`LAYOUT_VERSION`]) |
//! | `beams.devices` | device id (ASCII) | the device, JSON |
//! | `beams.tokens` | platform name, `0x00`, token key | device id |
//! | `beams.users` | user id length (u16, big-endian), user id, platform name | the user's devices on that platform, oldest association first: per device `associated_at` (i64, big-endian), id length (1 byte), id |
//! | `beams.device_interests` | device id (ASCII) | the device's interests in name order, each once: per name its length (1 byte) and the name |
//! | `beams.interests` | interest name, `0x00`, device id | empty |
//! | `beams.meta` | `unfinished_publishes` | how many publishes are unfinished (u64, big-endian); absent for none |
//! | `beams.publishes` | publish id (ASCII) | the journaled publish ([`journal`](crate::journal)'s record encoding) |
//! | `beams.unfinished_publishes` | `accepted_at` (ordered, see below), publish id | the lease: `until` (i64, big-endian), owner (UTF-8) |
//! | `beams.finished_publishes` | finished at (ordered), publish id | empty |
//!
//! Platform names (`apns`, `fcm`, `web`) never contain `0x00`, so a token key is unambiguous
//! whatever the token holds. A user id may hold any character, so its length comes first: the
//! user part of a key then ends where the length says, and `(user, platform)` pairs never
//! collide, nor does one user's key prefix another's.
//!
//! Layout 1 had no interest trees (the name `beams.interests` was reserved). This build opens
//! a layout-1 store by writing layout 2 over it, as the new trees start empty; a layout-1
//! build then refuses the store rather than delete devices and leave their subscriptions
//! behind.
//!
//! Device Interests are kept twice, and every change writes both in one transaction. A
//! device's interests are one value, so a transaction (which cannot scan) reads it, checks it
//! against the maximum and rewrites it whole: at the default maximum, 5000 names of at most
//! 164 bytes, under 1 MB. An interest's devices are keys, so a publish finds them by a prefix
//! scan in device-id order, and pages by starting the scan after `name 0x00 last-id`.
//! Interest names are 1 to 164 characters of `A-Z a-z 0-9 _ - = @ , . ;`: a length fits in a
//! byte, and no name holds `0x00`, so `name 0x00` is a prefix of that interest's keys alone.
//! A device has no `beams.device_interests` value while it has no interests, and neither
//! value outlives the device.
//!
//! The publish journal keeps each publish once by id, and indexes it twice: unfinished ones
//! by acceptance, for `claim` to scan oldest first, with a copy of the lease so the scan
//! decodes no record; finished ones by when they finished, for `forget_finished`. A
//! publish is in exactly one index, and the count in `beams.meta` is the size of the first:
//! every change writes the record, its index keys and the count in one transaction, which
//! is also how `accept` counts and inserts as one step. A time in a key is its i64 with the
//! sign bit flipped, big-endian, so keys sort as the times do, the earliest first; publish
//! ids are `pubid-` and a UUID, a fixed 42 bytes.
//!
//! The journal's trees came after layout 2 without a new version: they start empty, a build
//! without them opens the store unchanged and writes none of them, and no device invariant
//! depends on them.

use beams_core::{DeviceId, Interest, Platform, PublishId, PushToken, Timestamp, UserId};

/// The layout this build writes and reads. A store with another one is refused on open,
/// except [`LAYOUT_BEFORE_INTERESTS`], which is upgraded.
pub(crate) const LAYOUT_VERSION: &str = "2";

/// The first layout: without `beams.device_interests` and `beams.interests`.
pub(crate) const LAYOUT_BEFORE_INTERESTS: &str = "1";

/// The meta tree's key for [`LAYOUT_VERSION`].
pub(crate) const LAYOUT_KEY: &[u8] = b"layout";

/// Tree names, prefixed so the trees can share a `sled::Db` with an application's own.
pub(crate) mod tree {
    /// Store-wide facts: the layout version.
    pub(crate) const META: &str = "beams.meta";
    /// Devices by id.
    pub(crate) const DEVICES: &str = "beams.devices";
    /// Device id by platform and push token key.
    pub(crate) const TOKENS: &str = "beams.tokens";
    /// A user's devices, one value per platform.
    pub(crate) const USERS: &str = "beams.users";
    /// A device's interests, one value per device.
    pub(crate) const DEVICE_INTERESTS: &str = "beams.device_interests";
    /// An interest's devices, one key per subscription.
    pub(crate) const INTERESTS: &str = "beams.interests";
    /// Journaled publishes by id.
    pub(crate) const PUBLISHES: &str = "beams.publishes";
    /// Unfinished publishes by acceptance, with their leases.
    pub(crate) const UNFINISHED_PUBLISHES: &str = "beams.unfinished_publishes";
    /// Finished publishes by when they finished.
    pub(crate) const FINISHED_PUBLISHES: &str = "beams.finished_publishes";
}

/// The meta tree's key for the number of unfinished publishes.
pub(crate) const UNFINISHED_COUNT_KEY: &[u8] = b"unfinished_publishes";

/// The devices-tree key of a device.
pub(crate) fn device(id: &DeviceId) -> &[u8] {
    id.as_str().as_bytes()
}

/// The tokens-tree key of a push token: its platform and its key within that platform.
pub(crate) fn token(token: &PushToken) -> Vec<u8> {
    let platform = token.platform().as_str().as_bytes();
    let key = token.key().as_bytes();
    let mut out = Vec::with_capacity(platform.len() + 1 + key.len());
    out.extend_from_slice(platform);
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The users-tree key of a user's devices on `platform`.
pub(crate) fn user(user: &UserId, platform: Platform) -> Vec<u8> {
    let id = user.as_str().as_bytes();
    // At most 164 characters of at most 4 bytes each, far below u16::MAX.
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let platform = platform.as_str().as_bytes();
    let mut out = Vec::with_capacity(2 + id.len() + platform.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(platform);
    out
}

/// The prefix of an interest's keys in the interests tree: the name and `0x00`.
pub(crate) fn interest_prefix(interest: &Interest) -> Vec<u8> {
    let name = interest.as_str().as_bytes();
    let mut out = Vec::with_capacity(name.len() + 1 + 41);
    out.extend_from_slice(name);
    out.push(0);
    out
}

/// The interests-tree key of a device's subscription to an interest.
pub(crate) fn interest(interest: &Interest, id: &DeviceId) -> Vec<u8> {
    let mut out = interest_prefix(interest);
    out.extend_from_slice(id.as_str().as_bytes());
    out
}

/// The publishes-tree key of a publish.
pub(crate) fn publish(id: &PublishId) -> &[u8] {
    id.as_str().as_bytes()
}

/// The key of a publish in one of the publish indexes: `at` (ordered), then the id.
pub(crate) fn publish_at(at: Timestamp, id: &PublishId) -> Vec<u8> {
    let id = id.as_str().as_bytes();
    let mut out = Vec::with_capacity(8 + id.len());
    out.extend_from_slice(&ordered_time(at));
    out.extend_from_slice(id);
    out
}

/// `at` as eight bytes that sort as the times do.
pub(crate) fn ordered_time(at: Timestamp) -> [u8; 8] {
    let mut bytes = at.as_unix_millis().to_be_bytes();
    // Flipping the sign bit puts negative times before positive ones, in order.
    bytes[0] ^= 0x80;
    bytes
}

/// Splits a publish-index key into its time and the bytes of its id; `None` when it is too
/// short to hold a time.
pub(crate) fn split_publish_at(key: &[u8]) -> Option<(Timestamp, &[u8])> {
    let (time, id) = key.split_first_chunk::<8>()?;
    let mut time = *time;
    time[0] ^= 0x80;
    Some((Timestamp::from_unix_millis(i64::from_be_bytes(time)), id))
}

/// Readable names of keys, for errors that point at bad data.
pub(crate) mod name {
    use beams_core::{Interest, Platform, PushToken, UserId};

    /// `devices/<id>`; bytes that are not UTF-8 are shown replaced.
    pub(crate) fn device(key: &[u8]) -> String {
        format!("{}/{}", super::tree::DEVICES, String::from_utf8_lossy(key))
    }

    /// `beams.tokens/<platform>/<token key>`.
    pub(crate) fn token(token: &PushToken) -> String {
        format!(
            "{}/{}/{}",
            super::tree::TOKENS,
            token.platform(),
            token.key()
        )
    }

    /// `beams.users/<user>/<platform>`.
    pub(crate) fn user(user: &UserId, platform: Platform) -> String {
        format!("{}/{}/{platform}", super::tree::USERS, user.as_str())
    }

    /// `beams.device_interests/<id>`; bytes that are not UTF-8 are shown replaced.
    pub(crate) fn device_interests(key: &[u8]) -> String {
        format!(
            "{}/{}",
            super::tree::DEVICE_INTERESTS,
            String::from_utf8_lossy(key)
        )
    }

    /// `beams.interests/<name>/<id>` for a key of `interest`; bytes that are not UTF-8 are
    /// shown replaced.
    pub(crate) fn interest(interest: &Interest, key: &[u8]) -> String {
        let id = key.get(interest.as_str().len() + 1..).unwrap_or_default();
        format!(
            "{}/{}/{}",
            super::tree::INTERESTS,
            interest.as_str(),
            String::from_utf8_lossy(id)
        )
    }

    /// `beams.publishes/<id>`; bytes that are not UTF-8 are shown replaced.
    pub(crate) fn publish(key: &[u8]) -> String {
        format!(
            "{}/{}",
            super::tree::PUBLISHES,
            String::from_utf8_lossy(key)
        )
    }

    /// `<tree>/<time>/<id>` for a key of a publish index; bytes of the id that are not
    /// UTF-8 are shown replaced, and a key too short for a time is shown as it is.
    pub(crate) fn publish_at(tree: &str, key: &[u8]) -> String {
        match super::split_publish_at(key) {
            Some((at, id)) => format!(
                "{tree}/{}/{}",
                at.as_unix_millis(),
                String::from_utf8_lossy(id)
            ),
            None => format!("{tree}/{}", String::from_utf8_lossy(key)),
        }
    }

    /// `beams.meta/unfinished_publishes`.
    pub(crate) fn unfinished_count() -> String {
        format!(
            "{}/{}",
            super::tree::META,
            String::from_utf8_lossy(super::UNFINISHED_COUNT_KEY)
        )
    }

    /// `beams.meta/layout`.
    pub(crate) fn layout() -> String {
        format!(
            "{}/{}",
            super::tree::META,
            String::from_utf8_lossy(super::LAYOUT_KEY)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_never_collide_across_users_and_platforms() {
        let names = ["a", "aweb", "a\0web", "a\0", "ä"];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let u = UserId::new(name).unwrap();
            for platform in Platform::ALL {
                let key = user(&u, platform);
                // The user part (length and id) is a prefix only of that user's own keys.
                let user_part = &key[..key.len() - platform.as_str().len()];
                for other in names.iter().filter(|n| **n != name) {
                    let other = UserId::new(*other).unwrap();
                    for p in Platform::ALL {
                        assert!(!user(&other, p).starts_with(user_part));
                    }
                }
                assert!(seen.insert(key), "{name:?} on {platform}");
            }
        }
    }

    #[test]
    fn token_keys_keep_platforms_apart() {
        let hex = "ab".repeat(32);
        let apns = PushToken::Apns(beams_core::ApnsToken::new(hex.clone()).unwrap());
        let fcm = PushToken::Fcm(beams_core::FcmToken::new(hex).unwrap());
        assert_eq!(apns.key(), fcm.key());
        assert_ne!(token(&apns), token(&fcm));
    }

    #[test]
    fn an_interest_prefix_holds_that_interest_alone() {
        let id = DeviceId::generate(Platform::Web);
        let names = ["a", "ab", "a.b", "b"].map(|n| Interest::new(n).unwrap());
        for name in &names {
            for other in &names {
                let key = interest(other, &id);
                assert_eq!(key.starts_with(&interest_prefix(name)), name == other);
            }
            assert_eq!(
                name::interest(name, &interest(name, &id)),
                format!("beams.interests/{name}/{id}")
            );
        }
    }

    #[test]
    fn publish_index_keys_sort_by_time_then_id() {
        let ids = [PublishId::generate(), PublishId::generate()];
        let times = [i64::MIN, -1_000, -1, 0, 1, 1_000, i64::MAX];
        let mut keys = Vec::new();
        for at in times {
            let mut at_this_time: Vec<_> = ids.iter().map(|id| (at, id.as_str())).collect();
            at_this_time.sort();
            keys.extend(at_this_time);
        }
        let encoded: Vec<Vec<u8>> = keys
            .iter()
            .map(|(at, id)| {
                publish_at(
                    Timestamp::from_unix_millis(*at),
                    &PublishId::parse(id).unwrap(),
                )
            })
            .collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(sorted, encoded, "byte order is (time, id) order");
        for ((at, id), key) in keys.iter().zip(&encoded) {
            let (time, id_bytes) = split_publish_at(key).unwrap();
            assert_eq!((time.as_unix_millis(), id_bytes), (*at, id.as_bytes()));
        }
        assert_eq!(split_publish_at(b"short"), None);
    }
}
