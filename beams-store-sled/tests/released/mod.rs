//! Opening a store directory that was just let go of: sled's background flusher holds the
//! directory's file lock a moment after its `Db` is dropped, so an immediate reopen can fail
//! with "could not acquire lock". These helpers retry every 20 ms for up to 10 s while the
//! lock is still held.

use std::path::Path;
use std::time::{Duration, Instant};

use beams_core::StoreErrorKind;
use beams_store_sled::{SledDeviceStore, sled};

const WAIT: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(20);

/// Calls `open` until it succeeds, fails with an error `locked` does not accept, or the wait
/// is over (then its last error is returned).
pub(crate) fn once_released<T, E>(
    mut open: impl FnMut() -> Result<T, E>,
    locked: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let deadline = Instant::now() + WAIT;
    loop {
        match open() {
            Err(err) if locked(&err) && Instant::now() < deadline => std::thread::sleep(RETRY),
            result => return result,
        }
    }
}

/// Opens the store at `path` once a store or raw `sled::Db` dropped just before has let go.
pub(crate) fn open_store(path: &Path) -> SledDeviceStore {
    once_released(
        || SledDeviceStore::open(path),
        |err| *err.kind() == StoreErrorKind::Unavailable,
    )
    .unwrap_or_else(|err| panic!("the store opens at {}: {err}", path.display()))
}

/// Opens `path` with sled itself once a store dropped just before has let go.
pub(crate) fn open_raw(path: &Path) -> sled::Db {
    once_released(|| sled::open(path), |err| matches!(err, sled::Error::Io(_)))
        .unwrap_or_else(|err| panic!("sled opens {}: {err}", path.display()))
}
