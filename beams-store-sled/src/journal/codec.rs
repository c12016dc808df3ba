//! The journal's values: a publish's record, the lease an unfinished-index key carries, and
//! the count of unfinished publishes.
//!
//! A record is binary, first a version byte, so a later build can tell its records from
//! these:
//!
//! | field | bytes |
//! |---|---|
//! | version | `1` |
//! | kind | `0` users, `1` interests |
//! | `accepted_at` | i64, big-endian |
//! | id | length (1 byte), the id |
//! | body | length (u32, big-endian), the body |
//! | state | `0` unfinished, then the lease's `until` (i64), owner (u32 length, UTF-8) and progress (`0` none, or `1`, u32 length, bytes); `1` finished, then when (i64) and the report (u32 length, bytes) |
//!
//! Every decode validates (the id must be a publish id, and the one of its key) and a
//! failure is `StoreErrorKind::Corrupt` naming the key.

use beams_core::{
    JournalEntry, JournalRecord, JournalState, Lease, PublishId, PublishTargetKind, StoreError,
    Timestamp,
};

use crate::codec::corrupt;
use crate::keys;

const RECORD_VERSION: u8 = 1;

const USERS: u8 = 0;
const INTERESTS: u8 = 1;

const UNFINISHED: u8 = 0;
const FINISHED: u8 = 1;

const NO_PROGRESS: u8 = 0;
const PROGRESS: u8 = 1;

/// A publish's record as stored under its id.
pub(crate) fn encode_record(record: &JournalRecord) -> Result<Vec<u8>, StoreError> {
    let entry = &record.entry;
    let mut out = Vec::with_capacity(64 + entry.body.len());
    out.push(RECORD_VERSION);
    out.push(match entry.kind {
        PublishTargetKind::Users => USERS,
        PublishTargetKind::Interests => INTERESTS,
    });
    out.extend_from_slice(&entry.accepted_at.as_unix_millis().to_be_bytes());
    let id = entry.id.as_str().as_bytes();
    // `pubid-` and a UUID: 42 bytes.
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    put_long(&mut out, &entry.body, "body")?;
    match &record.state {
        JournalState::Unfinished { lease, progress } => {
            out.push(UNFINISHED);
            out.extend_from_slice(&lease.until.as_unix_millis().to_be_bytes());
            put_long(&mut out, lease.owner.as_bytes(), "lease owner")?;
            match progress {
                None => out.push(NO_PROGRESS),
                Some(progress) => {
                    out.push(PROGRESS);
                    put_long(&mut out, progress, "progress")?;
                }
            }
        }
        JournalState::Finished { at, report } => {
            out.push(FINISHED);
            out.extend_from_slice(&at.as_unix_millis().to_be_bytes());
            put_long(&mut out, report, "report")?;
        }
    }
    Ok(out)
}

/// Appends `bytes` after their length as a u32.
fn put_long(out: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| StoreError::precondition(format!("a publish's {what} is over 4 GiB")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The record stored under `key`; it must carry that id.
pub(crate) fn decode_record(key: &[u8], bytes: &[u8]) -> Result<JournalRecord, StoreError> {
    let bad = |why: &'static str| corrupt(keys::name::publish(key), why);
    let mut reader = Reader(bytes);
    let truncated = || bad("a publish's record ends early");
    if reader.byte().ok_or_else(truncated)? != RECORD_VERSION {
        return Err(bad("a publish's record has an unknown version"));
    }
    let kind = match reader.byte().ok_or_else(truncated)? {
        USERS => PublishTargetKind::Users,
        INTERESTS => PublishTargetKind::Interests,
        _ => return Err(bad("a publish's record has an unknown kind")),
    };
    let accepted_at = reader.time().ok_or_else(truncated)?;
    let id_len = reader.byte().ok_or_else(truncated)?;
    let id = reader.take(usize::from(id_len)).ok_or_else(truncated)?;
    if id != key {
        return Err(bad("the stored publish has another id than its key"));
    }
    let id = std::str::from_utf8(id).map_err(|err| corrupt(keys::name::publish(key), err))?;
    let id = PublishId::parse(id).map_err(|err| corrupt(keys::name::publish(key), err))?;
    let body = reader.long().ok_or_else(truncated)?.to_vec();
    let state = match reader.byte().ok_or_else(truncated)? {
        UNFINISHED => {
            let until = reader.time().ok_or_else(truncated)?;
            let owner = reader.long().ok_or_else(truncated)?;
            let owner = String::from_utf8(owner.to_vec())
                .map_err(|err| corrupt(keys::name::publish(key), err))?;
            let progress = match reader.byte().ok_or_else(truncated)? {
                NO_PROGRESS => None,
                PROGRESS => Some(reader.long().ok_or_else(truncated)?.to_vec()),
                _ => return Err(bad("a publish's progress has an unknown tag")),
            };
            JournalState::Unfinished {
                lease: Lease { owner, until },
                progress,
            }
        }
        FINISHED => JournalState::Finished {
            at: reader.time().ok_or_else(truncated)?,
            report: reader.long().ok_or_else(truncated)?.to_vec(),
        },
        _ => return Err(bad("a publish's record has an unknown state")),
    };
    if !reader.0.is_empty() {
        return Err(bad("a publish's record has bytes after its end"));
    }
    Ok(JournalRecord {
        entry: JournalEntry {
            id,
            kind,
            body,
            accepted_at,
        },
        state,
    })
}

/// Reads a record front to back; each read is `None` when the bytes end first.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|taken| taken[0])
    }

    fn time(&mut self) -> Option<Timestamp> {
        let (bytes, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(Timestamp::from_unix_millis(i64::from_be_bytes(*bytes)))
    }

    /// Bytes after their length as a u32.
    fn long(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        self.take(usize::try_from(u32::from_be_bytes(*len)).ok()?)
    }
}

/// The value of an unfinished-index key: the lease's `until` (i64, big-endian) and owner.
pub(crate) fn encode_lease(lease: &Lease) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + lease.owner.len());
    out.extend_from_slice(&lease.until.as_unix_millis().to_be_bytes());
    out.extend_from_slice(lease.owner.as_bytes());
    out
}

