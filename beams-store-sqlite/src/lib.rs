//! A durable [`DeviceStore`](beams_core::DeviceStore) on SQLite: the embedded default.
//!
//! This crate will hold `SqliteDeviceStore`, on rusqlite with the bundled SQLite, so a server
//! has durable device associations in one file with nothing else to run. Until it lands, the
//! in-memory store from beams-core stands in through the same trait:
//!
//! ```
//! use std::sync::Arc;
//! use beams_core::{DeviceStore, MemoryDeviceStore};
//!
//! let store: Arc<dyn DeviceStore> = Arc::new(MemoryDeviceStore::new());
//! # let _ = store;
//! ```
