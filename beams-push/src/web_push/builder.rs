//! How a [`WebPushGateway`] is built: the VAPID key and contact, how push services are
//! reached, how much to send at once.

use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, SystemClock};

use super::gateway::{Settings, WebPushGateway};
use super::vapid::{VapidContact, VapidKey};
use crate::transport::HttpClientOptions;
use crate::{ConfigError, Transport};

impl WebPushGateway {
    /// Starts configuring a gateway that signs with `key` and gives `contact` to push services.
    ///
    /// Defaults: TLS with public roots, 64 requests in flight, 30 s per request, the system
    /// clock.
    pub fn builder(key: VapidKey, contact: VapidContact) -> WebPushGatewayBuilder {
        WebPushGatewayBuilder {
            key,
            contact,
            transport: Transport::default(),
            max_in_flight: 64,
            request_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Configures a [`WebPushGateway`]: start with [`WebPushGateway::builder`];
/// [`build`](Self::build) checks every setting.
#[derive(Debug)]
pub struct WebPushGatewayBuilder {
    key: VapidKey,
    contact: VapidContact,
    transport: Transport,
    max_in_flight: usize,
    request_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl WebPushGatewayBuilder {
    /// How push services are reached (default: TLS with public roots; plain `http://` only
    /// ever reaches the loopback endpoints a store accepted).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Requests in flight at once (default 64): many subscriptions share a handful of push
    /// service origins, whose connections are pooled.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How long one push service may take to answer, its error body included, before the
    /// delivery counts as a transient failure (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Where "now" comes from for VAPID token expiry and `Retry-After` dates (default: the
    /// system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks every setting and builds the gateway. Needs no runtime and makes no request.
    pub fn build(self) -> Result<WebPushGateway, ConfigError> {
        ConfigError::check_timeout("request_timeout", self.request_timeout)?;
        // Plain text speaks HTTP/1.1 (no prior knowledge), and `http://` loopback endpoints a
        // store accepted stay reachable over any transport.
        let client = self
            .transport
            .http_client(HttpClientOptions {
                h2_prior_knowledge: false,
                allow_http: true,
            })
            .ok_or(ConfigError::Tls)?;
        Ok(WebPushGateway::new(Settings {
            key: self.key,
            contact: self.contact,
            client,
            max_in_flight: self.max_in_flight,
            request_timeout: self.request_timeout,
            clock: self.clock,
        }))
    }
}
