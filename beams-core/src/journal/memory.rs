//! `MemoryPublishJournal`: the journal for tests and for fire-and-forget use.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{Acceptance, JournalEntry, JournalRecord, JournalState, Lease, PublishJournal};
use crate::{PublishId, StoreError, Timestamp};

/// A [`PublishJournal`] in memory: it keeps every rule of the contract for as long as the
/// process lives, and nothing after. For tests, and for library users who want publishes
/// fire-and-forget.
#[derive(Debug, Default)]
pub struct MemoryPublishJournal {
    records: Mutex<Records>,
}

/// Every publish by id, and how many of them are unfinished: kept as publishes are
/// accepted and finished, so an accept does not walk the finished ones kept for their report.
#[derive(Debug, Default)]
struct Records {
    by_id: BTreeMap<String, JournalRecord>,
    unfinished: usize,
}

impl MemoryPublishJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        // Every change below is one assignment: a panic cannot leave a record half-written.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn leased_to<'r>(record: &'r mut JournalRecord, owner: &str) -> Option<&'r mut JournalState> {
    match &record.state {
        JournalState::Unfinished { lease, .. } if lease.owner == owner => Some(&mut record.state),
        _ => None,
    }
}

#[async_trait]
impl PublishJournal for MemoryPublishJournal {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError> {
        let mut records = self.records();
        if records.by_id.contains_key(entry.id.as_str()) {
            return Err(StoreError::precondition(format!(
                "publish {} is already journaled",
                entry.id
            )));
        }
        let unfinished = records.unfinished;
        if unfinished >= max_unfinished {
            return Ok(Acceptance::Full { unfinished });
        }
        records.unfinished += 1;
        records.by_id.insert(
            entry.id.as_str().to_owned(),
            JournalRecord {
                entry: entry.clone(),
                state: JournalState::Unfinished {
                    lease: lease.clone(),
                    progress: None,
                },
            },
        );
        Ok(Acceptance::Accepted)
    }

    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        let mut records = self.records();
        let Some(state) = records
            .by_id
            .get_mut(id.as_str())
            .and_then(|record| leased_to(record, &lease.owner))
        else {
            return Ok(false);
        };
        *state = JournalState::Unfinished {
            lease: lease.clone(),
            progress: Some(progress.to_vec()),
        };
        Ok(true)
    }

    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        let mut records = self.records();
        let Some(JournalState::Unfinished { lease: held, .. }) = records
            .by_id
            .get_mut(id.as_str())
            .and_then(|record| leased_to(record, &lease.owner))
        else {
            return Ok(false);
        };
        held.until = lease.until;
        Ok(true)
    }

    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut records = self.records();
        let Some(state) = records
            .by_id
            .get_mut(id.as_str())
            .and_then(|record| leased_to(record, owner))
        else {
            return Ok(false);
        };
        *state = JournalState::Finished {
            at,
            report: report.to_vec(),
        };
        records.unfinished -= 1;
        Ok(true)
    }

    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        let mut records = self.records();
        let claimable = records
            .by_id
            .values_mut()
            .filter(|record| match &record.state {
                JournalState::Unfinished { lease: held, .. } => {
                    held.is_claimable(now, node, &lease.owner)
                }
                JournalState::Finished { .. } => false,
            })
            .min_by(|a, b| {
                (a.entry.accepted_at, a.entry.id.as_str())
                    .cmp(&(b.entry.accepted_at, b.entry.id.as_str()))
            });
        let Some(record) = claimable else {
            return Ok(None);
        };
        if let JournalState::Unfinished { lease: held, .. } = &mut record.state {
            *held = lease.clone();
        }
        Ok(Some(record.clone()))
    }

    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        Ok(self.records().by_id.get(id.as_str()).cloned())
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        Ok(self.records().unfinished)
    }

    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        let mut records = self.records();
        let was = records.by_id.len();
        records.by_id.retain(
            |_, record| !matches!(record.state, JournalState::Finished { at, .. } if at < before),
        );
        Ok(was - records.by_id.len())
    }
}
