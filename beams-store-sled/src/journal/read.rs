//! The journal's reads: plain sled gets and scans, outside transactions. What a scan finds
//! for a write (`claim`'s candidates, `forget_finished`'s keys) is checked again inside the
//! write's transaction.

use beams_core::{JournalRecord, PublishId, StoreError, Timestamp};

use super::codec;
use crate::codec::corrupt;
use crate::error::from_sled;
use crate::keys::{self, tree};
use crate::layout::Trees;

impl Trees {
    /// The publish with this id.
    pub(crate) fn publish(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        let key = keys::publish(id);
        match self.publishes.get(key).map_err(from_sled)? {
            Some(bytes) => codec::decode_record(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// How many publishes are unfinished.
    pub(crate) fn unfinished_publishes(&self) -> Result<usize, StoreError> {
        let bytes = self
            .meta
            .get(keys::UNFINISHED_COUNT_KEY)
            .map_err(from_sled)?;
        codec::decode_count(bytes.as_deref())
    }

    /// Up to `limit` unfinished publishes claimable at `now` (lapsed, or of `node`), oldest
    /// accepted first, by the leases in the unfinished index.
    pub(crate) fn claim_candidates(
        &self,
        now: Timestamp,
        node: Option<&str>,
        claimer: &str,
        limit: usize,
    ) -> Result<Vec<PublishId>, StoreError> {
        let mut candidates = Vec::new();
        for item in self.unfinished_publishes.iter() {
            let (key, value) = item.map_err(from_sled)?;
            let name = || keys::name::publish_at(tree::UNFINISHED_PUBLISHES, &key);
            let held = codec::decode_lease(&value, name)?;
            if !held.is_claimable(now, node, claimer) {
                continue;
            }
            let id = keys::split_publish_at(&key)
                .and_then(|(_, id)| std::str::from_utf8(id).ok())
                .and_then(|id| PublishId::parse(id).ok())
                .ok_or_else(|| corrupt(name(), "the key holds no publish id"))?;
            candidates.push(id);
            if candidates.len() >= limit {
                break;
            }
        }
        Ok(candidates)
    }

    /// Up to `limit` keys of the finished index, of publishes finished before `before`,
    /// earliest first.
    pub(crate) fn finished_before(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<sled::IVec>, StoreError> {
        // A key at `before` is longer than the time alone, so it sorts after this bound.
        let bound = keys::ordered_time(before);
        self.finished_publishes
            .range(..&bound[..])
            .keys()
            .take(limit)
            .map(|key| key.map_err(from_sled))
            .collect()
    }
}
