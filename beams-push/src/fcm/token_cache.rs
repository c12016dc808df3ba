//! One access token shared by every sender: cached, refreshed ahead of expiry by exactly one
//! task while the others keep using the still-valid token, and replaced once when FCM refuses it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use beams_core::{Clock, Timestamp};
use http::HeaderValue;

use super::access_token::{AccessToken, AccessTokenError, AccessTokenSource};

/// Refresh this long before expiry (at most half the token's lifetime).
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Stop using a token this long before expiry (at most a quarter of its lifetime), so it does
/// not expire on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How long a failed refresh is answered from memory rather than tried again.
const FAILURE_HOLD: Duration = Duration::from_secs(5);
/// The longest a token endpoint's `Retry-After` holds refreshes back.
const MAX_FAILURE_HOLD: Duration = Duration::from_secs(60);

/// A token ready for a request, and which one it is.
#[derive(Clone)]
pub(crate) struct Bearer {
    /// `Bearer …`. Not marked sensitive: HPACK then indexes it once per connection instead of
    /// resending the long token with every request (the one peer is FCM over TLS). `Debug`
    /// redacts it.
    pub(crate) header: HeaderValue,
    /// Tells this token from the ones before and after it.
    pub(crate) generation: u64,
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("header", &"Bearer <redacted>")
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Clone)]
struct Cached {
    bearer: Bearer,
    refresh_at: Timestamp,
    usable_until: Timestamp,
}

struct Failure {
    error: AccessTokenError,
    until: Timestamp,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    failure: Option<Failure>,
    generations: u64,
}

/// Counts of token fetches, for [`FcmStats`](super::FcmStats).
#[derive(Debug, Default)]
pub(crate) struct RefreshCounters {
    pub(crate) refreshes: AtomicU64,
    pub(crate) failures: AtomicU64,
}

/// The shared access token.
pub(crate) struct TokenCache {
    source: Arc<dyn AccessTokenSource>,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    // Held while fetching: at most one fetch at a time. A tokio mutex queues waiters fairly and
    // may be held across the fetch's awaits; `state` never is.
    refreshing: tokio::sync::Mutex<()>,
    pub(crate) counters: RefreshCounters,
}

impl TokenCache {
    pub(crate) fn new(source: Arc<dyn AccessTokenSource>, clock: Arc<dyn Clock>) -> Self {
        TokenCache {
            source,
            clock,
            state: RwLock::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
            counters: RefreshCounters::default(),
        }
    }

    /// A token to send with. Fetches one when there is none usable (waiting for a fetch in
    /// progress rather than starting another); near expiry, one caller refreshes while the
    /// others go on with the current token.
    pub(crate) async fn bearer(&self) -> Result<Bearer, AccessTokenError> {
        let now = self.clock.now();
        let (usable, due) = {
            let state = self.read();
            match &state.current {
                Some(c) if now < c.usable_until => {
                    let due = now >= c.refresh_at && !state.failure_holds(now);
                    (Some(c.bearer.clone()), due)
                }
                _ => (None, true),
            }
        };
        match usable {
            Some(bearer) if !due => Ok(bearer),
            Some(bearer) => Ok(self.refresh_ahead(bearer).await),
            None => self.refresh(None).await,
        }
    }

    /// A token other than `rejected`, which FCM refused: fetches one unless another caller
    /// already replaced it, so many refusals of one token cause one fetch.
    pub(crate) async fn replace(&self, rejected: u64) -> Result<Bearer, AccessTokenError> {
        self.refresh(Some(rejected)).await
    }

