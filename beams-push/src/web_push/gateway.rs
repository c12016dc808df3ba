//! `WebPushGateway`: encrypts each message for its browser, signs it with VAPID, and posts it
//! to the subscription's push service over pooled connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    Clock, Delivery, DeliveryOutcome, Payload, PushGateway, PushToken, SystemClock, async_trait,
};
use bytes::Bytes;
use futures_util::future::join_all;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::classify::classify;
use super::encrypt::encrypt;
use super::message::{WebMessage, web_message};
use super::vapid::{VapidContact, VapidKey, VapidSigner};
use crate::Transport;
use crate::retry_after::retry_after;

/// The most of an error answer's body kept for the report.
const MAX_ERROR_BODY: usize = 1024;

/// Sends Web Push notifications.
///
/// ```no_run
/// use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = VapidKey::from_pem(&std::fs::read_to_string("vapid.pem")?)?;
/// let gateway = WebPushGateway::builder(key, VapidContact::new("mailto:ops@example.com")?).build();
/// println!("applicationServerKey: {}", gateway.vapid_public_key());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebPushGateway {
    signer: VapidSigner,
    clock: Arc<dyn Clock>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    permits: Semaphore,
    timeout: Duration,
}

/// Configures a [`WebPushGateway`].
#[derive(Debug)]
pub struct WebPushGatewayBuilder {
    key: VapidKey,
    contact: VapidContact,
    transport: Transport,
    max_in_flight: usize,
    timeout: Duration,
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

    /// How long one request may take before it counts as a transient failure (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where "now" comes from for VAPID token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the gateway.
    pub fn build(self) -> WebPushGateway {
        // No ALPN here: the connector offers h2 and http/1.1 itself.
        let tls = self
            .transport
            .tls_config(&[])
            .or_else(|| Transport::Tls.tls_config(&[]));
        // Without TCP_NODELAY, small HTTP/2 frames wait on delayed ACKs (~40 ms a round trip).
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = match tls {
            Some(tls) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls).clone())
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(http),
            // Only if the TLS provider offers no safe protocol version at all.
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(http),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        WebPushGateway {
            signer: VapidSigner::new(self.key, self.contact, Arc::clone(&self.clock)),
            clock: self.clock,
            client,
            permits: Semaphore::new(self.max_in_flight),
            timeout: self.timeout,
        }
    }
}

impl WebPushGateway {
    /// Starts configuring a gateway that signs with `key` and gives `contact` to push services.
    pub fn builder(key: VapidKey, contact: VapidContact) -> WebPushGatewayBuilder {
        WebPushGatewayBuilder {
            key,
            contact,
            transport: Transport::default(),
            max_in_flight: 64,
            timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }

    /// The VAPID public key, base64url: what `GET …/web-vapid-public-key` answers.
    pub fn vapid_public_key(&self) -> String {
        self.signer.key().public_key_base64url()
    }

    async fn send_one(
        &self,
        delivery: &Delivery,
        message: &Result<WebMessage, String>,
    ) -> DeliveryOutcome {
        let PushToken::Web(subscription) = &delivery.token else {
            return DeliveryOutcome::Rejected {
                reason: format!("{} is not a Web Push subscription", delivery.device),
            };
        };
        let message = match message {
            Ok(message) => message,
            Err(reason) => {
                return DeliveryOutcome::Rejected {
                    reason: reason.clone(),
                };
            }
        };
        let body = match encrypt(subscription, &message.plaintext) {
            Ok(body) => body,
            Err(err) => {
                return DeliveryOutcome::Rejected {
                    reason: err.to_string(),
                };
            }
        };
        let authorization = match self.signer.authorization(subscription.endpoint_origin()) {
            Ok(value) => value,
            Err(err) => {
                return DeliveryOutcome::ConfigFailure {
                    reason: err.to_string(),
                };
            }
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(subscription.endpoint())
            .header("TTL", message.ttl)
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::AUTHORIZATION, authorization);
        if let Some(urgency) = message.urgency {
            request = request.header("Urgency", urgency);
        }
        if let Some(topic) = &message.topic {
            request = request.header("Topic", topic);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(err) => {
                return DeliveryOutcome::Rejected {
                    reason: format!("cannot build the request: {err}"),
                };
            }
        };

        let Ok(_permit) = self.permits.acquire().await else {
            return DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "gateway shutting down".into(),
            };
        };
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                return DeliveryOutcome::RetryLater {
                    retry_after: None,
                    reason: format!("push service unreachable: {err}"),
                };
            }
            Err(_) => {
                return DeliveryOutcome::RetryLater {
                    retry_after: None,
                    reason: "push service timed out".into(),
                };
            }
        };
        let status = response.status();
        let wait = retry_after(response.headers(), self.clock.now());
        let detail = if status.is_success() {
            String::new()
        } else {
            let body = Limited::new(response.into_body(), MAX_ERROR_BODY)
                .collect()
                .await;
            body.map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
                .unwrap_or_default()
        };
        classify(status, wait, &detail)
    }
}

/// Identifies a payload by its allocation: deliveries of one publish share one `Arc`.
fn payload_key(payload: &Arc<Payload>) -> usize {
    Arc::as_ptr(payload) as usize
}

#[async_trait]
impl PushGateway for WebPushGateway {
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome> {
        // A batch nearly always shares one payload: build each message once.
        let mut messages: HashMap<usize, Result<WebMessage, String>> = HashMap::new();
        for delivery in deliveries {
            messages
                .entry(payload_key(&delivery.payload))
                .or_insert_with(|| web_message(&delivery.payload));
        }
        let span = tracing::debug_span!("web_push_batch", deliveries = deliveries.len());
        join_all(deliveries.iter().map(|delivery| {
            let message = &messages[&payload_key(&delivery.payload)];
            self.send_one(delivery, message)
        }))
        .instrument(span)
        .await
    }
}
