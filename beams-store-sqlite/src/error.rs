//! Mapping SQLite's errors into the store's portable ones.

use beams_core::{StoreError, StoreErrorKind};
use rusqlite::ErrorCode;

/// Classifies a rusqlite error so callers can branch on it without knowing SQLite.
pub(crate) fn store_error(err: rusqlite::Error) -> StoreError {
    let kind = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreErrorKind::NotAStore {
            detail: "the file is not a SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreErrorKind::Corrupt {
            key: "the SQLite database file".to_owned(),
        },
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::OutOfMemory,
        ) => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Backend,
    };
    StoreError::with_source(kind, err)
}

/// The blocking worker that ran a store call could not finish (the runtime is shutting down,
/// or the call panicked).
pub(crate) fn worker_failed(err: tokio::task::JoinError) -> StoreError {
    StoreError::with_source(StoreErrorKind::Unavailable, err)
}
