//! Per-client rate limits on the open device API: a token bucket per client address, in a map
//! whose size is bounded whatever the number of addresses calling.
//!
//! A client is an IPv4 address or an IPv6 /64 (one subscriber's network, where a single host
//! can pick any of 2^64 addresses). Many real users can share one address behind carrier NAT,
//! so the defaults are far above what one app install does (the iOS SDK registers once per
//! launch, the Android SDK once per install).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients remembered at most per limit (a few MiB). Past it, buckets that have refilled are
/// forgotten (they hold nothing a new bucket would not); if that is not enough, all are.
const MAX_CLIENTS: usize = 65_536;

/// One limit: `per_minute` requests per client, in bursts of up to `per_minute`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    clients: Mutex<HashMap<ClientKey, Bucket>>,
    max_clients: usize,
}

/// The part of an address that names one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
}

impl ClientKey {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limit of `per_minute` requests per client; `None` for 0 (no limit).
    pub(crate) fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then(|| RateLimiter {
            per_minute,
            clients: Mutex::new(HashMap::new()),
            max_clients: MAX_CLIENTS,
        })
    }

    /// The configured requests per minute.
    pub(crate) fn limit(&self) -> u32 {
        self.per_minute
    }

    /// Takes one request from `client`'s bucket at `now`, or answers how long until one is
    /// there.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let key = ClientKey::of(client);
        // A poisoned lock only means another request panicked mid-update; the buckets are
        // still plain numbers.
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !clients.contains_key(&key) && clients.len() >= self.max_clients {
            forget_idle(&mut clients, now, capacity, per_second, self.max_clients);
        }
        let bucket = clients.entry(key).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = refilled(bucket, now, capacity, per_second);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

fn refilled(bucket: &Bucket, now: Instant, capacity: f64, per_second: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(capacity)
}

/// Drops the buckets that have refilled; if fewer than half go, drops all, so that a flood of
/// new addresses costs one sweep per `max_clients / 2` of them, not one per request.
fn forget_idle(
    clients: &mut HashMap<ClientKey, Bucket>,
    now: Instant,
    capacity: f64,
    per_second: f64,
    max_clients: usize,
) {
    clients.retain(|_, bucket| refilled(bucket, now, capacity, per_second) < capacity);
    if clients.len() > max_clients / 2 {
        tracing::warn!(
            clients = clients.len(),
            "more clients near their rate limit than can be remembered; forgetting them all"
        );
        clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::per_minute(60).unwrap();
        let start = Instant::now();
        for _ in 0..60 {
            limiter.take(ip("203.0.113.9"), start).unwrap();
        }
        let wait = limiter.take(ip("203.0.113.9"), start).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another client is not held back, and the first has one request a second later.
        limiter.take(ip("203.0.113.10"), start).unwrap();
        limiter
            .take(ip("203.0.113.9"), start + Duration::from_secs(1))
            .unwrap();
        assert!(
            limiter
                .take(ip("203.0.113.9"), start + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn an_ipv6_network_is_one_client_and_a_mapped_address_is_its_ipv4_address() {
        let limiter = RateLimiter::per_minute(2).unwrap();
        let now = Instant::now();
        limiter.take(ip("2001:db8:1:2::1"), now).unwrap();
        limiter.take(ip("2001:db8:1:2:ffff::9"), now).unwrap();
        assert!(limiter.take(ip("2001:db8:1:2::77"), now).is_err());
        limiter.take(ip("2001:db8:1:3::1"), now).unwrap();

        limiter.take(ip("198.51.100.1"), now).unwrap();
        limiter.take(ip("::ffff:198.51.100.1"), now).unwrap();
        assert!(limiter.take(ip("198.51.100.1"), now).is_err());
    }

    #[test]
    fn zero_is_no_limit() {
        assert!(RateLimiter::per_minute(0).is_none());
    }

    #[test]
    fn the_clients_remembered_stay_bounded_under_a_flood_of_addresses() {
        let mut limiter = RateLimiter::per_minute(10).unwrap();
        limiter.max_clients = 100;
        let now = Instant::now();
        for n in 0..10_000_u32 {
            let client = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            limiter.take(client, now).unwrap();
            assert!(limiter.clients.lock().unwrap().len() <= 100);
        }
        // Clients that refilled are forgotten first; one still held back is remembered, so
        // a flood of new addresses does not reset its limit.
        let limiter = RateLimiter {
            max_clients: 4,
            ..RateLimiter::per_minute(10).unwrap()
        };
        let busy = ip("192.0.2.1");
        for _ in 0..10 {
            limiter.take(busy, now).unwrap();
        }
        for n in 2..=4 {
            limiter.take(ip(&format!("192.0.2.{n}")), now).unwrap();
        }
        // Seven seconds later the three others are full again; the busy one has one request.
        let later = now + Duration::from_secs(7);
        limiter.take(ip("192.0.2.5"), later).unwrap();
        assert_eq!(limiter.clients.lock().unwrap().len(), 2);
        limiter.take(busy, later).unwrap();
        assert!(
            limiter.take(busy, later).is_err(),
            "the busy client kept its count"
        );
    }
}
