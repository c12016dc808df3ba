//! A [`DeviceStore`](beams_core::DeviceStore) on sled: the pure-Rust embedded option.
//!
//! This crate will hold `SledDeviceStore`; swapping it for the SQLite store is a one-line
//! change, and both run the same conformance suite. Until it lands, the in-memory store from
//! beams-core stands in through the same trait:
//!
//! ```
//! use std::sync::Arc;
//! use beams_core::{DeviceStore, MemoryDeviceStore};
//!
//! let store: Arc<dyn DeviceStore> = Arc::new(MemoryDeviceStore::new());
//! # let _ = store;
//! ```
