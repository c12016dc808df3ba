//! OAuth2 access tokens for FCM, and the trait that supplies them.

use std::fmt;
use std::time::Duration;

use beams_core::async_trait;

/// An OAuth2 access token for the FCM HTTP v1 API, and how long it stays valid.
///
/// The value never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: String,
    expires_in: Duration,
}

impl AccessToken {
    /// A token `value` that expires `expires_in` after it was issued.
    pub fn new(value: impl Into<String>, expires_in: Duration) -> Self {
        AccessToken {
            value: value.into(),
            expires_in,
        }
    }

    /// The token itself, for an `Authorization: Bearer` header. Keep it out of logs.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// How long the token stays valid after it was issued.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// The credential itself is refused (revoked key, unknown service account, bad signature):
    /// every delivery needing the token is a configuration failure until someone fixes it.
    #[error("the access token credential was refused: {reason}")]
    Refused {
        /// What the token endpoint said.
        reason: String,
    },
    /// The token endpoint could not be reached or failed for now: try again later.
    #[error("no access token for now: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
        /// How long the token endpoint asked to wait, if it said.
        retry_after: Option<Duration>,
    },
}

/// Supplies OAuth2 access tokens for FCM.
///
/// [`FcmGateway`](super::FcmGateway) caches the token it gets and calls [`fetch`](Self::fetch)
/// again only when the token nears its expiry or FCM refuses it, one call at a time. The
/// built-in source signs a JWT with a service-account key
/// ([`FcmGateway::builder`](super::FcmGateway::builder)); implement this trait to plug in
/// another one, such as workload identity
/// ([`FcmGateway::builder_with_token_source`](super::FcmGateway::builder_with_token_source)).
///
/// ```
/// use std::time::Duration;
/// use beams_core::async_trait;
/// use beams_push::fcm::{AccessToken, AccessTokenError, AccessTokenSource};
///
/// /// Asks a sidecar for tokens (here: always the same one).
/// #[derive(Debug)]
/// struct Sidecar;
///
/// #[async_trait]
/// impl AccessTokenSource for Sidecar {
///     async fn fetch(&self) -> Result<AccessToken, AccessTokenError> {
///         Ok(AccessToken::new("ya29.from-the-sidecar", Duration::from_secs(3600)))
///     }
/// }
/// ```
#[async_trait]
pub trait AccessTokenSource: Send + Sync + fmt::Debug {
    /// Gets a fresh access token with the `https://www.googleapis.com/auth/firebase.messaging`
    /// scope.
    async fn fetch(&self) -> Result<AccessToken, AccessTokenError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_value_never_shows_in_debug() {
        let token = AccessToken::new("ya29.very-secret", Duration::from_secs(60));
        let shown = format!("{token:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("60s"), "{shown}");
    }
}
