//! `WebPushGateway`: encrypts each message for its browser, signs it with VAPID, and posts it
//! to the subscription's push service over pooled connections.

use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    Batch, Clock, DeliveryOutcome, Payload, PushGateway, PushToken, Recipient, WebSubscription,
    async_trait,
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
use crate::reach::NotPublic;
use crate::retry_after::retry_after;
use crate::transport::HttpClient;

/// What the builder checked, for the gateway to take apart.
pub(crate) struct Settings {
    pub(crate) key: VapidKey,
    pub(crate) contact: VapidContact,
    pub(crate) client: HttpClient,
    pub(crate) max_in_flight: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The most of an error answer's body kept for the report.
const MAX_ERROR_BODY: usize = 1024;

/// Sends Web Push notifications.
///
/// ```no_run
/// use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = VapidKey::from_pem(&std::fs::read_to_string("vapid.pem")?)?;
/// let contact = VapidContact::new("mailto:ops@example.com")?;
/// let gateway = WebPushGateway::builder(key, contact).build()?;
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

impl WebPushGateway {
    pub(crate) fn new(settings: Settings) -> Self {
        WebPushGateway {
            signer: VapidSigner::new(settings.key, settings.contact, Arc::clone(&settings.clock)),
            clock: settings.clock,
            client: settings.client,
            permits: Semaphore::new(settings.max_in_flight),
            request_timeout: settings.request_timeout,
        }
    }

    /// The VAPID public key, base64url: what `GET …/web-vapid-public-key` answers.
    pub fn vapid_public_key(&self) -> String {
        self.signer.key().public_key_base64url()
    }

    /// One recipient: checks, waits for a permit, then builds the request and exchanges it.
    async fn send_one(
        &self,
        recipient: &Recipient,
        message: &Result<WebMessage, String>,
    ) -> DeliveryOutcome {
        let PushToken::Web(subscription) = &recipient.token else {
            return DeliveryOutcome::Rejected {
                reason: format!("{} is not a Web Push subscription", recipient.device),
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
        match self.request(subscription, message) {
            Ok(request) => self.exchange(request).await,
            Err(refused) => refused,
        }
    }

    /// The POST for one subscription: the message encrypted for its browser and signed for its
    /// push service's origin, or the outcome that stops it before sending.
    fn request(
        &self,
        subscription: &WebSubscription,
        message: &WebMessage,
    ) -> Result<Request<Full<Bytes>>, DeliveryOutcome> {
        let body =
            encrypt(subscription, &message.plaintext).map_err(|err| DeliveryOutcome::Rejected {
                reason: err.to_string(),
            })?;
        let authorization = self
            .signer
            .authorization(subscription.endpoint_origin())
            .map_err(|err| DeliveryOutcome::ConfigFailure {
                reason: err.to_string(),
            })?;
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
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| DeliveryOutcome::Rejected {
                reason: format!("cannot build the request: {err}"),
            })
    }

    /// Sends `request` and classifies the answer. One deadline for the request and the error
    /// body: a push service that sends a head and then stalls must not hold the permit. What
    /// arrived before the deadline is kept, so a refusal whose body stalls is still classified
    /// by its status.
    async fn exchange(&self, request: Request<Full<Bytes>>) -> DeliveryOutcome {
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
            let Ok(Err(err)) = finished else {
                return DeliveryOutcome::RetryLater {
                    retry_after: None,
                    reason: "push service timed out".into(),
                };
            };
            // Not a push service's address: sending again would not change that.
            if let Some(refused) = NotPublic::in_chain(&err) {
                return DeliveryOutcome::Rejected {
                    reason: format!("refused: {refused}"),
                };
            }
            return DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: format!("push service unreachable: {err}"),
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

#[async_trait]
impl PushGateway for WebPushGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        // One payload: the message is built once for the whole batch.
        let message = web_message(&batch.payload);
        let span = tracing::debug_span!("web_push_batch", deliveries = batch.recipients.len());
        join_all(
            batch
                .recipients
                .iter()
                .map(|recipient| self.send_one(recipient, &message)),
        )
        .instrument(span)
        .await
    }

    fn check(&self, payload: &Payload) -> Result<(), String> {
        web_message(payload).map(drop)
    }
}
