//! What every handler shares: the engine, the VAPID public key and the publishes in flight.

use std::sync::Arc;

use beams_core::Beams;

use crate::client_limits::ClientLimits;
use crate::publishes::Publishes;

/// The state behind [`router`](crate::router): cheap to clone, shared by every request.
///
/// ```
/// use beams_core::{Beams, InstanceId, MemoryDeviceStore, SecretKey};
/// use beams_server::AppState;
///
/// let beams = Beams::builder(InstanceId::new("my-instance")?, SecretKey::new("my-secret")?,
///                            MemoryDeviceStore::new()).build();
/// let state = AppState::new(beams).with_vapid_public_key("BExample");
/// assert_eq!(state.vapid_public_key(), Some("BExample"));
/// assert_eq!(state.beams().instance_id().as_str(), "my-instance");
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    beams: Beams,
    vapid_public_key: Option<String>,
    publishes: Publishes,
    client_limits: Option<Arc<ClientLimits>>,
}

impl AppState {
    /// State serving `beams`' instance, with no Web Push key (the VAPID endpoint answers 404
    /// until one is set).
    pub fn new(beams: Beams) -> Self {
        AppState {
            inner: Arc::new(Inner {
                beams,
                vapid_public_key: None,
                publishes: Publishes::new(),
                client_limits: None,
            }),
        }
    }

    /// Serves `key` (base64url, the `applicationServerKey` browsers subscribe with) on
    /// `GET …/web-vapid-public-key`.
    pub fn with_vapid_public_key(self, key: impl Into<String>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.vapid_public_key = Some(key.into());
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// Limits each client's registrations and interest changes (none until set).
    pub fn with_client_limits(self, limits: ClientLimits) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.client_limits = Some(Arc::new(limits));
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// The per-client limits, if any.
    pub fn client_limits(&self) -> Option<&ClientLimits> {
        self.inner.client_limits.as_deref()
    }

    /// The engine.
    pub fn beams(&self) -> &Beams {
        &self.inner.beams
    }

    /// The VAPID public key, if Web Push is configured.
    pub fn vapid_public_key(&self) -> Option<&str> {
        self.inner.vapid_public_key.as_deref()
    }

    /// The publishes delivering in the background; drain them before the process exits.
    pub fn publishes(&self) -> &Publishes {
        &self.inner.publishes
    }
}
