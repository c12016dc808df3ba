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
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::classify::classify;
use super::encrypt::encrypt;
use super::message::{WebMessage, web_message};
use super::vapid::{VapidContact, VapidKey, VapidSigner};
use crate::Transport;
use crate::retry_after::retry_after;
use crate::transport::{HttpClient, HttpClientOptions};

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
    client: HttpClient,
    permits: Semaphore,
    request_timeout: Duration,
}

/// Configures a [`WebPushGateway`].
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

    /// How long one request may take before it counts as a transient failure (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Where "now" comes from for VAPID token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the gateway.
    pub fn build(self) -> WebPushGateway {
        // Plain text speaks HTTP/1.1 (no prior knowledge), and `http://` loopback endpoints a
        // store accepted stay reachable over any transport.
        let client = self
            .transport
            .http_client(HttpClientOptions {
                h2_prior_knowledge: false,
                allow_http: true,
            })
            .expect("the aws-lc-rs provider always offers safe TLS protocol versions");
        WebPushGateway {
            signer: VapidSigner::new(self.key, self.contact, Arc::clone(&self.clock)),
            clock: self.clock,
            client,
            permits: Semaphore::new(self.max_in_flight),
            request_timeout: self.request_timeout,
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
            request_timeout: Duration::from_secs(30),
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
        // The permit first: `join_all` polls every delivery at once, and encrypting before
        // waiting would do the whole batch's ECDH work in one poll and hold every body.
        let Ok(_permit) = self.permits.acquire().await else {
            return DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "gateway shutting down".into(),
            };
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

        // One deadline for the request and the error body: a push service that sends a head
        // and then stalls must not hold the permit. What arrived before the deadline is kept,
        // so a refusal whose body stalls is still classified by its status.
        let mut head: Option<(StatusCode, Option<Duration>)> = None;
        let mut detail = Vec::new();
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            head = Some((status, retry_after(response.headers(), self.clock.now())));
            if !status.is_success() {
                read_prefix(response.into_body(), &mut detail).await;
            }
            Ok::<_, hyper_util::client::legacy::Error>(())
        };
        let finished = tokio::time::timeout(self.request_timeout, exchange).await;
        let Some((status, wait)) = head else {
            return DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: match finished {
                    Ok(Err(err)) => format!("push service unreachable: {err}"),
                    _ => "push service timed out".into(),
                },
            };
        };
        classify(status, wait, String::from_utf8_lossy(&detail).trim())
    }
}

/// Reads the start of `body` into `into`, at most [`MAX_ERROR_BODY`] bytes: enough to report
/// why a push service refused, without reading (or failing on) a long answer. A body that
/// ends early or fails keeps what arrived.
async fn read_prefix(mut body: Incoming, into: &mut Vec<u8>) {
    while into.len() < MAX_ERROR_BODY {
        let Some(Ok(frame)) = body.frame().await else {
            break;
        };
        if let Some(data) = frame.data_ref() {
            let take = data.len().min(MAX_ERROR_BODY - into.len());
            into.extend_from_slice(&data[..take]);
        }
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
