//! `GatewayRouter`: one gateway per platform, itself a `PushGateway`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Delivery, DeliveryOutcome, Platform, PushGateway};

/// Holds the gateway of each platform and dispatches deliveries to it by their token's
/// platform. A delivery for a platform with no gateway is answered `ConfigFailure`.
///
/// ```
/// use std::sync::Arc;
/// use beams_core::{FakePushGateway, GatewayRouter, Platform};
///
/// let router = GatewayRouter::new().with(Platform::Web, Arc::new(FakePushGateway::new()));
/// assert!(router.gateway(Platform::Web).is_some());
/// assert!(router.gateway(Platform::Apns).is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct GatewayRouter {
    gateways: [Option<Arc<dyn PushGateway>>; 3],
}

impl GatewayRouter {
    /// A router with no gateway.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `platform`'s deliveries to `gateway` (replacing any before).
    pub fn with(mut self, platform: Platform, gateway: Arc<dyn PushGateway>) -> Self {
        self.gateways[platform.index()] = Some(gateway);
        self
    }

    /// The gateway for `platform`, if one is configured.
    pub fn gateway(&self, platform: Platform) -> Option<&Arc<dyn PushGateway>> {
        self.gateways[platform.index()].as_ref()
    }
}

#[async_trait]
impl PushGateway for GatewayRouter {
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome> {
        let no_gateway = |platform: Platform| DeliveryOutcome::ConfigFailure {
            reason: format!("no gateway for {platform}"),
        };
        // A batch of one platform, the usual case, passes through without copies.
        if let Some(first) = deliveries.first() {
            let platform = first.token.platform();
            if deliveries.iter().all(|d| d.token.platform() == platform) {
                return match self.gateway(platform) {
                    Some(gateway) => gateway.send(deliveries).await,
                    None => vec![no_gateway(platform); deliveries.len()],
                };
            }
        }
        let mut outcomes = vec![DeliveryOutcome::Delivered; deliveries.len()];
        for platform in Platform::ALL {
            let indices: Vec<usize> = (0..deliveries.len())
                .filter(|&i| deliveries[i].token.platform() == platform)
                .collect();
            if indices.is_empty() {
                continue;
            }
            let answers = match self.gateway(platform) {
                Some(gateway) => {
                    let batch: Vec<Delivery> =
                        indices.iter().map(|&i| deliveries[i].clone()).collect();
                    gateway.send(&batch).await
                }
                None => Vec::new(),
            };
            let mut answers = answers.into_iter();
            for i in indices {
                // A gateway that breaks its contract (too few answers) reads as missing.
                outcomes[i] = answers.next().unwrap_or_else(|| no_gateway(platform));
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixtures::push_token;
    use crate::{DeviceId, FakePushGateway, InstanceId, Payload, PublishId};

    fn delivery(platform: Platform, n: u64) -> Delivery {
        Delivery {
            device: DeviceId::generate(platform),
            token: push_token(platform, n),
            payload: Arc::new(Payload {
                publish_id: PublishId::generate(),
                instance: InstanceId::new("i").unwrap(),
                body: serde_json::json!({}),
            }),
        }
    }

    #[tokio::test]
    async fn mixed_batches_are_split_by_platform_and_answered_in_order() {
        let fcm = FakePushGateway::new();
        let web = FakePushGateway::new();
        let dead = DeliveryOutcome::TokenDead {
            dead_since: None,
            reason: "gone".into(),
        };
        web.answer_by_default(dead.clone());
        let router = GatewayRouter::new()
            .with(Platform::Fcm, Arc::new(fcm.clone()))
            .with(Platform::Web, Arc::new(web.clone()));
        let batch = [
            delivery(Platform::Web, 1),
            delivery(Platform::Fcm, 2),
            delivery(Platform::Apns, 3),
            delivery(Platform::Fcm, 4),
        ];
        let outcomes = router.send(&batch).await;
        assert_eq!(outcomes[0], dead);
        assert_eq!(outcomes[1], DeliveryOutcome::Delivered);
        assert!(
            matches!(&outcomes[2], DeliveryOutcome::ConfigFailure { reason } if reason == "no gateway for apns")
        );
        assert_eq!(outcomes[3], DeliveryOutcome::Delivered);
        assert_eq!(fcm.calls().len(), 1);
        assert_eq!(fcm.sent().len(), 2);
        assert_eq!(web.sent().len(), 1);

        let single = router.send(&batch[1..2]).await;
        assert_eq!(single, vec![DeliveryOutcome::Delivered]);
        let missing = router.send(&batch[2..3]).await;
        assert!(matches!(&missing[0], DeliveryOutcome::ConfigFailure { .. }));
    }
}
