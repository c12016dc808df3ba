//! VAPID (RFC 8292): the server's P-256 key pair, and the ES256 tokens that identify it to
//! push services.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use beams_core::{Clock, Timestamp};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Why a VAPID key or contact was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VapidError {
    /// The key is not a P-256 private key in a supported form.
    #[error("invalid VAPID key: {0}")]
    InvalidKey(&'static str),
    /// The contact is not a `mailto:` or `https:` URI.
    #[error("the VAPID contact must be a mailto: or https: URI")]
    InvalidContact,
    /// Signing a token failed.
    #[error("could not sign a VAPID token: {0}")]
    Signing(String),
}

/// The server's VAPID key pair (P-256).
///
/// Save it with [`to_pem`](Self::to_pem) (PKCS#8, `-----BEGIN PRIVATE KEY-----`) or
/// [`to_base64url`](Self::to_base64url) (the raw 32-byte private scalar, the form the
/// `web-push` tools print), and load it back with [`from_pem`](Self::from_pem) (PKCS#8 or SEC1
/// `EC PRIVATE KEY`) or [`from_base64url`](Self::from_base64url). The private key never shows
/// in `Debug`.
///
/// ```
/// use beams_push::web_push::VapidKey;
///
/// let key = VapidKey::generate()?;
/// let again = VapidKey::from_pem(&key.to_pem())?;
/// assert_eq!(again.public_key_base64url(), key.public_key_base64url());
/// // What `GET …/web-vapid-public-key` serves: 65 bytes, base64url.
/// assert_eq!(key.public_key_base64url().len(), 87);
/// # Ok::<(), beams_push::web_push::VapidError>(())
/// ```
#[derive(Clone)]
pub struct VapidKey {
    pkcs8: Arc<Vec<u8>>,
    encoding: EncodingKey,
    public: [u8; 65],
    /// `public`, base64url: computed once for the `k=` of every `Authorization` header.
    public_base64url: Arc<str>,
}

impl VapidKey {
    /// A new random key pair.
    pub fn generate() -> Result<Self, VapidError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| VapidError::InvalidKey("key generation failed"))?;
        Self::from_pair(&pair)
    }

    /// Loads a PEM key: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_pem(pem_text: &str) -> Result<Self, VapidError> {
        let block = pem::parse(pem_text).map_err(|_| VapidError::InvalidKey("not PEM"))?;
        let pair = match block.tag() {
            "PRIVATE KEY" => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents())
            }
            "EC PRIVATE KEY" => EcdsaKeyPair::from_private_key_der(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                block.contents(),
            ),
            _ => return Err(VapidError::InvalidKey("PEM block is not a private key")),
        }
        .map_err(|_| VapidError::InvalidKey("not a P-256 private key"))?;
        Self::from_pair(&pair)
    }

    /// Loads the raw 32-byte private scalar, base64url (padding optional).
    pub fn from_base64url(private_key: &str) -> Result<Self, VapidError> {
        let scalar = URL_SAFE_NO_PAD
            .decode(private_key.trim().trim_end_matches('='))
            .map_err(|_| VapidError::InvalidKey("not base64url"))?;
        let private = PrivateKey::from_private_key(&ECDH_P256, &scalar)
            .map_err(|_| VapidError::InvalidKey("not a 32-byte P-256 scalar"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| VapidError::InvalidKey("no public key for this scalar"))?;
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &scalar,
            public.as_ref(),
        )
        .map_err(|_| VapidError::InvalidKey("not a P-256 private key"))?;
        Self::from_pair(&pair)
    }

    fn from_pair(pair: &EcdsaKeyPair) -> Result<Self, VapidError> {
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| VapidError::InvalidKey("cannot encode as PKCS#8"))?;
        let public: [u8; 65] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| VapidError::InvalidKey("public key is not an uncompressed point"))?;
        Ok(VapidKey {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            pkcs8: Arc::new(pkcs8.as_ref().to_vec()),
            public_base64url: URL_SAFE_NO_PAD.encode(public).into(),
            public,
        })
    }

    /// The key as PKCS#8 PEM. Keep it secret.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8.as_slice()))
    }

    /// The raw private scalar, base64url without padding. Keep it secret.
    pub fn to_base64url(&self) -> Result<String, VapidError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8)
            .map_err(|_| VapidError::InvalidKey("stored key does not load"))?;
        let scalar: EcPrivateKeyBin<'_> = pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| VapidError::InvalidKey("cannot export the scalar"))?;
        Ok(URL_SAFE_NO_PAD.encode(scalar.as_ref()))
    }

    /// The public key, uncompressed (65 bytes).
    pub fn public_key(&self) -> &[u8; 65] {
        &self.public
    }

    /// The public key as unpadded base64url: the `applicationServerKey` browsers subscribe with
    /// and the `k=` of the `Authorization` header.
    pub fn public_key_base64url(&self) -> String {
        self.public_base64url.to_string()
    }
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &&*self.public_base64url)
            .finish_non_exhaustive()
    }
}

/// A validated VAPID contact: `mailto:` or `https:`, the `sub` claim of every token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidContact(String);

impl VapidContact {
    /// Validates `contact`.
    pub fn new(contact: impl Into<String>) -> Result<Self, VapidError> {
        let contact = contact.into();
        let lower = contact.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("mailto:")
            .or_else(|| lower.strip_prefix("https://"))
            .ok_or(VapidError::InvalidContact)?;
        if rest.is_empty() || contact.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(VapidError::InvalidContact);
        }
        Ok(VapidContact(contact))
    }

    /// The contact as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A cached token is renewed once less than this remains.
