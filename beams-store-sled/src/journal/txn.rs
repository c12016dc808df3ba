//! The journal's writes, each inside one of the store's transactions (see [`Tx`]): a
//! publish's record, its index keys and the count of unfinished publishes change together,
//! so no crash leaves them disagreeing.
//!
//! Like the device writes, these only read and write through the transaction (sled may run
//! it more than once) and return what they decided. A transaction cannot scan: `claim` and
//! `forget_finished` scan first, outside it, and hand over what they found, which is checked
//! again here against the records.

use beams_core::{
    Acceptance, JournalEntry, JournalRecord, JournalState, Lease, PublishId, StoreError, Timestamp,
};

use super::codec;
use crate::codec::corrupt;
use crate::error::{TxResult, abort};
use crate::keys;
use crate::tx::{PRESENT, Tx};

/// A change to the journal.
#[derive(Debug)]
pub(crate) enum JournalOp {
    Accept {
        entry: JournalEntry,
        lease: Lease,
        max_unfinished: usize,
    },
    Checkpoint {
        id: PublishId,
        lease: Lease,
        progress: Vec<u8>,
    },
    Renew {
        id: PublishId,
        lease: Lease,
    },
    Finish {
        id: PublishId,
        owner: String,
        report: Vec<u8>,
        at: Timestamp,
    },
    /// Takes the first of `candidates` (oldest first, found by a scan) still claimable.
    Claim {
        candidates: Vec<PublishId>,
        lease: Lease,
        now: Timestamp,
        /// The node whose own publishes are claimable whatever their lease.
        node: Option<String>,
    },
    /// Deletes the publishes of these finished-index keys (found by a scan) that finished
    /// before `before`.
    Forget {
        keys: Vec<sled::IVec>,
        before: Timestamp,
    },
}

/// What a [`JournalOp`] did.
#[derive(Debug)]
pub(crate) enum JournalWritten {
    Accepted(Acceptance),
    /// Whether the publish was unfinished and leased to the caller (checkpoint, renew,
    /// finish), and so changed.
    Held(bool),
    Claimed(Option<JournalRecord>),
    Forgotten(usize),
}

impl JournalWritten {
    /// Whether the operation changed the store.
    pub(crate) fn changed(&self) -> bool {
        match self {
            JournalWritten::Accepted(acceptance) => *acceptance == Acceptance::Accepted,
            JournalWritten::Held(held) => *held,
            JournalWritten::Claimed(claimed) => claimed.is_some(),
            JournalWritten::Forgotten(forgotten) => *forgotten > 0,
        }
    }
}

/// Applies `op` inside the transaction `tx`.
pub(crate) fn apply(tx: &Tx<'_>, op: &JournalOp) -> TxResult<JournalWritten> {
    Ok(match op {
        JournalOp::Accept {
            entry,
            lease,
            max_unfinished,
        } => JournalWritten::Accepted(accept(tx, entry, lease, *max_unfinished)?),
        JournalOp::Checkpoint {
            id,
            lease,
            progress,
        } => JournalWritten::Held(checkpoint(tx, id, lease, progress)?),
        JournalOp::Renew { id, lease } => JournalWritten::Held(renew(tx, id, lease)?),
        JournalOp::Finish {
            id,
            owner,
            report,
            at,
        } => JournalWritten::Held(finish(tx, id, owner, report, *at)?),
        JournalOp::Claim {
            candidates,
            lease,
            now,
            node,
        } => JournalWritten::Claimed(claim(tx, candidates, lease, *now, node.as_deref())?),
        JournalOp::Forget { keys, before } => JournalWritten::Forgotten(forget(tx, keys, *before)?),
    })
}

