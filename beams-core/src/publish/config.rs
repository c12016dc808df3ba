//! How a publish fans out, retries and gives up.

use std::num::NonZeroUsize;
use std::time::Duration;

/// Settings for publishing; the defaults suit a production server.
///
/// ```
/// use std::time::Duration;
/// use beams_core::{PublishConfig, RetryPolicy};
///
/// let config = PublishConfig::default()
///     .with_retry(RetryPolicy::default().with_max_attempts(3))
///     .with_deadline(Duration::from_secs(60))
///     .with_device_reports(true);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PublishConfig {
    pub(crate) lookup_batch: NonZeroUsize,
    pub(crate) delivery_batch: NonZeroUsize,
    pub(crate) max_in_flight: NonZeroUsize,
    pub(crate) retry: RetryPolicy,
    pub(crate) deadline: Duration,
    pub(crate) breaker: BreakerPolicy,
    pub(crate) device_reports: bool,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            lookup_batch: nonzero(100),
            delivery_batch: nonzero(100),
            max_in_flight: nonzero(16),
            retry: RetryPolicy::default(),
            deadline: Duration::from_secs(15 * 60),
            breaker: BreakerPolicy::default(),
            device_reports: false,
        }
    }
}

impl PublishConfig {
    /// Users looked up in one store call (default 100).
    pub fn with_lookup_batch(mut self, users: NonZeroUsize) -> Self {
        self.lookup_batch = users;
        self
    }

    /// Deliveries handed to a gateway in one call (default 100).
    pub fn with_delivery_batch(mut self, deliveries: NonZeroUsize) -> Self {
        self.delivery_batch = deliveries;
        self
    }

    /// Gateway calls in flight at once for one publish (default 16). Memory stays bounded by
    /// this times the delivery batch, whatever the number of devices.
    pub fn with_max_in_flight(mut self, calls: NonZeroUsize) -> Self {
        self.max_in_flight = calls;
        self
    }

    /// How retries back off and when they stop.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long a publish may keep retrying in all (default 15 minutes).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// When mass token invalidation is taken for a configuration error.
    pub fn with_breaker(mut self, breaker: BreakerPolicy) -> Self {
        self.breaker = breaker;
        self
    }

    /// Whether the report lists every device's result (default off: counts only).
    pub fn with_device_reports(mut self, on: bool) -> Self {
        self.device_reports = on;
        self
    }
}

fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// Exponential backoff with jitter for deliveries a push service asked to retry.
///
/// The n-th retry waits a random time between half and all of
/// `min(initial_backoff × 2ⁿ⁻¹, max_backoff)`, so delays grow while retries from many
/// publishes spread out, and never less than the push service's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Sends per delivery, the first included (default 5; 1 never retries).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The ceiling of the first retry's delay (default 500 ms).
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest ceiling any retry's delay grows to (default 60 s).
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The delay before retry number `retry` (1 for the first), given the push service's
    /// `Retry-After` and `random` in `[0, 1)`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let half = ceiling / 2;
        let jittered = half + half.mul_f64(random.clamp(0.0, 1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// Within one publish and one gateway, when more than `share` of at least `min_deliveries`
/// verdicts say "token dead", stop deleting devices and report a suspected configuration
/// error: a sandbox/production mix-up makes every APNs token look dead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    pub(crate) share: f64,
    pub(crate) min_deliveries: usize,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            share: 0.5,
            min_deliveries: 20,
        }
    }
}

impl BreakerPolicy {
    /// Trips above `share` (0 to 1) dead verdicts out of at least `min_deliveries`.
    pub fn new(share: f64, min_deliveries: usize) -> Self {
        BreakerPolicy {
            share: share.clamp(0.0, 1.0),
            min_deliveries: min_deliveries.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_jitter_and_cap() {
        let policy = RetryPolicy::default();
        let ms = |retry, random| policy.delay(retry, None, random).as_millis();
        assert_eq!((ms(1, 0.0), ms(1, 0.999)), (250, 499));
        assert_eq!((ms(2, 0.0), ms(3, 0.0)), (500, 1000));
        // Ranges touch, so a later retry never waits less than an earlier one's least.
        assert!(ms(2, 0.0) >= ms(1, 0.999));
        assert_eq!(ms(40, 1.0), 60_000, "capped at the maximum");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        let wait = policy.delay(1, Some(Duration::from_secs(30)), 0.5);
        assert_eq!(wait, Duration::from_secs(30));
    }
}
