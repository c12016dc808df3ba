//! `SledDeviceStore`: opening, and the `DeviceStore` methods.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use beams_core::{
    AssociationOutcome, AssociationRequest, Device, DeviceId, DeviceMetadata, DeviceRegistration,
    DeviceStore, Interest, InterestChange, PushToken, RegistrationOutcome, StoreError,
    StoreErrorKind, Timestamp, UserId, async_trait, check_token_platform,
};

use crate::Durability;
use crate::database::Database;
use crate::error::{from_join, from_sled};
use crate::layout;
use crate::leader::Leader;
use crate::txn::{WriteOp, Written};
use crate::writer::{Writer, writer_stopped};

/// A [`DeviceStore`] on sled. Clones share the database.
///
/// Every change that touches more than one tree (registration, association with its
/// evictions, removals, token refresh, subscribing and unsubscribing) is one sled
/// transaction, so the token, user and interest indexes always agree with the devices, also
/// after a crash. Writes run off the executor (a lone write in place on a multi-thread
/// runtime's worker, via `block_in_place`; a stream of them on the blocking pool), one
/// transaction at a time; concurrent writes are committed together in one transaction
/// (group commit), each seeing the ones before it, so they share sled's per-transaction disk
/// writes and flush. Reads run in place: they are single-key lookups, in memory once the cache
/// is warm. When an acknowledged write reaches the disk is the store's [`Durability`].
///
/// A device's interests are one value, read and rewritten whole by each subscription, so
/// `add_interest` checks the maximum and adds in one step; an interest's devices are keys
/// named by interest and device id, so `subscribers_page` merges one prefix scan per
/// interest, in device-id order, on the blocking pool. A subscription whose device is gone
/// (a damaged store) is skipped, not an error.
///
/// Its database also holds the publish journal ([`journal`](Self::journal)), in trees of
/// its own, written through the same writer.
///
/// The on-disk layout (trees `beams.meta`, `beams.devices`, `beams.tokens`, `beams.users`,
/// `beams.device_interests`, `beams.interests`, and the journal's `beams.publishes`,
/// `beams.unfinished_publishes` and `beams.finished_publishes`) carries a version; opening a store of
/// an unknown version fails with `StoreErrorKind::IncompatibleVersion`. Values that do not
/// decode give `StoreErrorKind::Corrupt` naming their key.
///
/// Closing: drop every clone. sled writes out what is left as the last handle drops, so drop
/// it where blocking briefly is fine.
#[derive(Clone)]
pub struct SledDeviceStore {
    database: Arc<Database>,
    writer: Arc<Writer>,
    durability: Durability,
}

impl fmt::Debug for SledDeviceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // sled's own `Debug` would print every entry.
        f.debug_struct("SledDeviceStore")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl SledDeviceStore {
    /// Opens (creating if needed) the store in the directory `path`, flushing every write.
    ///
    /// Fails with `NotAStore` when `path` is a file or a directory of other things,
    /// `IncompatibleVersion` when the store has an unknown layout, and `Unavailable` when the
    /// directory cannot be used (for example, another process has it open).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::default())
    }

    /// Opens (creating if needed) the store in the directory `path` with the given durability.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, StoreError> {
        let path = path.as_ref();
        layout::check_path(path)?;
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(durability.background_flush_ms())
            .open()
            .map_err(from_sled)?;
        Self::with_db(db, durability)
    }

    /// Uses an open sled database, flushing every write. The store's trees are prefixed
    /// `beams.`, so the database may hold the application's own trees as well.
    pub fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        Self::with_db(db, Durability::FlushEveryWrite)
    }

    fn with_db(db: sled::Db, durability: Durability) -> Result<Self, StoreError> {
        let trees = layout::open_trees(&db)?;
        Ok(SledDeviceStore {
            database: Arc::new(Database { db, trees }),
            writer: Arc::new(Writer::new(durability)),
            durability,
        })
    }

    /// When acknowledged writes reach the disk.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Writes everything acknowledged so far to disk, whatever the durability: for a store
    /// that flushes on an interval, at a point where all must be kept. (Dropping the last
    /// handle writes everything out too.)
    pub async fn flush(&self) -> Result<(), StoreError> {
        // Through the writer, so it knows nothing is left behind and its next write need not
        // flush again.
        let writer = Arc::clone(&self.writer);
        self.blocking(move |database| writer.flush(&database.db))
            .await
    }

    /// The open database.
    pub(crate) fn database(&self) -> &Database {
        &self.database
    }

    /// Runs `f` on tokio's blocking pool.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let database = Arc::clone(&self.database);
        tokio::task::spawn_blocking(move || f(&database))
            .await
            .map_err(from_join)?
    }

    /// Applies `op`, in a transaction with whatever other writes wait (see `writer`).
    pub(crate) async fn write(&self, op: WriteOp) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.writer.enqueue(op, reply) {
            Leader::start(Arc::clone(&self.writer), Arc::downgrade(&self.database));
        }
        answer.await.map_err(|_| writer_stopped())?
    }
}

