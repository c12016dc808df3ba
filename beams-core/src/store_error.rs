//! The error a `DeviceStore` backend reports.

use std::error::Error as StdError;
use std::fmt;

/// A store failure, with a kind callers can branch on and the backend's own error as source.
///
/// Backends map their driver's errors into this, so no driver type leaks into the public API.
#[derive(Debug, thiserror::Error)]
#[error("device store: {kind}")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` with no underlying cause.
    pub fn new(kind: StoreErrorKind) -> Self {
        StoreError { kind, source: None }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: StoreErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError {
            kind,
            source: Some(source.into()),
        }
    }

    /// The caller broke a precondition of the call: `detail` says which. Nothing changed.
    pub fn precondition(detail: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Precondition {
            detail: detail.into(),
        })
    }

    /// A `Corrupt` error for one column of one stored device row, `cause` saying what is
    /// wrong: the key names the row and the column.
    pub fn corrupt_column(
        row: &str,
        column: &str,
        cause: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::with_source(
            StoreErrorKind::Corrupt {
                key: format!("devices row {row:?}, column {column}"),
            },
            cause,
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &StoreErrorKind {
        &self.kind
    }
}

/// The kinds of store failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The storage could not be reached or used (I/O error, database locked past its timeout,
    /// a worker thread gone). Retrying later may succeed.
    Unavailable,
    /// Stored data does not decode; `key` says where.
    Corrupt {
        /// The key, row or file that holds the bad data.
        key: String,
    },
    /// The storage was written by a version of this library whose layout this one does not know.
    IncompatibleVersion {
        /// The layout version found.
        found: String,
        /// The newest layout version this build supports.
        supported: String,
    },
    /// The path does not hold a store of this kind.
    NotAStore {
        /// What was found instead.
        detail: String,
    },
    /// The caller broke a precondition of the call (for example, a push token of another
    /// platform than the device's). Nothing changed, and the same call fails the same way.
    Precondition {
        /// The rule that was broken.
        detail: String,
    },
    /// Any other backend failure.
    Backend,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreErrorKind::Unavailable => f.write_str("storage unavailable"),
            StoreErrorKind::Corrupt { key } => write!(f, "stored data at {key} does not decode"),
            StoreErrorKind::IncompatibleVersion { found, supported } => write!(
                f,
                "storage layout version {found} is not supported (newest known: {supported})"
            ),
            StoreErrorKind::NotAStore { detail } => write!(f, "not a device store: {detail}"),
            StoreErrorKind::Precondition { detail } => write!(f, "precondition broken: {detail}"),
            StoreErrorKind::Backend => f.write_str("backend failure"),
        }
    }
}
