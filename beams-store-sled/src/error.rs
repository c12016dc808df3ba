//! Mapping sled's errors into [`StoreError`], so no sled type reaches the public API.

use beams_core::{StoreError, StoreErrorKind};
use sled::transaction::{ConflictableTransactionError, TransactionError};

/// What a transaction closure returns: sled's conflict signal, or our own error to abort with.
pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The store error for a failed sled call.
pub(crate) fn from_sled(err: sled::Error) -> StoreError {
    let kind = match &err {
        sled::Error::Io(_) => StoreErrorKind::Unavailable,
        sled::Error::Corruption { at, .. } => StoreErrorKind::Corrupt {
            key: match at {
                Some(at) => format!("sled log at {at:?}"),
                None => "sled log".to_owned(),
            },
        },
        _ => StoreErrorKind::Backend,
    };
    StoreError::with_source(kind, err)
}

/// The store error for a transaction that failed or was aborted with one.
pub(crate) fn from_transaction(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => from_sled(err),
    }
}

/// Aborts a transaction with `err`.
pub(crate) fn abort(err: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(err)
}

/// The store error for a blocking task that did not finish: a panic is a bug (`Backend`), a
/// cancellation means the runtime is shutting down (`Unavailable`).
pub(crate) fn from_join(err: tokio::task::JoinError) -> StoreError {
    let kind = if err.is_panic() {
        StoreErrorKind::Backend
    } else {
        StoreErrorKind::Unavailable
    };
    StoreError::with_source(kind, err)
}
