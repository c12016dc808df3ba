//! The `PushGateway` trait: hands a batch of notifications to a push service and classifies
//! its answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Device, DeviceId, InstanceId, Platform, PublishId, PushToken, Timestamp};

/// A notification ready for one platform, built once per publish and shared by its batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The publish this payload belongs to.
    pub publish_id: PublishId,
    /// The instance publishing (the Web Push payload carries it for the official service worker).
    pub instance: InstanceId,
    /// The platform the payload is for: every recipient of a batch is on it.
    pub platform: Platform,
    /// The platform's section of the publish request (`apns`, `fcm` or `web`), as JSON, with
    /// the `pusher` data the client SDKs read already in its `data`: build it with
    /// [`Payload::for_publish`].
    pub body: serde_json::Value,
}

/// One device a batch goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    /// The device.
    pub device: DeviceId,
    /// Where its push service reaches it.
    pub token: PushToken,
}

impl Recipient {
    /// The recipient that is `device`.
    pub fn of(device: &Device) -> Self {
        Recipient {
            device: device.id.clone(),
            token: device.token.clone(),
        }
    }
}

/// One payload to many devices of its platform: what a [`PushGateway`] sends at once.
///
/// ```
/// use std::sync::Arc;
/// use beams_core::{Batch, InstanceId, Payload, Platform, PublishId};
///
/// let payload = Payload {
///     publish_id: PublishId::generate(),
///     instance: InstanceId::new("my-instance")?,
///     platform: Platform::Web,
///     body: serde_json::json!({"notification": {"title": "Hi"}}),
/// };
/// let batch = Batch::new(Arc::new(payload));
/// assert!(batch.recipients.is_empty());
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    /// What to send, the same to every recipient.
    pub payload: Arc<Payload>,
    /// Where to send it, in the order the outcomes come back.
    pub recipients: Vec<Recipient>,
}

impl Batch {
    /// A batch of `payload` with no recipient yet.
    pub fn new(payload: Arc<Payload>) -> Self {
        Batch {
            payload,
            recipients: Vec::new(),
        }
    }

    /// The platform of the payload, and of every recipient.
    pub fn platform(&self) -> Platform {
        self.payload.platform
    }
}

/// How a push service answered one delivery, classified for what the engine must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// Accepted by the push service.
    Delivered,
    /// The push service says the token will never work again: remove the device, unless it
    /// registered its token again after `dead_since` (or after the send, when not given).
    TokenDead {
        /// When the push service last knew the token invalid, if it says (APNs does).
        dead_since: Option<Timestamp>,
        /// The push service's reason.
        reason: String,
    },
    /// A transient failure (throttling, outage, connection loss): send again later.
    RetryLater {
        /// How long the push service asked to wait, if it said.
        retry_after: Option<Duration>,
        /// The push service's reason.
        reason: String,
    },
    /// The notification itself is unacceptable (too large, malformed): keep the device, report it.
    Rejected {
        /// The push service's reason.
        reason: String,
    },
    /// The credential or configuration is wrong (bad key, wrong environment, forbidden topic):
    /// stop using it and keep every device.
    ConfigFailure {
        /// The push service's reason.
        reason: String,
    },
}

/// Sends notifications through one push service (APNs, FCM, Web Push).
///
/// # Contract
///
/// - [`send`](Self::send) returns exactly one outcome per recipient of the batch, in the same
///   order.
/// - It never panics and never returns early: a failure that hits the whole batch (connection
///   refused, credential rejected, a payload the service would refuse) is reported as that
///   outcome for every recipient.
/// - It classifies, and does nothing else: retries, backoff and removing devices belong to the
///   engine.
/// - A recipient whose token is of another platform than the gateway's is `Rejected`.
/// - [`check`](Self::check) refuses exactly the payloads that `send` would report `Rejected`
///   for every recipient because of the payload itself (a field the push service does not
///   know, a value of the wrong type, a payload over its size limit), and sends nothing. The
///   engine calls it when a publish is accepted, so such a publish is refused at once instead
///   of dropped device by device.
#[async_trait]
pub trait PushGateway: Send + Sync + fmt::Debug {
    /// Sends `batch.payload` to every recipient of `batch` and classifies each answer.
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome>;

    /// Checks, without sending, that the push service would take `payload`; the error names
    /// the field (`fcm.data.count`, `apns.collapse_id`, …) and the rule it breaks. The default
    /// accepts everything.
    fn check(&self, payload: &Payload) -> Result<(), String> {
        let _ = payload;
        Ok(())
    }
}

#[async_trait]
impl<T: PushGateway + ?Sized> PushGateway for Arc<T> {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        (**self).send(batch).await
    }

    fn check(&self, payload: &Payload) -> Result<(), String> {
        (**self).check(payload)
    }
}

#[async_trait]
impl<T: PushGateway + ?Sized> PushGateway for Box<T> {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        (**self).send(batch).await
    }

    fn check(&self, payload: &Payload) -> Result<(), String> {
        (**self).check(payload)
    }
}
