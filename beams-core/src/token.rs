//! Beams Tokens: the short-lived HS256 JWTs that prove a device's user.
//!
//! A customer's auth endpoint issues one to a signed-in user with [`TokenIssuer`]; the device
//! presents it when it asks to be associated with that user, and [`TokenVerifier`] decides.
//! Tokens made by the official Pusher server SDKs verify here and the other way round.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{Clock, InstanceId, SecretKey, SystemClock, Timestamp, UserId, ValidationError};

/// How long an issued token lives unless told otherwise: 24 hours, as the official SDKs.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How far clocks may disagree before `exp` and `iat` checks fail, unless told otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest token accepted, in bytes; anything larger is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a Beams Token was refused (or could not be made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a JWT: wrong number of parts, bad base64, or claims that are not the expected JSON.
    #[error("malformed Beams Token: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Larger than [`MAX_TOKEN_BYTES`].
    #[error("Beams Token too large: {actual} bytes, at most {max}")]
    TooLarge {
        /// The limit.
        max: usize,
        /// The token's size.
        actual: usize,
    },
    /// The header names an algorithm other than HS256 (`none` included).
    #[error("Beams Token must be signed with HS256")]
    WrongAlgorithm,
    /// The signature does not verify with the instance secret key.
    #[error("Beams Token signature does not verify")]
    BadSignature,
    /// `exp` has passed.
    #[error("Beams Token expired at {expired_at}")]
    Expired {
        /// The token's `exp`.
        expired_at: Timestamp,
    },
    /// `iat` is in the future: the token is used before it was issued.
    #[error("Beams Token used before it was issued")]
    UsedBeforeIssued,
    /// `iss` is not this instance's issuer.
    #[error("Beams Token has the wrong issuer")]
    WrongIssuer,
    /// `sub` is a valid user id, but not the one asked for.
    #[error("Beams Token was issued for another user")]
    WrongUser,
    /// A required claim (`sub`, `iss` or `exp`) is absent.
    #[error("Beams Token lacks the `{claim}` claim")]
    MissingClaim {
        /// The missing claim.
        claim: &'static str,
    },
    /// `sub` is not a valid user id (empty, or over 164 characters).
    #[error("Beams Token subject is not a valid user id: {0}")]
    InvalidSubject(ValidationError),
    /// Signing failed while issuing.
    #[error("could not sign Beams Token: {0}")]
    Signing(String),
}

/// A freshly issued Beams Token. Serializes as `{"token": "…"}`, what the official server
/// SDKs' `generateToken` returns to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    /// The signed JWT.
    pub token: String,
    /// When it stops being accepted.
    #[serde(skip)]
    pub expires_at: Timestamp,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The user the token was issued for (`sub`).
    pub user: UserId,
    /// When it expires (`exp`).
    pub expires_at: Timestamp,
    /// When it was issued (`iat`), if it says.
    pub issued_at: Option<Timestamp>,
}

#[derive(Serialize)]
struct OutgoingClaims<'a> {
    sub: &'a str,
    iss: &'a str,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

#[derive(Deserialize)]
struct IncomingClaims {
    sub: Option<String>,
    iss: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
}

/// Issues Beams Tokens for an instance.
///
/// ```
/// use beams_core::{InstanceId, SecretKey, TokenIssuer, TokenVerifier, UserId};
///
/// let instance = InstanceId::new("00000000-0000-0000-0000-000000000000")?;
/// let secret = SecretKey::new("SECRETKEY")?;
/// let alice = UserId::new("alice")?;
///
/// let issued = TokenIssuer::new(&instance, &secret).issue(&alice)?;
/// let verified = TokenVerifier::new(&instance, &secret).verify_for(&issued.token, &alice)?;
/// assert_eq!(verified.user, alice);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    issuer: String,
    key: EncodingKey,
    header: Header,
    lifetime: Duration,
    include_issued_at: bool,
    clock: Arc<dyn Clock>,
}

impl TokenIssuer {
    /// An issuer for `instance` signing with `secret`: 24-hour tokens with `iat`, system clock.
    pub fn new(instance: &InstanceId, secret: &SecretKey) -> Self {
        TokenIssuer {
            issuer: instance.token_issuer(),
            key: EncodingKey::from_secret(secret.as_bytes()),
            header: Header::new(Algorithm::HS256),
            lifetime: DEFAULT_TOKEN_LIFETIME,
            include_issued_at: true,
            clock: Arc::new(SystemClock),
        }
    }

