//! How a PostgreSQL store connects: pool size, time limits, and the CA certificates to trust.

use std::time::Duration;

use rustls::pki_types::CertificateDer;

/// Settings for [`PostgresDeviceStore::connect_with`](crate::PostgresDeviceStore::connect_with).
///
/// ```
/// use std::time::Duration;
/// use beams_store_postgres::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .pool_size(32)
///     .statement_timeout(Duration::from_secs(2));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    pub(crate) pool_size: usize,
    pub(crate) statement_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) ca_certificates: Vec<CertificateDer<'static>>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            ca_certificates: Vec::new(),
        }
    }
}

impl PostgresOptions {
    /// The most connections the store opens to the database (default 16; at least 1). Each
    /// call holds one for its duration; a call that finds none free waits up to the statement
    /// timeout, then fails with `StoreErrorKind::Unavailable`.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long one statement may run, lock waits included, before the server cancels it
    /// (default 5 seconds). A whole store call is bounded by a small multiple of it; past
    /// either, the call fails with `StoreErrorKind::Unavailable` and changes nothing.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long opening a connection may take (default 5 seconds).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Trusts `certificate` (DER) as a root for the database server's TLS certificate, beside
    /// the public web roots — for a database whose certificate a private CA signed.
    pub fn ca_certificate(mut self, certificate: CertificateDer<'static>) -> Self {
        self.ca_certificates.push(certificate);
        self
    }

    /// The longest one store call may take, from waiting for a connection to its commit: room
    /// for a few statements at their timeout.
    pub(crate) fn call_timeout(&self) -> Duration {
        self.statement_timeout * 3 + self.connect_timeout
    }
}
