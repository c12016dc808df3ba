//! Copies the write-ahead log into the database file on a thread of its own, so that no write
//! waits for it.
//!
//! SQLite's own checkpoint runs inside a commit once the log passes a size: that commit (and
//! every write queued behind the one writer) then waits for the pages to be copied and the
//! file synced. Measured with publishes journaled in parallel, those stalls cost a third of
//! the throughput. A passive checkpoint from another connection copies what no reader still
//! needs without taking the write lock, and the next writer starts the log over. The writer
//! keeps SQLite's automatic checkpoint at a far larger size, as a bound should this thread
//! fall behind (a long read pins the log).

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::SqliteOptions;

/// How often the log is copied into the file.
const EVERY: Duration = Duration::from_millis(100);

/// Log pages past which a commit checkpoints by itself: the bound if this thread falls
/// behind (about 40 MB of 4 KB pages).
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The checkpointing thread of one store. Dropping this stops the thread and waits for it to
/// close its connection, so the store's own connections close last and the last one folds
/// the log into the file, as SQLite does when a database is closed: a closed store leaves a
/// whole file behind.
pub(crate) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only checkpoints; a panic there has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`; `None` if no thread or connection could
    /// be had (the writer's automatic checkpoint then does the work, as SQLite's default).
    pub(crate) fn start(path: PathBuf, options: &SqliteOptions) -> Option<Checkpointer> {
        let conn = Connection::open(&path).ok()?;
        conn.busy_timeout(options.busy_timeout).ok()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("beams-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    // A failed checkpoint leaves the log for the next one (or the writer's).
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use beams_core::Platform;
    use beams_core::testing::fixtures;

    use crate::SqliteDeviceStore;

    /// Writes that stay far below the writer's own checkpoint size still reach the database
    /// file, shortly after, with nothing but the store running: the thread copied them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_reaches_the_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("beams.db");
        let store = SqliteDeviceStore::open(&path)
            .await
            .expect("the store opens");
        let file_len = || std::fs::metadata(&path).map_or(0, |m| m.len());
        let empty = file_len();
        for n in 0..500 {
            fixtures::register(&store, Platform::Fcm, n, 0).await;
        }
        let wal = std::fs::metadata(dir.path().join("beams.db-wal")).map_or(0, |m| m.len());
        assert!(
            wal < 10_000 * 4096,
            "the writer's own checkpoint stays out of it: {wal}"
        );
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while file_len() <= empty {
            assert!(
                Instant::now() < deadline,
                "the database file is still {empty} bytes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Closing the store right after writing — before the thread's first checkpoint — leaves
    /// one whole file: the writer closes last and folds the log in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_store_leaves_no_log_behind() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("beams.db");
        let store = SqliteDeviceStore::open(&path)
            .await
            .expect("the store opens");
        for n in 0..200 {
            fixtures::register(&store, Platform::Web, n, 0).await;
        }
        drop(store);
        let wal = std::fs::metadata(dir.path().join("beams.db-wal")).map_or(0, |m| m.len());
        assert_eq!(wal, 0, "the log was folded into the file");
        assert!(std::fs::metadata(&path).map_or(0, |m| m.len()) > 16 * 4096);
    }
}
