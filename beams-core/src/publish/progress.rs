//! How far a publish got, as the journal keeps it: the cursor past the last page delivered,
//! the counts so far, and the retries waiting out a push service's `Retry-After`.

use serde::{Deserialize, Serialize};

use super::report::{PlatformReport, PublishReport};
use crate::{DeviceId, PerPlatform, Platform, UserId};

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Cursor {
    /// The users list from this index on.
    Users { next: usize },
    /// The interests' subscribers after this device id (`None`: from the first).
    Interests { after: Option<String> },
}

impl Cursor {
    pub(crate) fn after(&self) -> Option<DeviceId> {
        match self {
            Cursor::Interests { after: Some(id) } => DeviceId::parse(id).ok(),
            _ => None,
        }
    }
}

/// Recipients that a push service asked to wait for, due again at `not_before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingRetry {
    pub(crate) platform: Platform,
    /// Each recipient's device id and user.
    pub(crate) devices: Vec<(String, Option<UserId>)>,
    /// The attempt the re-send will be.
    pub(crate) attempt: u32,
    /// Unix milliseconds: not to be sent before.
    pub(crate) not_before: i64,
}

/// A publish's progress: everything before `cursor` has been sent (and counted in `counts`),
/// except the `retries`, which are due again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Progress {
    pub(crate) version: u32,
    pub(crate) cursor: Cursor,
    /// The number the next page takes.
    pub(crate) next_page: u64,
    pub(crate) counts: Counts,
    pub(crate) retries: Vec<PendingRetry>,
}

impl Progress {
    const VERSION: u32 = 1;

    pub(crate) fn new(
        cursor: Cursor,
        next_page: u64,
        counts: Counts,
        retries: Vec<PendingRetry>,
    ) -> Self {
        Progress {
            version: Self::VERSION,
            cursor,
            next_page,
            counts,
            retries,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The progress in `bytes`, or `None` when they are not progress this version wrote (the
    /// publish then starts over: at-least-once holds either way).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Progress>(bytes)
            .ok()
            .filter(|progress| progress.version == Self::VERSION)
    }
}

/// A report's counts, in the journal's JSON: what a checkpoint keeps and a finished publish's
/// report is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Counts {
    pub(crate) users_not_looked_up: usize,
    pub(crate) lookups_failed: usize,
    pub(crate) devices_targeted: usize,
    pub(crate) platforms: Vec<PlatformCounts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlatformCounts {
    pub(crate) platform: Option<Platform>,
    pub(crate) targeted: usize,
    pub(crate) delivered: usize,
    pub(crate) invalidated: usize,
    pub(crate) dead_kept: usize,
    pub(crate) rejected: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) retried: usize,
    pub(crate) config_failure: Option<String>,
    pub(crate) breaker_tripped: bool,
}

impl Counts {
    pub(crate) fn of(report: &PublishReport) -> Self {
        Counts {
            users_not_looked_up: report.users_not_looked_up,
            lookups_failed: report.lookups_failed,
            devices_targeted: report.devices_targeted,
            platforms: Platform::ALL
                .into_iter()
                .map(|platform| {
                    let r = report.platform(platform);
                    PlatformCounts {
                        platform: Some(platform),
                        targeted: r.targeted,
                        delivered: r.delivered,
                        invalidated: r.invalidated,
                        dead_kept: r.dead_kept,
                        rejected: r.rejected,
                        failed: r.failed,
                        skipped: r.skipped,
                        retried: r.retried,
                        config_failure: r.config_failure.clone(),
                        breaker_tripped: r.breaker_tripped,
                    }
                })
                .collect(),
        }
    }

    /// Adds these counts into `report` (whose skip reasons stay its own).
    pub(crate) fn add_to(&self, report: &mut PublishReport) {
        report.users_not_looked_up += self.users_not_looked_up;
        report.lookups_failed += self.lookups_failed;
        report.devices_targeted += self.devices_targeted;
        for counts in &self.platforms {
            let Some(platform) = counts.platform else {
                continue;
            };
            let r = report.platform_mut(platform);
            r.targeted += counts.targeted;
            r.delivered += counts.delivered;
            r.invalidated += counts.invalidated;
            r.dead_kept += counts.dead_kept;
            r.rejected += counts.rejected;
            r.failed += counts.failed;
            r.skipped += counts.skipped;
            r.retried += counts.retried;
            if r.config_failure.is_none() {
                r.config_failure.clone_from(&counts.config_failure);
            }
            r.breaker_tripped |= counts.breaker_tripped;
        }
    }
}

/// Adds `delta`'s counts and device results into `total`.
pub(crate) fn absorb(total: &mut PublishReport, delta: PublishReport) {
    Counts::of(&delta).add_to(total);
    total.devices.extend(delta.devices);
}

/// A report of the same publish with nothing counted yet, for a page's own tally.
pub(crate) fn empty_like(report: &PublishReport) -> PublishReport {
    PublishReport {
        publish_id: report.publish_id.clone(),
        users: report.users,
        interests: report.interests,
        users_not_looked_up: 0,
        lookups_failed: 0,
        devices_targeted: 0,
        platforms: PerPlatform::<PlatformReport>::default(),
        devices: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_refuses_what_it_did_not_write() {
        let progress = Progress::new(
            Cursor::Interests {
                after: Some("fcm-00000000-0000-4000-8000-000000000001".into()),
            },
            3,
            Counts::default(),
            vec![PendingRetry {
                platform: Platform::Web,
                devices: vec![("web-x".into(), Some(UserId::new("alice").unwrap()))],
                attempt: 2,
                not_before: 1_000,
            }],
        );
        assert_eq!(Progress::decode(&progress.encode()), Some(progress));
        assert_eq!(Progress::decode(b"not json"), None);
        assert_eq!(Progress::decode(br#"{"version": 99}"#), None);
    }
}
