//! `SqliteDeviceStore`: the `DeviceStore` over one SQLite file.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use beams_core::{
    AssociationOutcome, AssociationRequest, Device, DeviceId, DeviceMetadata, DeviceRegistration,
    DeviceStore, Interest, InterestChange, PushToken, RegistrationOutcome, StoreError, Timestamp,
    UserId, async_trait,
};
use rusqlite::{Connection, OpenFlags};

use crate::checkpointer::{Checkpointer, WRITER_AUTOCHECKPOINT_PAGES};
use crate::error::{store_error, worker_failed};
use crate::{SqliteOptions, SqlitePublishJournal, interests, queries, schema};

/// A [`DeviceStore`] on SQLite: durable, safe under concurrency in one process and across
/// processes sharing the file.
///
/// One writer connection takes every change, each in a `BEGIN IMMEDIATE` transaction; a few
/// read-only connections serve lookups, which WAL mode lets run beside the writer. SQLite
/// admits one writer at a time anyway, so funnelling this process's writes through one
/// connection costs no parallelism and spares it lock retries; other processes queue on the
/// busy timeout. A thread of the store copies the write-ahead log into the file every 100 ms,
/// so commits do not stop to do it. No SQLite call runs as an ordinary async task: on a multi-thread runtime the
/// worker hands its other tasks away first (`block_in_place`), elsewhere the call goes to
/// tokio's blocking pool; no lock is held across an `.await`.
///
/// Clones share the connections.
#[derive(Clone)]
pub struct SqliteDeviceStore {
    inner: Arc<Connections>,
}

/// Fields drop in order: the checkpoint thread and the read-only readers close before the
/// writer, so the writer is the file's last connection and, closing, folds the log into the
/// file and removes it — a closed store leaves one whole file.
struct Connections {
    /// Copies the log into the file beside the writer (a file store only).
    _checkpointer: Option<Checkpointer>,
    readers: Vec<Mutex<Connection>>,
    writer: Mutex<Connection>,
    path: Option<PathBuf>,
    next_reader: AtomicUsize,
}

impl SqliteDeviceStore {
    /// Opens (creating if needed) the store in the file at `path`, with default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (creating if needed) the store in the file at `path`.
    ///
    /// Applies the migrations this build knows; a file written by a newer version is refused
    /// with `StoreErrorKind::IncompatibleVersion`, and a file that is not a beams database
    /// with `StoreErrorKind::NotAStore` (or `Corrupt` when damaged).
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options))
            .await
            .map_err(worker_failed)?
    }

    /// Opens a store that lives in memory, for tests: one connection, nothing on disk.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut writer = Connection::open_in_memory().map_err(store_error)?;
        configure(&writer, &SqliteOptions::default(), false)?;
        schema::migrate(&mut writer)?;
        Ok(Self::from_connections(None, writer, Vec::new(), None))
    }

    fn open_blocking(path: PathBuf, options: SqliteOptions) -> Result<Self, StoreError> {
        let mut writer = Connection::open(&path).map_err(store_error)?;
        configure(&writer, &options, true)?;
        schema::migrate(&mut writer)?;
        let readers = (0..options.readers)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let reader = Connection::open_with_flags(&path, flags).map_err(store_error)?;
                configure(&reader, &options, false)?;
                Ok(reader)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let checkpointer = Checkpointer::start(path.clone(), &options);
        Ok(Self::from_connections(
            Some(path),
            writer,
            readers,
            checkpointer,
        ))
    }

    fn from_connections(
        path: Option<PathBuf>,
        writer: Connection,
        readers: Vec<Connection>,
        checkpointer: Option<Checkpointer>,
    ) -> Self {
        SqliteDeviceStore {
            inner: Arc::new(Connections {
                path,
                writer: Mutex::new(writer),
                readers: readers.into_iter().map(Mutex::new).collect(),
                next_reader: AtomicUsize::new(0),
                _checkpointer: checkpointer,
            }),
        }
    }

    /// The publish journal in this store's database: it shares the store's connections, so
    /// one file (and one backup) holds the devices and the publishes in flight.
    pub fn journal(&self) -> SqlitePublishJournal {
        SqlitePublishJournal::new(self.clone())
    }

    /// Runs `change` on the writer connection, off the async executor.
    pub(crate) async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        off_the_executor(move || {
            // A panic mid-transaction rolled it back as the `Transaction` unwound, so the
            // connection is usable even if the lock was poisoned.
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut conn)
        })
        .await
    }

    /// Runs `change` on the writer connection, always on the blocking pool: the calling task
    /// goes on polling its other futures meanwhile. For writes a task makes beside its main
    /// work — a publish's checkpoints while its pages are sent — which `block_in_place` would
    /// stall whole for the write's duration.
    pub(crate) async fn write_beside<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut conn)
        })
        .await
        .map_err(worker_failed)?
    }

    /// Runs `query` on a reader connection (the writer when there are none), off the async
    /// executor.
    pub(crate) async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        off_the_executor(move || {
            let connection = match inner.readers.len() {
                0 => &inner.writer,
                n => &inner.readers[inner.next_reader.fetch_add(1, Ordering::Relaxed) % n],
            };
            let conn = connection.lock().unwrap_or_else(PoisonError::into_inner);
            query(&conn)
        })
        .await
    }
}

