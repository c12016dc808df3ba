//! A store or journal bundled with what must outlive it, such as its temporary directory.

use std::ops::Deref;

use crate::DeviceStore;
use crate::store::forward_device_store;

/// A store that keeps `guard` (a temporary directory, a server handle) alive as long as
/// itself, for conformance runs of stores that live in files:
///
/// ```
/// use beams_core::MemoryDeviceStore;
/// use beams_core::testing::Guarded;
///
/// beams_core::device_store_conformance!(async || {
///     let dir = tempfile::tempdir().expect("a temporary directory");
///     // A store that lives in files opens under `dir.path()` here.
///     Guarded::new(MemoryDeviceStore::new(), dir)
/// });
/// ```
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Bundles `store` with `guard`; the guard drops after the store.
    pub fn new(store: S, guard: G) -> Self {
        Guarded {
            store,
            _guard: guard,
        }
    }
}

impl<S, G> Deref for Guarded<S, G> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

forward_device_store!([S: DeviceStore, G: Send + Sync + std::fmt::Debug] Guarded<S, G>);

/// The same for a publish journal that lives in files or a schema.
#[async_trait::async_trait]
impl<J, G> crate::PublishJournal for Guarded<J, G>
where
    J: crate::PublishJournal,
    G: Send + Sync + std::fmt::Debug,
{
    async fn accept(
        &self,
        entry: &crate::JournalEntry,
        lease: &crate::Lease,
        max_unfinished: usize,
    ) -> Result<crate::Acceptance, crate::StoreError> {
        self.store.accept(entry, lease, max_unfinished).await
    }

    async fn checkpoint(
        &self,
        id: &crate::PublishId,
        lease: &crate::Lease,
        progress: &[u8],
    ) -> Result<bool, crate::StoreError> {
        self.store.checkpoint(id, lease, progress).await
    }

    async fn renew(
        &self,
        id: &crate::PublishId,
        lease: &crate::Lease,
    ) -> Result<bool, crate::StoreError> {
        self.store.renew(id, lease).await
    }

    async fn finish(
        &self,
        id: &crate::PublishId,
        owner: &str,
        report: &[u8],
        at: crate::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        self.store.finish(id, owner, report, at).await
    }

    async fn claim(
        &self,
        lease: &crate::Lease,
        now: crate::Timestamp,
        node: Option<&str>,
    ) -> Result<Option<crate::JournalRecord>, crate::StoreError> {
        self.store.claim(lease, now, node).await
    }

    async fn record(
        &self,
        id: &crate::PublishId,
    ) -> Result<Option<crate::JournalRecord>, crate::StoreError> {
        self.store.record(id).await
    }

    async fn unfinished(&self) -> Result<usize, crate::StoreError> {
        self.store.unfinished().await
    }

    async fn forget_finished(&self, before: crate::Timestamp) -> Result<usize, crate::StoreError> {
        self.store.forget_finished(before).await
    }
}
