//! The `PushGateway` trait: hands notifications to a push service and classifies its answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::{Device, DeviceId, InstanceId, PushToken, Timestamp};

/// The id of one publish, `pubid-` and a random UUID, as Beams answers a publish request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishId(String);

impl PublishId {
    /// A new, random publish id.
    pub fn generate() -> Self {
        PublishId(format!("pubid-{}", Uuid::new_v4().hyphenated()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A notification ready for one platform, built once per publish and shared by its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The publish this payload belongs to.
    pub publish_id: PublishId,
    /// The instance publishing (the Web Push payload carries it for the official service worker).
    pub instance: InstanceId,
    /// The platform's section of the publish request (`apns`, `fcm` or `web`), as JSON.
    pub body: serde_json::Value,
}

/// One notification to one device.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The device it is for.
    pub device: DeviceId,
    /// Where to send it.
    pub token: PushToken,
    /// What to send.
    pub payload: Arc<Payload>,
}

impl Delivery {
    /// A delivery of `payload` to `device`.
    pub fn new(device: &Device, payload: Arc<Payload>) -> Self {
        Delivery {
            device: device.id.clone(),
            token: device.token.clone(),
            payload,
        }
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

/// Sends notifications through one push service (APNs, FCM, Web Push) or a router over several.
///
/// # Contract
///
/// - [`send`](Self::send) returns exactly one outcome per delivery, in the same order.
/// - It never panics and never returns early: a failure that hits the whole batch (connection
///   refused, credential rejected) is reported as that outcome for every delivery.
/// - It classifies, and does nothing else: retries, backoff and removing devices belong to the
///   engine.
#[async_trait]
pub trait PushGateway: Send + Sync + fmt::Debug {
    /// Sends `deliveries` and classifies each answer.
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome>;
}

#[async_trait]
impl<T: PushGateway + ?Sized> PushGateway for Arc<T> {
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome> {
        (**self).send(deliveries).await
    }
}

#[async_trait]
impl<T: PushGateway + ?Sized> PushGateway for Box<T> {
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome> {
        (**self).send(deliveries).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_ids_have_the_beams_shape() {
        let id = PublishId::generate();
        assert!(id.as_str().starts_with("pubid-"));
        assert_eq!(id.as_str().len(), "pubid-".len() + 36);
        assert_ne!(id, PublishId::generate());
    }
}
