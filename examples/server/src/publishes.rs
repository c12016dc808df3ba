//! Publishes delivering in the background, tracked so shutdown can wait for them.

use std::time::Duration;

use beams_core::{Publication, PublishId, PublishReport};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// The publishes this server accepted and is still delivering.
///
/// A publish is answered with its id at once and delivered on its own task; shutdown calls
/// [`drain`](Self::drain) so that accepted notifications are not lost when the process stops.
#[derive(Debug, Clone, Default)]
pub struct Publishes {
    tracker: TaskTracker,
}

impl Publishes {
    /// No publish in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts delivering `publication` in the background; returns its id.
    pub fn start(&self, publication: Publication) -> PublishId {
        let id = publication.id().clone();
        self.tracker
            .spawn(async move { log_outcome(&publication.deliver().await) });
        id
    }

    /// How many publishes are still delivering.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Stops counting on new publishes finishing soon and waits until every started one has
    /// finished or `deadline` passes. Returns whether all finished. Publishes still running at
    /// the deadline are abandoned when the runtime stops.
    pub async fn drain(&self, deadline: Instant) -> bool {
        self.tracker.close();
        tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok()
    }

    /// [`drain`](Self::drain) with a deadline `within` from now.
    pub async fn drain_within(&self, within: Duration) -> bool {
        self.drain(Instant::now() + within).await
    }
}

/// One line per publish: how many devices got it and how many did not.
fn log_outcome(report: &PublishReport) {
    let (mut delivered, mut failed, mut rejected, mut invalidated, mut skipped) = (0, 0, 0, 0, 0);
    for (_, platform) in report.platforms.iter() {
        delivered += platform.delivered;
        failed += platform.failed;
        rejected += platform.rejected;
        invalidated += platform.invalidated;
        skipped += platform.skipped;
    }
    let not_looked_up = report.users_not_looked_up + report.lookups_failed;
    if failed + rejected + not_looked_up > 0 {
        tracing::warn!(
            publish_id = %report.publish_id,
            delivered, failed, rejected, invalidated, skipped, not_looked_up,
            "publish partly undelivered"
        );
    } else {
        tracing::info!(
            publish_id = %report.publish_id,
            delivered, invalidated, skipped,
            "publish delivered"
        );
    }
}
