//! `Gateways`: the push gateway of each platform a publish can reach.

use std::sync::Arc;

use crate::{PerPlatform, Platform, PushGateway};

/// The gateway of each platform. A publish builds one batch per platform and page, and hands
/// it to that platform's gateway; a platform with none is skipped (and counted).
///
/// ```
/// use std::sync::Arc;
/// use beams_core::{FakePushGateway, Gateways, Platform};
///
/// let gateways = Gateways::new().with(Platform::Web, Arc::new(FakePushGateway::new()));
/// assert!(gateways.get(Platform::Web).is_some());
/// assert!(gateways.get(Platform::Apns).is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gateways {
    by_platform: PerPlatform<Option<Arc<dyn PushGateway>>>,
}

impl Gateways {
    /// No gateway for any platform.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `platform`'s batches through `gateway` (replacing any before).
    pub fn with(mut self, platform: Platform, gateway: Arc<dyn PushGateway>) -> Self {
        self.by_platform[platform] = Some(gateway);
        self
    }

    /// The gateway for `platform`, if one is configured.
    pub fn get(&self, platform: Platform) -> Option<&Arc<dyn PushGateway>> {
        self.by_platform[platform].as_ref()
    }

    /// The platforms that have a gateway, in [`Platform::ALL`] order.
    pub fn platforms(&self) -> impl Iterator<Item = Platform> + '_ {
        self.by_platform
            .iter()
            .filter_map(|(platform, gateway)| gateway.as_ref().map(|_| platform))
    }
}