/// The error for a writer's answer of the wrong kind, which the writer never gives.
pub(crate) fn mismatch(written: Written) -> StoreError {
    StoreError::with_source(
        StoreErrorKind::Backend,
        format!("the writer answered with {written:?}"),
    )
}

#[async_trait]
impl DeviceStore for SledDeviceStore {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
    ) -> Result<RegistrationOutcome, StoreError> {
        check_token_platform(&registration.id, &registration.token)?;
        match self.write(WriteOp::Register(registration)).await? {
            Written::Registered(outcome) => Ok(outcome),
            other => Err(mismatch(other)),
        }
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        self.database.trees.device(id)
    }

    async fn remove_device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        match self.write(WriteOp::RemoveDevice(id.clone())).await? {
            Written::Removed(removed) => Ok(removed),
            other => Err(mismatch(other)),
        }
    }

    async fn remove_device_by_token(
        &self,
        token: &PushToken,
        registered_no_later_than: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        let op = WriteOp::RemoveByToken(token.clone(), registered_no_later_than);
        match self.write(op).await? {
            Written::Removed(removed) => Ok(removed),
            other => Err(mismatch(other)),
        }
    }

    async fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        self.database.trees.devices_of_user(user)
    }

    async fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError> {
        // Up to 1000 users: enough reads to keep off the executor.
        let users = users.to_vec();
        self.blocking(move |database| database.trees.devices_of_users(&users))
            .await
    }

    async fn remove_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        match self.write(WriteOp::RemoveUser(user.clone())).await? {
            Written::RemovedAll(removed) => Ok(removed),
            other => Err(mismatch(other)),
        }
    }

    async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Option<Device>, StoreError> {
        match self
            .write(WriteOp::UpdateMetadata(id.clone(), metadata))
            .await?
        {
            Written::Updated(device) => Ok(device),
            other => Err(mismatch(other)),
        }
    }

    async fn update_token(
        &self,
        id: &DeviceId,
        token: PushToken,
        at: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        check_token_platform(id, &token)?;
        match self
            .write(WriteOp::UpdateToken(id.clone(), token, at))
            .await?
        {
            Written::Updated(device) => Ok(device),
            other => Err(mismatch(other)),
        }
    }

    async fn set_interests(
        &self,
        id: &DeviceId,
        interests: &BTreeSet<Interest>,
    ) -> Result<Option<()>, StoreError> {
        match self
            .write(WriteOp::SetInterests(id.clone(), interests.clone()))
            .await?
        {
            Written::InterestsSet(found) => Ok(found),
            other => Err(mismatch(other)),
        }
    }

    async fn add_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
        max: usize,
    ) -> Result<Option<InterestChange>, StoreError> {
        match self
            .write(WriteOp::AddInterest(id.clone(), interest.clone(), max))
            .await?
        {
            Written::InterestAdded(change) => Ok(change),
            other => Err(mismatch(other)),
        }
    }

    async fn remove_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<Option<bool>, StoreError> {
        match self
            .write(WriteOp::RemoveInterest(id.clone(), interest.clone()))
            .await?
        {
            Written::InterestRemoved(removed) => Ok(removed),
            other => Err(mismatch(other)),
        }
    }

    async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError> {
        // Two lookups, like `device`.
        self.database.trees.interests_of_device(id, after, limit)
    }

    async fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        // A page of a publish: up to `limit` device reads, kept off the executor.
        let (interests, after) = (interests.to_vec(), after.cloned());
        self.blocking(move |database| {
            database
                .trees
                .subscribers_page(&interests, after.as_ref(), limit)
        })
        .await
    }

    async fn associate(
        &self,
        request: &AssociationRequest,
    ) -> Result<Option<AssociationOutcome>, StoreError> {
        match self.write(WriteOp::Associate(request.clone())).await? {
            Written::Associated(outcome) => Ok(outcome),
            other => Err(mismatch(other)),
        }
    }
}
