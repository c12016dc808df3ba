//! What a publish did, per platform and (optionally) per device.

use crate::{DeviceId, PerPlatform, Platform, PublishId, PublishTarget};

/// The outcome of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReport {
    /// The publish's id, as answered to the publisher.
    pub publish_id: PublishId,
    /// How many distinct users were targeted (0 for a publish to interests).
    pub users: usize,
    /// How many distinct interests were targeted (0 for a publish to users).
    pub interests: usize,
    /// Users whose devices could not be looked up (the store failed); their devices got nothing.
    pub users_not_looked_up: usize,
    /// Store lookups that failed (for a publish to interests, the devices after the failed
    /// page got nothing).
    pub lookups_failed: usize,
    /// Devices found for the users, on every platform.
    pub devices_targeted: usize,
    /// Counts per platform.
    pub platforms: PerPlatform<PlatformReport>,
    /// Each device's result, when [`PublishConfig::with_device_reports`](crate::PublishConfig::with_device_reports) is on.
    pub devices: Vec<DeviceReport>,
}

impl PublishReport {
    pub(crate) fn new(publish_id: PublishId, target: &PublishTarget) -> Self {
        let (users, interests) = match target {
            PublishTarget::Users(users) => (users.len(), 0),
            PublishTarget::Interests(interests) => (0, interests.len()),
        };
        PublishReport {
            publish_id,
            users,
            interests,
            users_not_looked_up: 0,
            lookups_failed: 0,
            devices_targeted: 0,
            platforms: PerPlatform::default(),
            devices: Vec::new(),
        }
    }

    /// The counts for `platform`.
    pub fn platform(&self, platform: Platform) -> &PlatformReport {
        &self.platforms[platform]
    }

    pub(crate) fn platform_mut(&mut self, platform: Platform) -> &mut PlatformReport {
        &mut self.platforms[platform]
    }
}

/// What happened on one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlatformReport {
    /// Devices of the targeted users on this platform.
    pub targeted: usize,
    /// Accepted by the push service.
    pub delivered: usize,
    /// Token dead: the device was removed.
    pub invalidated: usize,
    /// Token dead, but the device was kept: re-registered since, or the breaker had tripped.
    pub dead_kept: usize,
    /// The push service refused the notification itself; the device was kept.
    pub rejected: usize,
    /// Not delivered: retries exhausted, deadline passed, or a credential/config failure.
    pub failed: usize,
    /// Not sent: no section for this platform in the request, or no gateway configured.
    pub skipped: usize,
    /// Re-sends made after "retry later" answers.
    pub retried: usize,
    /// Why the platform was skipped, if it was.
    pub skip_reason: Option<SkipReason>,
    /// The credential/config failure that stopped sending on this platform, if any.
    pub config_failure: Option<String>,
    /// Whether mass token invalidation tripped the breaker (a suspected configuration error).
    pub breaker_tripped: bool,
}

/// Why a platform received nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The request has no section for the platform.
    NoSection,
    /// No gateway is configured for the platform.
    NoGateway,
}

/// One device's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// The device.
    pub device: DeviceId,
    /// Its platform.
    pub platform: Platform,
    /// What happened.
    pub result: DeviceResult,
}

/// What happened to one device's notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceResult {
    /// Accepted by the push service.
    Delivered,
    /// Token dead; the device was removed.
    Invalidated,
    /// Token dead; the device was kept (re-registered since, or the breaker tripped).
    DeadKept,
    /// The push service refused the notification.
    Rejected(String),
    /// Not delivered, for the reason given.
    Failed(String),
    /// Not sent (no section or no gateway for its platform).
    Skipped,
}
