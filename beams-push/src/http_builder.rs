//! The builder the two HTTP gateways share. FCM and Web Push both send one request per device
//! through a pooled client, so they are configured alike: how the service is reached, how many
//! requests are in flight, how long one may take, and the clock. Each adds what is its own
//! (FCM's base URL; the VAPID key is given up front).

use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, SystemClock};

use crate::Transport;

/// Configures an HTTP push gateway: an [`FcmGatewayBuilder`](crate::fcm::FcmGatewayBuilder)
/// or a [`WebPushGatewayBuilder`](crate::web_push::WebPushGatewayBuilder), made by
/// [`FcmGateway::builder`](crate::fcm::FcmGateway::builder) or
/// [`WebPushGateway::builder`](crate::web_push::WebPushGateway::builder). `K` holds what is
/// the gateway's own; the settings here are shared.
#[derive(Debug, Clone)]
pub struct HttpGatewayBuilder<K> {
    pub(crate) own: K,
    pub(crate) transport: Transport,
    pub(crate) max_in_flight: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<K> HttpGatewayBuilder<K> {
    /// The default time one request may take.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    pub(crate) fn new(own: K, max_in_flight: usize) -> Self {
        HttpGatewayBuilder {
            own,
            transport: Transport::default(),
            max_in_flight,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    /// How the push service is reached (default: TLS with public roots).
    /// [`Transport::PlainText`] is for loopback test servers: FCM then speaks HTTP/2 with prior
    /// knowledge, Web Push HTTP/1.1. (Web Push reaches a loopback `http://` endpoint a store
    /// accepted over any transport.)
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// How many requests may be in flight at once across all batches, at least 1 (default 100
    /// for FCM; 64 for Web Push, whose subscriptions share a handful of pooled origins).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How long one request may take, its answer included, before the delivery counts as a
    /// transient failure (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Where "now" comes from for token expiry (access tokens, VAPID tokens) and `Retry-After`
    /// dates (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
