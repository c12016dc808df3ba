//! The provider token: one ES256 JWT shared by every connection, re-signed at ~50 minutes and
//! never more often than every 20 (APNs answers `429 TooManyProviderTokenUpdates` to faster
//! changes and `403 ExpiredProviderToken` to tokens older than an hour).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use beams_core::{Clock, Timestamp};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::ConfigError;

/// A token this old is replaced before use.
pub(crate) const REFRESH_AFTER: Duration = Duration::from_secs(50 * 60);
/// A token is never replaced before it is this old.
pub(crate) const MIN_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Signs provider tokens with the `.p8` key. Its `Debug` output never shows the key.
pub(crate) struct Signer {
    key: EncodingKey,
    header: Header,
    team_id: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key", &"[redacted]")
            .field("key_id", &self.header.kid)
            .field("team_id", &self.team_id)
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

impl Signer {
    /// Parses the key and proves it can sign ES256.
    pub(crate) fn new(key_pem: &str, key_id: &str, team_id: String) -> Result<Self, ConfigError> {
        let invalid_key = || {
            ConfigError::invalid(
                "key",
                "must be a PEM-encoded PKCS#8 P-256 private key (an App Store Connect .p8 file)",
            )
        };
        let key = EncodingKey::from_ec_pem(key_pem.as_bytes()).map_err(|_| invalid_key())?;
        let mut header = Header::new(Algorithm::ES256);
        // Apple's documented header is exactly {"alg", "kid"}.
        header.typ = None;
        header.kid = Some(key_id.to_owned());
        let signer = Signer {
            key,
            header,
            team_id,
        };
        // A P-384 or RSA key parses as PEM but cannot sign ES256: find out now, not at send.
        signer.sign(0).map_err(|_| invalid_key())?;
        Ok(signer)
    }

    /// A JWT issued at `iat` (seconds since the epoch).
    fn sign(&self, iat: i64) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
    }
}

/// One signed provider token, ready to go in the `authorization` header.
pub(crate) struct ProviderToken {
    pub(crate) authorization: HeaderValue,
    pub(crate) issued_at: Timestamp,
    /// Counts signings, so a caller can tell whether the token changed since it used one.
    pub(crate) generation: u64,
}

impl fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderToken")
            .field("authorization", &"[redacted]")
            .field("issued_at", &self.issued_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Signing failed: cannot happen with a key that [`Signer::new`] accepted, but never panic.
#[derive(Debug)]
pub(crate) struct SignFailed;

/// The provider token every connection of one credential shares.
#[derive(Debug)]
pub(crate) struct ProviderTokens {
    signer: Arc<Signer>,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<ProviderToken>>>,
    signed: AtomicU64,
}

impl ProviderTokens {
    /// The gateway's "now", for `Retry-After` dates as well as token ages.
    pub(crate) fn now(&self) -> beams_core::Timestamp {
        self.clock.now()
    }

    pub(crate) fn new(signer: Arc<Signer>, clock: Arc<dyn Clock>) -> Self {
        ProviderTokens {
            signer,
            clock,
            current: RwLock::new(None),
            signed: AtomicU64::new(0),
        }
    }

    /// Tokens signed so far.
    pub(crate) fn signed(&self) -> u64 {
        self.signed.load(Ordering::Relaxed)
    }

    /// The token to use now: the cached one, or a new one when it is 50 minutes old.
    pub(crate) fn current(&self) -> Result<Arc<ProviderToken>, SignFailed> {
        let now = self.clock.now();
        if let Some(token) = self.read().as_ref()
            && age(token, now) < REFRESH_AFTER
        {
            return Ok(token.clone());
        }
        let mut slot = self.write();
        match slot.as_ref() {
            Some(token) if age(token, now) < REFRESH_AFTER => Ok(token.clone()),
            _ => self.sign_into(&mut slot, now),
        }
    }

    /// APNs called `rejected` expired: the token to retry with, or `None` when the newest
    /// token is younger than 20 minutes (re-signing would only earn a 429; the clock or the
    /// key must be wrong).
    pub(crate) fn renew_after_expired(
        &self,
        rejected: &ProviderToken,
    ) -> Result<Option<Arc<ProviderToken>>, SignFailed> {
        let now = self.clock.now();
        let mut slot = self.write();
        match slot.as_ref() {
            // Another request already replaced it.
            Some(token) if token.generation != rejected.generation => Ok(Some(token.clone())),
            Some(token) if age(token, now) < MIN_LIFETIME => Ok(None),
            _ => self.sign_into(&mut slot, now).map(Some),
        }
    }

    fn sign_into(
        &self,
        slot: &mut Option<Arc<ProviderToken>>,
        now: Timestamp,
    ) -> Result<Arc<ProviderToken>, SignFailed> {
        let jwt = self
            .signer
            .sign(now.as_unix_secs())
            .map_err(|_| SignFailed)?;
        let authorization =
            HeaderValue::try_from(format!("bearer {jwt}")).map_err(|_| SignFailed)?;
        let generation = self.signed.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(generation, "signed a new APNs provider token");
        let token = Arc::new(ProviderToken {
            authorization,
            issued_at: now,
            generation,
        });
        *slot = Some(token.clone());
        Ok(token)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Arc<ProviderToken>>> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<ProviderToken>>> {
        self.current.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// How old `token` is at `now`; a clock that went back counts as no age at all.
fn age(token: &ProviderToken, now: Timestamp) -> Duration {
    let millis = now
        .as_unix_millis()
        .saturating_sub(token.issued_at.as_unix_millis());
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}