const RENEW_BEFORE: Duration = Duration::from_secs(60 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

/// Signs VAPID tokens, one per push-service origin, cached as ready `Authorization` values
/// until close to expiry. Expired entries are dropped whenever one is added, so the cache holds
/// only origins sent to within a token's lifetime.
#[derive(Debug)]
pub(crate) struct VapidSigner {
    key: VapidKey,
    contact: VapidContact,
    clock: Arc<dyn Clock>,
    header: Header,
    cache: Mutex<HashMap<String, (HeaderValue, Timestamp)>>,
}

impl VapidSigner {
    pub(crate) fn new(key: VapidKey, contact: VapidContact, clock: Arc<dyn Clock>) -> Self {
        VapidSigner {
            key,
            contact,
            clock,
            header: Header::new(Algorithm::ES256),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn key(&self) -> &VapidKey {
        &self.key
    }

    /// The `Authorization` header value (`vapid t=…, k=…`) for a push service at `origin`.
    pub(crate) fn authorization(&self, origin: &str) -> Result<HeaderValue, VapidError> {
        let now = self.clock.now();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((value, expires)) = cache.get(origin)
            && now.saturating_add(RENEW_BEFORE) < *expires
        {
            return Ok(value.clone());
        }
        let expires = Timestamp::from_unix_secs(now.saturating_add(TOKEN_LIFETIME).as_unix_secs());
        let claims = Claims {
            aud: origin,
            exp: expires.as_unix_secs(),
            sub: self.contact.as_str(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key.encoding)
            .map_err(|e| VapidError::Signing(e.to_string()))?;
        let value =
            HeaderValue::try_from(format!("vapid t={token}, k={}", self.key.public_base64url))
                .map_err(|_| {
                    VapidError::Signing("the token is not a valid header value".to_owned())
                })?;
        cache.retain(|_, (_, until)| now < *until);
        cache.insert(origin.to_owned(), (value.clone(), expires));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beams_core::ManualClock;

    #[test]
    fn keys_round_trip_through_both_forms() {
        let key = VapidKey::generate().unwrap();
        let from_b64 = VapidKey::from_base64url(&key.to_base64url().unwrap()).unwrap();
        assert_eq!(from_b64.public_key(), key.public_key());
        let from_pem = VapidKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(from_pem.public_key(), key.public_key());
        assert_eq!(key.public_key()[0], 0x04);
    }

    #[test]
    fn sec1_pem_loads() {
        // A SEC1 key as `openssl ecparam -genkey -name prime256v1` writes it.
        let key = VapidKey::generate().unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.pkcs8).unwrap();
        let sec1 =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'_>>::as_der(
                &pair.private_key(),
            )
            .unwrap();
        let pem_text = pem::encode(&pem::Pem::new("EC PRIVATE KEY", sec1.as_ref()));
        assert_eq!(
            VapidKey::from_pem(&pem_text).unwrap().public_key(),
            key.public_key()
        );
    }

    #[test]
    fn bad_keys_and_contacts_are_refused() {
        assert!(VapidKey::from_base64url("AAAA").is_err());
        assert!(VapidKey::from_base64url("not base64!").is_err());
        assert!(
            VapidKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        assert!(VapidContact::new("mailto:ops@example.com").is_ok());
        assert!(VapidContact::new("https://example.com/contact").is_ok());
        for bad in [
            "ops@example.com",
            "http://example.com",
            "mailto:",
            "mailto:a b",
        ] {
            assert_eq!(
                VapidContact::new(bad),
                Err(VapidError::InvalidContact),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let key = VapidKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public_key_base64url()));
        assert!(!shown.contains(&key.to_base64url().unwrap()));
        // Nor as the bytes a derived `Debug` would print.
        let bytes = format!("{:?}", key.pkcs8.as_slice());
        assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
    }

    #[test]
    fn tokens_are_cached_per_origin_until_near_expiry() {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let signer = VapidSigner::new(
            VapidKey::generate().unwrap(),
            VapidContact::new("mailto:ops@example.com").unwrap(),
            Arc::new(clock.clone()),
        );
        let a = signer.authorization("https://push.a.example").unwrap();
        assert_eq!(signer.authorization("https://push.a.example").unwrap(), a);
        assert_ne!(signer.authorization("https://push.b.example").unwrap(), a);
        clock.advance(Duration::from_secs(11 * 60 * 60 + 1));
        assert_ne!(
            signer.authorization("https://push.a.example").unwrap(),
            a,
            "renewed near expiry"
        );
    }

    #[test]
    fn expired_origins_are_dropped_when_another_is_added() {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let signer = VapidSigner::new(
            VapidKey::generate().unwrap(),
            VapidContact::new("mailto:ops@example.com").unwrap(),
            Arc::new(clock.clone()),
        );
        let value = signer.authorization("https://push.a.example").unwrap();
        let text = value.to_str().unwrap();
        assert!(text.starts_with("vapid t="));
        assert!(text.ends_with(&format!(", k={}", signer.key().public_key_base64url())));
        signer.authorization("https://push.b.example").unwrap();
        clock.advance(TOKEN_LIFETIME + Duration::from_secs(1));
        signer.authorization("https://push.c.example").unwrap();
        let cache = signer.cache.lock().unwrap();
        assert_eq!(cache.len(), 1);
        assert!(cache.contains_key("https://push.c.example"));
    }
}
