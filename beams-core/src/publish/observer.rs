//! A hook that sees every delivery's outcome as it happens, for webhooks and metrics.

use std::fmt;

use crate::{DeliveryOutcome, DeviceId, Platform, PublishId, PublishReport, UserId};

/// One push-service answer during a publish.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeliveryEvent<'a> {
    /// The publish.
    pub publish_id: &'a PublishId,
    /// The user whose device it is, if it has one (a publish to interests also reaches devices
    /// without users).
    pub user: Option<&'a UserId>,
    /// The device.
    pub device: &'a DeviceId,
    /// The device's platform.
    pub platform: Platform,
    /// Which send this was (1 for the first).
    pub attempt: u32,
    /// What the push service answered.
    pub outcome: &'a DeliveryOutcome,
}

/// Receives a publish's events. Called on the publishing task: keep it quick (hand work to a
/// channel for anything slow). Both methods do nothing unless overridden.
pub trait PublishObserver: Send + Sync + fmt::Debug {
    /// A push service answered one delivery.
    fn delivery(&self, event: &DeliveryEvent<'_>) {
        let _ = event;
    }

    /// The publish finished.
    fn finished(&self, report: &PublishReport) {
        let _ = report;
    }
}
