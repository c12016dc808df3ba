//! Counters per outcome class, kept for the gateway's lifetime.

use std::sync::atomic::{AtomicU64, Ordering};

use beams_core::DeliveryOutcome;

use super::token_cache::RefreshCounters;

/// What an [`FcmGateway`](super::FcmGateway) has done since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FcmStats {
    /// Messages FCM accepted.
    pub delivered: u64,
    /// Deliveries whose token FCM said is dead.
    pub token_dead: u64,
    /// Deliveries to try again later.
    pub retry_later: u64,
    /// Deliveries refused for their payload (by FCM or before sending).
    pub rejected: u64,
    /// Deliveries that failed on credentials or configuration.
    pub config_failure: u64,
    /// Access tokens fetched.
    pub token_refreshes: u64,
    /// Access-token fetches that failed.
    pub token_refresh_failures: u64,
}

#[derive(Debug, Default)]
pub(crate) struct OutcomeCounters {
    delivered: AtomicU64,
    token_dead: AtomicU64,
    retry_later: AtomicU64,
    rejected: AtomicU64,
    config_failure: AtomicU64,
}

impl OutcomeCounters {
    pub(crate) fn record(&self, outcomes: &FcmStats) {
        let add = |counter: &AtomicU64, n: u64| {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.delivered, outcomes.delivered);
        add(&self.token_dead, outcomes.token_dead);
        add(&self.retry_later, outcomes.retry_later);
        add(&self.rejected, outcomes.rejected);
        add(&self.config_failure, outcomes.config_failure);
    }

    pub(crate) fn snapshot(&self, refreshes: &RefreshCounters) -> FcmStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FcmStats {
            delivered: get(&self.delivered),
            token_dead: get(&self.token_dead),
            retry_later: get(&self.retry_later),
            rejected: get(&self.rejected),
            config_failure: get(&self.config_failure),
            token_refreshes: get(&refreshes.refreshes),
            token_refresh_failures: get(&refreshes.failures),
        }
    }
}

impl FcmStats {
    /// The counts of one batch's outcomes.
    pub(crate) fn of_batch(outcomes: &[DeliveryOutcome]) -> Self {
        let mut stats = FcmStats::default();
        for outcome in outcomes {
            let counter = match outcome {
                DeliveryOutcome::Delivered => &mut stats.delivered,
                DeliveryOutcome::TokenDead { .. } => &mut stats.token_dead,
                DeliveryOutcome::RetryLater { .. } => &mut stats.retry_later,
                DeliveryOutcome::Rejected { .. } => &mut stats.rejected,
                DeliveryOutcome::ConfigFailure { .. } => &mut stats.config_failure,
                // A class added to core later: the gateway never makes one.
                _ => continue,
            };
            *counter += 1;
        }
        stats
    }
}
