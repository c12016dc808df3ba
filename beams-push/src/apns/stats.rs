//! Counters of what the APNs gateway did, per outcome class.

use std::sync::atomic::{AtomicU64, Ordering};

use beams_core::DeliveryOutcome;

/// What an [`ApnsGateway`](super::ApnsGateway) did since it was built: a snapshot from
/// [`ApnsGateway::stats`](super::ApnsGateway::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApnsStats {
    /// Deliveries APNs accepted.
    pub delivered: u64,
    /// Deliveries whose token APNs called dead.
    pub token_dead: u64,
    /// Deliveries refused as bad requests, by APNs or before sending (too large).
    pub rejected: u64,
    /// Deliveries that met a credential or configuration failure.
    pub config_failures: u64,
    /// Deliveries to be retried later (throttling, outage, connection loss).
    pub retry_later: u64,
    /// Requests sent again because a connection closed before processing them.
    pub resent: u64,
    /// Provider tokens signed.
    pub provider_tokens_signed: u64,
    /// HTTP/2 connections opened.
    pub connections_opened: u64,
}

/// The live counters behind [`ApnsStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    token_dead: AtomicU64,
    rejected: AtomicU64,
    config_failures: AtomicU64,
    retry_later: AtomicU64,
    resent: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, outcome: &DeliveryOutcome) {
        let counter = match outcome {
            DeliveryOutcome::Delivered => &self.delivered,
            DeliveryOutcome::TokenDead { .. } => &self.token_dead,
            DeliveryOutcome::Rejected { .. } => &self.rejected,
            DeliveryOutcome::ConfigFailure { .. } => &self.config_failures,
            _ => &self.retry_later,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn resent(&self) {
        self.resent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        provider_tokens_signed: u64,
        connections_opened: u64,
    ) -> ApnsStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ApnsStats {
            delivered: load(&self.delivered),
            token_dead: load(&self.token_dead),
            rejected: load(&self.rejected),
            config_failures: load(&self.config_failures),
            retry_later: load(&self.retry_later),
            resent: load(&self.resent),
            provider_tokens_signed,
            connections_opened,
        }
    }
}