/// Decodes [`encode_lease`]'s bytes; `key` names them in an error.
pub(crate) fn decode_lease(bytes: &[u8], key: impl Fn() -> String) -> Result<Lease, StoreError> {
    let (until, owner) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt(key(), "a lease ends early"))?;
    let owner = std::str::from_utf8(owner).map_err(|err| corrupt(key(), err))?;
    Ok(Lease {
        owner: owner.to_owned(),
        until: Timestamp::from_unix_millis(i64::from_be_bytes(*until)),
    })
}

/// The count of unfinished publishes as stored.
pub(crate) fn encode_count(count: usize) -> [u8; 8] {
    // usize is at most 64 bits on every platform Rust supports.
    u64::try_from(count).unwrap_or(u64::MAX).to_be_bytes()
}

/// Decodes [`encode_count`]'s bytes; absent is zero.
pub(crate) fn decode_count(bytes: Option<&[u8]>) -> Result<usize, StoreError> {
    let Some(bytes) = bytes else {
        return Ok(0);
    };
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(keys::name::unfinished_count(), "a count is not 8 bytes"))?;
    usize::try_from(u64::from_be_bytes(bytes))
        .map_err(|err| corrupt(keys::name::unfinished_count(), err))
}

#[cfg(test)]
mod tests {
    use beams_core::StoreErrorKind;

    use super::*;

    fn entry(kind: PublishTargetKind) -> JournalEntry {
        JournalEntry {
            id: PublishId::generate(),
            kind,
            body: br#"{"interests":["news"]}"#.to_vec(),
            accepted_at: Timestamp::from_unix_millis(-5),
        }
    }

    fn records() -> Vec<JournalRecord> {
        let lease = Lease {
            owner: "node-ä".to_owned(),
            until: Timestamp::from_unix_millis(i64::MAX),
        };
        vec![
            JournalRecord {
                entry: entry(PublishTargetKind::Users),
                state: JournalState::Unfinished {
                    lease: lease.clone(),
                    progress: None,
                },
            },
            JournalRecord {
                entry: entry(PublishTargetKind::Interests),
                state: JournalState::Unfinished {
                    lease,
                    progress: Some(Vec::new()),
                },
            },
            JournalRecord {
                entry: JournalEntry {
                    body: Vec::new(),
                    ..entry(PublishTargetKind::Users)
                },
                state: JournalState::Finished {
                    at: Timestamp::from_unix_millis(i64::MIN),
                    report: b"\x00\xffreport".to_vec(),
                },
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        for record in records() {
            let bytes = encode_record(&record).unwrap();
            let key = keys::publish(&record.entry.id);
            assert_eq!(decode_record(key, &bytes).unwrap(), record);
        }
    }

    #[test]
    fn a_bad_record_is_corrupt_and_names_its_key() {
        for record in records() {
            let key = keys::publish(&record.entry.id);
            let named = StoreErrorKind::Corrupt {
                key: format!("beams.publishes/{}", record.entry.id),
            };
            let bytes = encode_record(&record).unwrap();
            let mut longer = bytes.clone();
            longer.push(0);
            let mut unknown_version = bytes.clone();
            unknown_version[0] = 2;
            let mut unknown_kind = bytes.clone();
            unknown_kind[1] = 7;
            let mut bad: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            bad.extend([longer, unknown_version, unknown_kind]);
            for bad in bad {
                let err = decode_record(key, &bad).unwrap_err();
                assert_eq!(err.kind(), &named, "{bad:?}");
            }
            let other = PublishId::generate();
            let err = decode_record(keys::publish(&other), &bytes).unwrap_err();
            assert!(
                matches!(err.kind(), StoreErrorKind::Corrupt { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn leases_and_counts_round_trip_and_bad_ones_are_corrupt() {
        let key = || "beams.unfinished_publishes/5/pubid-x".to_owned();
        let lease = Lease {
            owner: "node-a".to_owned(),
            until: Timestamp::from_unix_millis(-3),
        };
        assert_eq!(decode_lease(&encode_lease(&lease), key).unwrap(), lease);
        for bad in [&b"short"[..], b"\x00\x00\x00\x00\x00\x00\x00\x01\xff"] {
            let err = decode_lease(bad, key).unwrap_err();
            assert_eq!(err.kind(), &StoreErrorKind::Corrupt { key: key() });
        }

        assert_eq!(decode_count(None).unwrap(), 0);
        assert_eq!(decode_count(Some(&encode_count(41))).unwrap(), 41);
        let err = decode_count(Some(b"4")).unwrap_err();
        assert_eq!(
            err.kind(),
            &StoreErrorKind::Corrupt {
                key: "beams.meta/unfinished_publishes".to_owned()
            }
        );
    }
}
