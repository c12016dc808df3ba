//! How a SQLite store is opened: durability, readers, waiting for the write lock.

use std::time::Duration;

/// How hard SQLite works to keep a commit through a power cut (`PRAGMA synchronous`, in WAL
/// mode). Both settings keep every acknowledged commit when the *process* crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `NORMAL`: the write-ahead log is synced at checkpoints, not at every commit. A power cut
    /// may lose the last commits, never corrupt the file. SQLite's advice for WAL; the default.
    #[default]
    Normal,
    /// `FULL`: every commit is synced before it is acknowledged. Nothing acknowledged is lost,
    /// at the cost of one fsync per write.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Settings for [`SqliteDeviceStore::open_with`](crate::SqliteDeviceStore::open_with).
///
/// ```
/// use std::time::Duration;
/// use beams_store_sqlite::{SqliteOptions, Synchronous};
///
/// let options = SqliteOptions::default()
///     .synchronous(Synchronous::Full)
///     .readers(2)
///     .busy_timeout(Duration::from_secs(10));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    pub(crate) synchronous: Synchronous,
    pub(crate) readers: usize,
    pub(crate) busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::default(),
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// The durability of commits (default [`Synchronous::Normal`]).
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How many read-only connections serve lookups beside the one writer (default 4; 0 sends
    /// reads to the writer).
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// How long a write waits for another process's write lock before failing with
    /// `StoreErrorKind::Unavailable` (default 5 seconds).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}