/// Runs blocking SQLite work where it cannot stall other tasks. On a multi-thread runtime the
/// current worker becomes a blocking thread in place (`block_in_place`), sparing a hop to the
/// blocking pool, which costs more than a short query; elsewhere the work goes to the pool.
async fn off_the_executor<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(work)
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(worker_failed)?
    }
}

/// Applies the per-connection settings; `wal` also switches the file to write-ahead logging
/// (persistent, so the writer does it once for everyone).
fn configure(conn: &Connection, options: &SqliteOptions, wal: bool) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout)
        .map_err(store_error)?;
    conn.set_prepared_statement_cache_capacity(32);
    if wal {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(store_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(beams_core::StoreErrorKind::Unavailable));
        }
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(store_error)?;
    }
    conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())
        .map_err(store_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(store_error)?;
    Ok(())
}

impl fmt::Debug for SqliteDeviceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDeviceStore")
            .field("path", &self.inner.path)
            .field("readers", &self.inner.readers.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DeviceStore for SqliteDeviceStore {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
    ) -> Result<RegistrationOutcome, StoreError> {
        self.write(move |conn| queries::register(conn, &registration))
            .await
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let id = id.clone();
        self.read(move |conn| queries::device(conn, &id)).await
    }

    async fn remove_device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let id = id.clone();
        self.write(move |conn| queries::remove_device(conn, &id))
            .await
    }

    async fn remove_device_by_token(
        &self,
        token: &PushToken,
        registered_no_later_than: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        let token = token.clone();
        self.write(move |conn| {
            queries::remove_device_by_token(conn, &token, registered_no_later_than)
        })
        .await
    }

    async fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        let user = user.clone();
        self.read(move |conn| queries::devices_of_user(conn, &user))
            .await
    }

    async fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError> {
        let users = users.to_vec();
        self.read(move |conn| queries::devices_of_users(conn, &users))
            .await
    }

    async fn remove_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        let user = user.clone();
        self.write(move |conn| queries::remove_user(conn, &user))
            .await
    }

    async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Option<Device>, StoreError> {
        let id = id.clone();
        self.write(move |conn| queries::update_metadata(conn, &id, &metadata))
            .await
    }

    async fn update_token(
        &self,
        id: &DeviceId,
        token: PushToken,
        at: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        let id = id.clone();
        self.write(move |conn| queries::update_token(conn, &id, &token, at))
            .await
    }

    async fn set_interests(
        &self,
        id: &DeviceId,
        interests: &BTreeSet<Interest>,
    ) -> Result<Option<()>, StoreError> {
        let (id, interests) = (id.clone(), interests.clone());
        self.write(move |conn| interests::set(conn, &id, &interests))
            .await
    }

    async fn add_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
        max: usize,
    ) -> Result<Option<InterestChange>, StoreError> {
        let (id, interest) = (id.clone(), interest.clone());
        self.write(move |conn| interests::add(conn, &id, &interest, max))
            .await
    }

    async fn remove_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<Option<bool>, StoreError> {
        let (id, interest) = (id.clone(), interest.clone());
        self.write(move |conn| interests::remove(conn, &id, &interest))
            .await
    }

    async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError> {
        let (id, after) = (id.clone(), after.cloned());
        self.read(move |conn| interests::page(conn, &id, after.as_ref(), limit))
            .await
    }

    async fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let (names, after) = (interests.to_vec(), after.cloned());
        self.read(move |conn| interests::subscribers_page(conn, &names, after.as_ref(), limit))
            .await
    }

    async fn associate(
        &self,
        request: &AssociationRequest,
    ) -> Result<Option<AssociationOutcome>, StoreError> {
        let request = request.clone();
        self.write(move |conn| queries::associate(conn, &request))
            .await
    }
}