    /// Tokens live `lifetime` from issue.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Whether tokens carry `iat` (the Node SDK's shape; the other SDKs leave it out).
    pub fn with_issued_at(mut self, include: bool) -> Self {
        self.include_issued_at = include;
        self
    }

    /// Reads "now" from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Issues a token for `user`.
    pub fn issue(&self, user: &UserId) -> Result<IssuedToken, TokenError> {
        let now = self.clock.now();
        let expires_at =
            Timestamp::from_unix_secs(now.saturating_add(self.lifetime).as_unix_secs());
        let claims = OutgoingClaims {
            sub: user.as_str(),
            iss: &self.issuer,
            exp: expires_at.as_unix_secs(),
            iat: self.include_issued_at.then(|| now.as_unix_secs()),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken { token, expires_at })
    }
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .field("include_issued_at", &self.include_issued_at)
            .finish_non_exhaustive()
    }
}

/// Verifies Beams Tokens for an instance.
///
/// A token is accepted only when its header says HS256, its signature verifies with the
/// instance secret key, `iss` is the instance's issuer, `exp` is present and not past (give or
/// take the leeway), `iat`, when present, is not in the future, and `sub` is a valid user id.
/// `exp - now` has no upper bound and `iat` is optional, because the official SDKs differ.
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    key: DecodingKey,
    validation: Validation,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
}

impl TokenVerifier {
    /// A verifier for `instance` and `secret` with the default leeway and the system clock.
    pub fn new(instance: &InstanceId, secret: &SecretKey) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time and claim checks are ours: they read the injected clock and name what failed.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        TokenVerifier {
            issuer: instance.token_issuer(),
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            leeway_secs: secs(DEFAULT_LEEWAY),
            clock: Arc::new(SystemClock),
        }
    }

    /// Allows clocks to disagree by `leeway` in the `exp` and `iat` checks.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = secs(leeway);
        self
    }

    /// Reads "now" from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies `token` and tells whose it is.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                max: MAX_TOKEN_BYTES,
                actual: token.len(),
            });
        }
        let claims = jsonwebtoken::decode::<IncomingClaims>(token, &self.key, &self.validation)
            .map_err(|e| classify(token, e.kind()))?
            .claims;

        let issuer = claims
            .iss
            .ok_or(TokenError::MissingClaim { claim: "iss" })?;
        if issuer != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let sub = claims
            .sub
            .ok_or(TokenError::MissingClaim { claim: "sub" })?;
        let user = UserId::new(sub).map_err(TokenError::InvalidSubject)?;
        let exp = claims
            .exp
            .ok_or(TokenError::MissingClaim { claim: "exp" })?;

        let now = self.clock.now().as_unix_secs();
        if now >= exp.saturating_add(self.leeway_secs) {
            return Err(TokenError::Expired {
                expired_at: Timestamp::from_unix_secs(exp),
            });
        }
        if let Some(iat) = claims.iat
            && iat > now.saturating_add(self.leeway_secs)
        {
            return Err(TokenError::UsedBeforeIssued);
        }
        Ok(VerifiedToken {
            user,
            expires_at: Timestamp::from_unix_secs(exp),
            issued_at: claims.iat.map(Timestamp::from_unix_secs),
        })
    }

    /// Verifies `token` and checks that it was issued for `user`.
    pub fn verify_for(&self, token: &str, user: &UserId) -> Result<VerifiedToken, TokenError> {
        let verified = self.verify(token)?;
        if &verified.user != user {
            return Err(TokenError::WrongUser);
        }
        Ok(verified)
    }
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Turns a decoding failure into a reason a caller can act on. Only runs on failure, so the
/// header is looked at again only then.
fn classify(token: &str, kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::WrongAlgorithm,
        _ if header_names_other_algorithm(token) => TokenError::WrongAlgorithm,
        ErrorKind::Json(_) => TokenError::Malformed {
            reason: "header or claims are not the expected JSON",
        },
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) => TokenError::Malformed {
            reason: "a part is not base64url-encoded UTF-8",
        },
        _ => TokenError::Malformed {
            reason: "not a JWT of three dot-separated parts",
        },
    }
}

/// Whether the header decodes and names an algorithm other than HS256 (such as `none`, which
/// the JWT library does not even parse).
fn header_names_other_algorithm(token: &str) -> bool {
    #[derive(Deserialize)]
    struct AlgOnly {
        alg: String,
    }
    let Some(header) = token.split('.').next() else {
        return false;
    };
    crate::base64url::decode_any(header)
        .and_then(|json| serde_json::from_slice::<AlgOnly>(&json).ok())
        .is_some_and(|h| h.alg != "HS256")
}