impl Tx<'_> {
    fn publish(&self, id: &PublishId) -> TxResult<Option<JournalRecord>> {
        let key = keys::publish(id);
        match self.publishes.get(key)? {
            Some(bytes) => codec::decode_record(key, &bytes).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    /// Stores `record`, and its lease in the unfinished index if it is unfinished; the
    /// caller moves it between the indexes.
    fn put_publish(&self, record: &JournalRecord) -> TxResult<()> {
        let entry = &record.entry;
        let bytes = codec::encode_record(record).map_err(abort)?;
        self.publishes.insert(keys::publish(&entry.id), bytes)?;
        if let JournalState::Unfinished { lease, .. } = &record.state {
            self.unfinished_publishes.insert(
                keys::publish_at(entry.accepted_at, &entry.id),
                codec::encode_lease(lease),
            )?;
        }
        Ok(())
    }

    fn unfinished_count(&self) -> TxResult<usize> {
        let bytes = self.meta.get(keys::UNFINISHED_COUNT_KEY)?;
        codec::decode_count(bytes.as_deref()).map_err(abort)
    }

    fn put_unfinished_count(&self, count: usize) -> TxResult<()> {
        self.meta
            .insert(keys::UNFINISHED_COUNT_KEY, &codec::encode_count(count)[..])?;
        Ok(())
    }

    /// The publish, if it is unfinished and leased to `owner`.
    fn held_by(&self, id: &PublishId, owner: &str) -> TxResult<Option<JournalRecord>> {
        Ok(self.publish(id)?.filter(|record| {
            matches!(&record.state, JournalState::Unfinished { lease, .. } if lease.owner == owner)
        }))
    }
}

fn accept(
    tx: &Tx<'_>,
    entry: &JournalEntry,
    lease: &Lease,
    max_unfinished: usize,
) -> TxResult<Acceptance> {
    if tx.publishes.get(keys::publish(&entry.id))?.is_some() {
        return Err(abort(StoreError::precondition(format!(
            "publish {} is already journaled",
            entry.id
        ))));
    }
    // The count is read and written in this transaction, so concurrent accepts never pass
    // the bound between them.
    let unfinished = tx.unfinished_count()?;
    if unfinished >= max_unfinished {
        return Ok(Acceptance::Full { unfinished });
    }
    tx.put_publish(&JournalRecord {
        entry: entry.clone(),
        state: JournalState::Unfinished {
            lease: lease.clone(),
            progress: None,
        },
    })?;
    tx.put_unfinished_count(unfinished + 1)?;
    Ok(Acceptance::Accepted)
}

fn checkpoint(tx: &Tx<'_>, id: &PublishId, lease: &Lease, progress: &[u8]) -> TxResult<bool> {
    let Some(mut record) = tx.held_by(id, &lease.owner)? else {
        return Ok(false);
    };
    record.state = JournalState::Unfinished {
        lease: lease.clone(),
        progress: Some(progress.to_vec()),
    };
    tx.put_publish(&record)?;
    Ok(true)
}

fn renew(tx: &Tx<'_>, id: &PublishId, lease: &Lease) -> TxResult<bool> {
    let Some(mut record) = tx.held_by(id, &lease.owner)? else {
        return Ok(false);
    };
    if let JournalState::Unfinished { lease: held, .. } = &mut record.state {
        held.until = lease.until;
    }
    tx.put_publish(&record)?;
    Ok(true)
}

fn finish(
    tx: &Tx<'_>,
    id: &PublishId,
    owner: &str,
    report: &[u8],
    at: Timestamp,
) -> TxResult<bool> {
    let Some(mut record) = tx.held_by(id, owner)? else {
        return Ok(false);
    };
    tx.unfinished_publishes
        .remove(keys::publish_at(record.entry.accepted_at, id))?;
    tx.finished_publishes
        .insert(keys::publish_at(at, id), PRESENT)?;
    record.state = JournalState::Finished {
        at,
        report: report.to_vec(),
    };
    tx.put_publish(&record)?;
    let unfinished = tx.unfinished_count()?.checked_sub(1).ok_or_else(|| {
        abort(corrupt(
            keys::name::unfinished_count(),
            "an unfinished publish exists but the count is zero",
        ))
    })?;
    tx.put_unfinished_count(unfinished)?;
    Ok(true)
}

fn claim(
    tx: &Tx<'_>,
    candidates: &[PublishId],
    lease: &Lease,
    now: Timestamp,
    node: Option<&str>,
) -> TxResult<Option<JournalRecord>> {
    for id in candidates {
        // Read again: since the scan, another claimer may have taken it, or its owner
        // finished it.
        let Some(mut record) = tx.publish(id)? else {
            continue;
        };
        let JournalState::Unfinished { lease: held, .. } = &mut record.state else {
            continue;
        };
        if held.is_claimable(now, node, &lease.owner) {
            *held = lease.clone();
            tx.put_publish(&record)?;
            return Ok(Some(record));
        }
    }
    Ok(None)
}

fn forget(tx: &Tx<'_>, index_keys: &[sled::IVec], before: Timestamp) -> TxResult<usize> {
    let mut forgotten = 0;
    for key in index_keys {
        if tx.finished_publishes.get(key)?.is_none() {
            // Forgotten by a concurrent call since the scan.
            continue;
        }
        let name = || keys::name::publish_at(crate::keys::tree::FINISHED_PUBLISHES, key);
        let (at, id) = keys::split_publish_at(key)
            .ok_or_else(|| abort(corrupt(name(), "the key is too short")))?;
        if at >= before {
            continue;
        }
        let id = std::str::from_utf8(id)
            .ok()
            .and_then(|id| PublishId::parse(id).ok())
            .ok_or_else(|| abort(corrupt(name(), "the key holds no publish id")))?;
        match tx.publish(&id)? {
            Some(JournalRecord {
                state: JournalState::Finished { at: finished, .. },
                ..
            }) if finished == at => {}
            _ => {
                return Err(abort(corrupt(
                    name(),
                    "the index names a publish that did not finish then",
                )));
            }
        }
        tx.finished_publishes.remove(key)?;
        tx.publishes.remove(keys::publish(&id))?;
        forgotten += 1;
    }
    Ok(forgotten)
}
