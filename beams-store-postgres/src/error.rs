//! Mapping PostgreSQL's and the pool's errors into the store's portable ones.

use beams_core::{StoreError, StoreErrorKind};
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Classifies a driver error. No database error at all means the connection failed (refused,
/// reset, closed, timed out): `Unavailable`, like the server errors that say "not now".
pub(crate) fn store_error(err: tokio_postgres::Error) -> StoreError {
    let kind = match err.code() {
        None => StoreErrorKind::Unavailable,
        Some(code) if is_transient(code) => StoreErrorKind::Unavailable,
        Some(_) => StoreErrorKind::Backend,
    };
    StoreError::with_source(kind, err)
}

/// Server errors that say the database cannot serve the call now, but may later: connection
/// failures, shutdowns, cancellation (the statement timeout), lock and resource limits, and
/// conflicts that outlived the retries.
fn is_transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57" | "58")
        || [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ]
        .contains(code)
}

/// A pool that could not hand out a connection in time, or whose connection failed to open.
pub(crate) fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => store_error(err),
        other => StoreError::with_source(StoreErrorKind::Unavailable, other),
    }
}

/// The error a call that ran out of time reports.
pub(crate) fn timed_out(after: std::time::Duration) -> StoreError {
    StoreError::with_source(
        StoreErrorKind::Unavailable,
        format!("the database did not answer within {after:?}"),
    )
}

/// The driver error behind a store error, if there is one.
pub(crate) fn sql_state(err: &StoreError) -> Option<&SqlState> {
    std::error::Error::source(err)?
        .downcast_ref::<tokio_postgres::Error>()?
        .code()
}
