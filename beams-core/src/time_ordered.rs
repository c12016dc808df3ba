//! Ids that sort by when they were made, so stores append rather than scatter.

use std::time::{SystemTime, UNIX_EPOCH};

use uuid::{Builder, Uuid};

/// A version 7 UUID: the current Unix time in milliseconds, then 74 random bits. Stores
/// keyed by such ids add each new one at the end of their index instead of at a random
/// page; the random bits keep ids made in the same millisecond apart and unguessable.
pub(crate) fn time_ordered_uuid() -> Uuid {
    // A clock before 1970 only costs the ordering, never uniqueness.
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    // Ten bytes of a version 4 UUID that carry no version or variant bits: 80 random bits,
    // of which the version 7 layout keeps 74.
    let random = Uuid::new_v4().into_bytes();
    let mut bits = [0; 10];
    bits[..6].copy_from_slice(&random[..6]);
    bits[6..].copy_from_slice(&random[9..13]);
    Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::time_ordered_uuid;

    #[test]
    fn later_ids_sort_after_and_carry_version_7() {
        let first = time_ordered_uuid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = time_ordered_uuid();
        assert!(first.hyphenated().to_string() < second.hyphenated().to_string());
        assert_eq!(first.get_version_num(), 7);
        assert_ne!(time_ordered_uuid(), time_ordered_uuid());
    }
}
