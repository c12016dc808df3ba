//! A [`DeviceStore`](beams_core::DeviceStore) on PostgreSQL: many servers, one database.
//!
//! (Front-page docs are written below.)

mod error;
mod interests;
mod options;
mod plans;
mod pool;
mod queries;
mod row;
mod schema;
mod store;

pub use options::PostgresOptions;
pub use store::PostgresDeviceStore;

/// The pool this store is built on, re-exported so you can build one for
/// [`PostgresDeviceStore::from_pool`] without pinning it twice.
pub use deadpool_postgres;