    async fn refresh_ahead(&self, current: Bearer) -> Bearer {
        // Whoever is refreshing already, the current token is still good: no waiting.
        let Ok(_guard) = self.refreshing.try_lock() else {
            return current;
        };
        if let Some(newer) = self.read().current.as_ref().map(|c| &c.bearer)
            && newer.generation != current.generation
        {
            return newer.clone();
        }
        match self.fetch().await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(%error, "refreshing the FCM access token ahead of expiry failed");
                current
            }
        }
    }

    async fn refresh(&self, rejected: Option<u64>) -> Result<Bearer, AccessTokenError> {
        let _guard = self.refreshing.lock().await;
        let now = self.clock.now();
        let held = {
            let state = self.read();
            if let Some(c) = &state.current
                && now < c.usable_until
                && Some(c.bearer.generation) != rejected
            {
                return Ok(c.bearer.clone());
            }
            state
                .failure
                .as_ref()
                .filter(|f| now < f.until)
                .map(|f| f.error.clone())
        };
        let result = match held {
            Some(error) => Err(error),
            None => self.fetch().await,
        };
        if result.is_err()
            && let Some(rejected) = rejected
        {
            // Never hand out a token FCM refused: the next caller waits for a fetch instead.
            let mut state = self.write();
            if state
                .current
                .as_ref()
                .is_some_and(|c| c.bearer.generation == rejected)
            {
                state.current = None;
            }
        }
        result
    }

    /// Fetches and stores a token; the caller holds `refreshing`.
    async fn fetch(&self) -> Result<Bearer, AccessTokenError> {
        let started = self.clock.now();
        let fetched = self
            .source
            .fetch()
            .await
            .and_then(|t| header_for(&t).map(|h| (t, h)));
        let mut state = self.write();
        match fetched {
            Ok((token, header)) => {
                self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
                state.generations += 1;
                let bearer = Bearer {
                    header,
                    generation: state.generations,
                };
                // Lifetimes count from before the request: never later than the real expiry.
                let lifetime = token.expires_in();
                let expires_at = started.saturating_add(lifetime);
                state.current = Some(Cached {
                    bearer: bearer.clone(),
                    refresh_at: expires_at.saturating_sub(REFRESH_AHEAD.min(lifetime / 2)),
                    usable_until: expires_at.saturating_sub(EXPIRY_MARGIN.min(lifetime / 4)),
                });
                state.failure = None;
                Ok(bearer)
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let hold = match &error {
                    AccessTokenError::Unavailable {
                        retry_after: Some(wait),
                        ..
                    } => (*wait).clamp(FAILURE_HOLD, MAX_FAILURE_HOLD),
                    _ => FAILURE_HOLD,
                };
                state.failure = Some(Failure {
                    error: error.clone(),
                    until: self.clock.now().saturating_add(hold),
                });
                Err(error)
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn failure_holds(&self, now: Timestamp) -> bool {
        self.failure.as_ref().is_some_and(|f| now < f.until)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn header_for(token: &AccessToken) -> Result<HeaderValue, AccessTokenError> {
    HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
        AccessTokenError::Refused {
            reason: "the access token cannot be sent in a header".to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use beams_core::{ManualClock, async_trait};

    use super::*;

    /// Hands out `t1`, `t2`, … living `lifetime`, or the scripted errors first.
    #[derive(Debug)]
    struct Counting {
        fetches: AtomicU64,
        lifetime: Duration,
        errors: Mutex<Vec<AccessTokenError>>,
    }

    #[async_trait]
    impl AccessTokenSource for Counting {
        async fn fetch(&self) -> Result<AccessToken, AccessTokenError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(error) = self.errors.lock().unwrap().pop() {
                return Err(error);
            }
            Ok(AccessToken::new(format!("t{n}"), self.lifetime))
        }
    }

    fn cache(lifetime: Duration) -> (Arc<Counting>, ManualClock, TokenCache) {
        let source = Arc::new(Counting {
            fetches: AtomicU64::new(0),
            lifetime,
            errors: Mutex::new(Vec::new()),
        });
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let cache = TokenCache::new(source.clone(), Arc::new(clock.clone()));
        (source, clock, cache)
    }

    fn value(bearer: &Bearer) -> &str {
        bearer.header.to_str().unwrap()
    }

    #[tokio::test]
    async fn a_token_is_fetched_once_and_reused_until_due() {
        let (source, clock, cache) = cache(Duration::from_secs(3600));
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t1");
        clock.advance(Duration::from_secs(3600 - 301));
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t1");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(2));
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t2");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_tokens_refresh_at_half_life() {
        let (source, clock, cache) = cache(Duration::from_secs(60));
        cache.bearer().await.unwrap();
        clock.advance(Duration::from_secs(29));
        cache.bearer().await.unwrap();
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(2));
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t2");
    }

    #[tokio::test]
    async fn replacing_a_refused_token_happens_once_per_token() {
        let (source, _clock, cache) = cache(Duration::from_secs(3600));
        let first = cache.bearer().await.unwrap();
        let second = cache.replace(first.generation).await.unwrap();
        let again = cache.replace(first.generation).await.unwrap();
        assert_eq!(value(&second), "Bearer t2");
        assert_eq!(again.generation, second.generation);
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_is_held_briefly_then_tried_again() {
        let (source, clock, cache) = cache(Duration::from_secs(3600));
        source
            .errors
            .lock()
            .unwrap()
            .push(AccessTokenError::Refused {
                reason: "invalid_grant".into(),
            });
        assert!(cache.bearer().await.is_err());
        assert!(cache.bearer().await.is_err());
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            1,
            "held, not retried"
        );
        clock.advance(FAILURE_HOLD);
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t2");
    }

    #[tokio::test]
    async fn a_failed_early_refresh_keeps_the_valid_token() {
        let (source, clock, cache) = cache(Duration::from_secs(3600));
        cache.bearer().await.unwrap();
        source
            .errors
            .lock()
            .unwrap()
            .push(AccessTokenError::Unavailable {
                reason: "503".into(),
                retry_after: None,
            });
        clock.advance(Duration::from_secs(3400));
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t1");
        assert_eq!(value(&cache.bearer().await.unwrap()), "Bearer t1");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            2,
            "one attempt, then held"
        );
    }

    #[tokio::test]
    async fn tokens_that_cannot_be_headers_are_refused() {
        let token = AccessToken::new("bad\ntoken", Duration::from_secs(60));
        assert!(matches!(
            header_for(&token),
            Err(AccessTokenError::Refused { .. })
        ));
    }
}
