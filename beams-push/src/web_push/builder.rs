//! How a [`WebPushGateway`] is built: the VAPID key and contact, how push services are
//! reached, how much to send at once.

use super::gateway::{Settings, WebPushGateway};
use super::vapid::{VapidContact, VapidKey};
use crate::ConfigError;
use crate::http_builder::HttpGatewayBuilder;
use crate::reach::Reach;
use crate::transport::HttpClientOptions;

impl WebPushGateway {
    /// Starts configuring a gateway that signs with `key` and gives `contact` to push services.
    ///
    /// Defaults: TLS with public roots, 64 requests in flight, 30 s per request, the system
    /// clock.
    pub fn builder(key: VapidKey, contact: VapidContact) -> WebPushGatewayBuilder {
        let own = WebPushSettings {
            key,
            contact,
            allow_loopback: false,
        };
        HttpGatewayBuilder::new(own, 64)
    }
}

/// What a [`WebPushGatewayBuilder`] holds beside the shared settings: the VAPID key and the
/// contact given to push services.
#[derive(Debug)]
pub struct WebPushSettings {
    key: VapidKey,
    contact: VapidContact,
    allow_loopback: bool,
}

/// Configures a [`WebPushGateway`]: start with [`WebPushGateway::builder`]; the settings are
/// [`HttpGatewayBuilder`]'s; [`build`](Self::build) checks them.
pub type WebPushGatewayBuilder = HttpGatewayBuilder<WebPushSettings>;

impl HttpGatewayBuilder<WebPushSettings> {
    /// Whether push services may be on a loopback address (default: no). Endpoints are sent
    /// to only when the address connected to, after DNS, is on the public internet: otherwise
    /// anyone who registers a device could make the server reach its own network. Turn this
    /// on only for loopback test servers, with
    /// [`EndpointRules::allow_loopback`](beams_core::EndpointRules::allow_loopback).
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.own.allow_loopback = allow;
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
                reach: Reach::Public {
                    allow_loopback: self.own.allow_loopback,
                },
            })
            .ok_or(ConfigError::Tls)?;
        Ok(WebPushGateway::new(Settings {
            key: self.own.key,
            contact: self.own.contact,
            client,
            max_in_flight: self.max_in_flight,
            request_timeout: self.request_timeout,
            clock: self.clock,
        }))
    }
}
