//! `SledPublishJournal`: the publish journal in the store's own sled database.

mod codec;
mod read;
mod txn;

use std::fmt;

use beams_core::{
    Acceptance, JournalEntry, JournalRecord, Lease, PublishId, PublishJournal, StoreError,
    Timestamp, async_trait,
};

pub(crate) use txn::{JournalOp, JournalWritten, apply};

use crate::store::{SledDeviceStore, mismatch};
use crate::txn::{WriteOp, Written};

/// How many candidates one scan hands to a claim: enough that a claim rarely scans twice
/// when others claim at once, few enough to keep the transaction short.
const CLAIM_CANDIDATES: usize = 16;

/// How many finished publishes one transaction of `forget_finished` deletes.
const FORGET_BATCH: usize = 256;

/// A [`PublishJournal`] in a [`SledDeviceStore`]'s database, so one backup of the directory
/// holds the devices and the publishes accepted for them. Get it with
/// [`SledDeviceStore::journal`]; clones share the database.
///
/// Its writes go through the store's writer: each is one sled transaction over the record,
/// the journal's indexes and the count of unfinished publishes, committed together with
/// whatever other writes wait, and made durable as the store's [`Durability`](crate::Durability)
/// says (by default, flushed before it is acknowledged). `accept` reads the count and inserts
/// in that one transaction, and sled runs one transaction at a time, so the bound is exact
/// however many accept at once. `claim` scans the unfinished publishes by acceptance (oldest
/// first), then takes the first candidate that its transaction still finds claimable, so
/// concurrent claimers never take one publish twice. Reads run in place; scans on the
/// blocking pool.
///
/// A record that does not decode gives `StoreErrorKind::Corrupt` naming its key (for
/// example `beams.publishes/pubid-…`).
#[derive(Clone)]
pub struct SledPublishJournal {
    store: SledDeviceStore,
}

impl fmt::Debug for SledPublishJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledPublishJournal")
            .field("durability", &self.store.durability())
            .finish_non_exhaustive()
    }
}

impl SledDeviceStore {
    /// The publish journal in this store's database, sharing its writer and durability.
    ///
    /// ```
    /// use beams_core::{Acceptance, JournalEntry, Lease, PublishId, PublishJournal};
    /// use beams_core::{PublishTargetKind, Timestamp};
    /// use beams_store_sled::SledDeviceStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let store = SledDeviceStore::open(dir.path().join("beams"))?;
    /// let journal = store.journal();
    /// let entry = JournalEntry {
    ///     id: PublishId::generate(),
    ///     kind: PublishTargetKind::Interests,
    ///     body: br#"{"interests":["news"],"fcm":{"notification":{"title":"Hi"}}}"#.to_vec(),
    ///     accepted_at: Timestamp::from_unix_millis(1_700_000_000_000),
    /// };
    /// let lease = Lease {
    ///     owner: "node-1".to_owned(),
    ///     until: Timestamp::from_unix_millis(1_700_000_030_000),
    /// };
    /// assert_eq!(journal.accept(&entry, &lease, 1000).await?, Acceptance::Accepted);
    /// assert_eq!(journal.unfinished().await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn journal(&self) -> SledPublishJournal {
        SledPublishJournal {
            store: self.clone(),
        }
    }
}

impl SledPublishJournal {
    /// Applies `op` through the store's writer.
    async fn write(&self, op: JournalOp) -> Result<JournalWritten, StoreError> {
        match self.store.write(WriteOp::Journal(op)).await? {
            Written::Journal(written) => Ok(written),
            other => Err(mismatch(other)),
        }
    }

    async fn held(&self, op: JournalOp) -> Result<bool, StoreError> {
        match self.write(op).await? {
            JournalWritten::Held(held) => Ok(held),
            other => Err(mismatch(Written::Journal(other))),
        }
    }
}

#[async_trait]
impl PublishJournal for SledPublishJournal {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError> {
        let op = JournalOp::Accept {
            entry: entry.clone(),
            lease: lease.clone(),
            max_unfinished,
        };
        match self.write(op).await? {
            JournalWritten::Accepted(acceptance) => Ok(acceptance),
            other => Err(mismatch(Written::Journal(other))),
        }
    }

    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        self.held(JournalOp::Checkpoint {
            id: id.clone(),
            lease: lease.clone(),
            progress: progress.to_vec(),
        })
        .await
    }

    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        self.held(JournalOp::Renew {
            id: id.clone(),
            lease: lease.clone(),
        })
        .await
    }

    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.held(JournalOp::Finish {
            id: id.clone(),
            owner: owner.to_owned(),
            report: report.to_vec(),
            at,
        })
        .await
    }

    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        let node = node.map(str::to_owned);
        loop {
            let (scan_node, claimer) = (node.clone(), lease.owner.clone());
            let candidates = self
                .store
                .blocking(move |database| {
                    database.trees.claim_candidates(
                        now,
                        scan_node.as_deref(),
                        &claimer,
                        CLAIM_CANDIDATES,
                    )
                })
                .await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            let op = JournalOp::Claim {
                candidates,
                lease: lease.clone(),
                now,
                node: node.clone(),
            };
            match self.write(op).await? {
                JournalWritten::Claimed(Some(record)) => return Ok(Some(record)),
                // Others took every candidate since the scan: scan again.
                JournalWritten::Claimed(None) => {}
                other => return Err(mismatch(Written::Journal(other))),
            }
        }
    }

    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        self.store.database().trees.publish(id)
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.store.database().trees.unfinished_publishes()
    }

    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        loop {
            let keys = self
                .store
                .blocking(move |database| database.trees.finished_before(before, FORGET_BATCH))
                .await?;
            let more = keys.len() == FORGET_BATCH;
            if keys.is_empty() {
                return Ok(forgotten);
            }
            match self.write(JournalOp::Forget { keys, before }).await? {
                JournalWritten::Forgotten(count) => forgotten += count,
                other => return Err(mismatch(Written::Journal(other))),
            }
            if !more {
                return Ok(forgotten);
            }
        }
    }
}
