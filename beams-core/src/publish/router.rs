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
        let mut outcomes: Vec<Option<DeliveryOutcome>> = vec![None; deliveries.len()];
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
                outcomes[i] =
                    Some(
                        answers
                            .next()
                            .unwrap_or_else(|| DeliveryOutcome::ConfigFailure {
                                reason: format!("no answer from a gateway for {platform}"),
                            }),
                    );
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(DeliveryOutcome::ConfigFailure {
                    reason: "no gateway".into(),
                })
            })
            .collect()
    }
}
