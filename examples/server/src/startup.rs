//! Why the server could not start.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use beams_core::{StoreError, StoreErrorKind};

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file holds something unusable.
    #[error("{}: {reason}", .path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A flag (or its `BEAMS_…` variable) holds a value the server cannot use.
    #[error("{flag}: {reason}")]
    InvalidFlag {
        /// The flag, such as `--push-ca`.
        flag: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The configuration does not hold together.
    #[error("configuration: {0}")]
    Config(String),
    /// The device store could not be opened.
    #[error("could not open the {store} store at {}: {source}", .path.display())]
    Store {
        /// `sqlite` or `sled`.
        store: &'static str,
        /// The database path.
        path: PathBuf,
        /// What the store said.
        source: StoreError,
    },
    /// The PostgreSQL store could not be opened: the database is unreachable, refuses the
    /// login, or holds a schema this version cannot use.
    #[error("could not open the postgres store at {database}: {}", explain(.source))]
    Database {
        /// The database's URL, without its password.
        database: String,
        /// What the store said.
        source: StoreError,
    },
    /// A push platform's credentials are unusable.
    #[error("{platform}: {reason}")]
    Credentials {
        /// `APNs`, `FCM` or `Web Push`.
        platform: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listening address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The server stopped serving without being asked to (its task panicked or failed).
    #[error("the server stopped unexpectedly: {0}")]
    Stopped(String),
}

/// A store error as one line: what went wrong, why (the causes the store gave), and what to
/// do about it when that is known.
fn explain(error: &StoreError) -> String {
    let mut line = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        // Drivers often repeat their cause in their own message: say it once.
        let text = error.to_string();
        if !line.contains(&text) {
            line.push_str(&format!(": {text}"));
        }
        cause = error.source();
    }
    let advice = match error.kind() {
        StoreErrorKind::Unavailable => " (is PostgreSQL running, and reachable at that address?)",
        StoreErrorKind::IncompatibleVersion { .. } => {
            " (a newer beams-server migrated this database: run that version, or a newer one)"
        }
        _ => "",
    };
    line.push_str(advice);
    line.replace('\n', " ")
}

impl StartupError {
    pub(crate) fn flag(flag: &'static str, reason: impl Into<String>) -> Self {
        StartupError::InvalidFlag {
            flag,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        StartupError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
