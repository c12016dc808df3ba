//! What every handler shares: the engine, the VAPID public key, the publishes in flight and
//! the reported events.

use std::sync::Arc;

use beams_core::{Beams, LedgerLimits};

use crate::client_limits::ClientLimits;
use crate::publishes::Publishes;
use crate::reports::{self, Reports};

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
    reports: Reports,
    client_limits: Option<Arc<ClientLimits>>,
}

impl AppState {
    /// State serving `beams`' instance, with no Web Push key (the VAPID endpoint answers 404
    /// until one is set), and reported events counted within the default [`LedgerLimits`]
    /// through a queue of [`reports::DEFAULT_QUEUE_CAPACITY`] events.
    pub fn new(beams: Beams) -> Self {
        let reports = Reports::new(
            beams.clone(),
            LedgerLimits::default(),
            reports::DEFAULT_QUEUE_CAPACITY,
        );
        AppState {
            inner: Arc::new(Inner {
                beams,
                vapid_public_key: None,
                publishes: Publishes::new(),
                reports,
                client_limits: None,
            }),
        }
    }

    /// Counts reported events within `limits`, through a queue of `queue_capacity` events
    /// (replacing the counts so far).
    pub fn with_reports(self, limits: LedgerLimits, queue_capacity: usize) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.reports = Reports::new(inner.beams.clone(), limits, queue_capacity);
        AppState {
            inner: Arc::new(inner),
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

    /// The delivery and open events clients report, and the per-publish counts kept from
    /// them ([`Reports::ledger`]), which insights and webhooks read.
    pub fn reports(&self) -> &Reports {
        &self.inner.reports
    }
}
