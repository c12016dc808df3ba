//! The beams-core publish journal suite, every rule, on PostgreSQL: each test in a schema of
//! its own on the local database (skipped, with one line saying so, where there is none).

use beams_core::{
    Acceptance, JournalEntry, JournalRecord, Lease, PublishId, PublishJournal, StoreError,
    Timestamp, async_trait,
};
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions, PostgresPublishJournal};
use beams_test_support::postgres::TestSchema;

/// A journal with the schema it lives in, which is dropped after it.
#[derive(Debug)]
struct JournalInSchema {
    journal: PostgresPublishJournal,
    _schema: TestSchema,
}

async fn in_a_schema() -> Option<JournalInSchema> {
    let schema = TestSchema::create().await?;
    let store =
        PostgresDeviceStore::connect_with(&schema.url(), PostgresOptions::default().pool_size(8))
            .await
            .expect("a new schema migrates");
    Some(JournalInSchema {
        journal: store.journal(),
        _schema: schema,
    })
}

#[async_trait]
impl PublishJournal for JournalInSchema {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError> {
        self.journal.accept(entry, lease, max_unfinished).await
    }

    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        self.journal.checkpoint(id, lease, progress).await
    }

    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        self.journal.renew(id, lease).await
    }

    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.journal.finish(id, owner, report, at).await
    }

    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        self.journal.claim(lease, now, node).await
    }

    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        self.journal.record(id).await
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.journal.unfinished().await
    }

    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.journal.forget_finished(before).await
    }
}

beams_core::publish_journal_conformance!(where_available: in_a_schema);
