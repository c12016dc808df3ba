//! A store bundled with what must outlive it, such as its temporary directory.

use std::ops::Deref;

use crate::DeviceStore;
use crate::store::forward_device_store;

/// A store that keeps `guard` (a temporary directory, a server handle) alive as long as
/// itself, for conformance runs of stores that live in files:
///
/// ```
/// use beams_core::MemoryDeviceStore;
/// use beams_core::testing::Guarded;
///
/// beams_core::device_store_conformance!(async || {
///     let dir = tempfile::tempdir().expect("a temporary directory");
///     // A store that lives in files opens under `dir.path()` here.
///     Guarded::new(MemoryDeviceStore::new(), dir)
/// });
/// ```
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Bundles `store` with `guard`; the guard drops after the store.
    pub fn new(store: S, guard: G) -> Self {
        Guarded {
            store,
            _guard: guard,
        }
    }
}

impl<S, G> Deref for Guarded<S, G> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

forward_device_store!([S: DeviceStore, G: Send + Sync + std::fmt::Debug] Guarded<S, G>);
