//! Access tokens from a service-account key: an RS256 JWT assertion exchanged at the key's
//! `token_uri` (RFC 7523, Google's OAuth2 for service accounts).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, async_trait};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use super::access_token::{AccessToken, AccessTokenError, AccessTokenSource};
use super::http::{HttpClient, exchange};
use super::service_account::ServiceAccountKey;
use crate::retry_after::retry_after;

/// The scope that lets a token send FCM messages.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// How long an assertion is valid; Google accepts at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The form body's fixed part; `:` percent-encoded as form encoding wants.
const GRANT_TYPE_FORM: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Exchanges signed assertions for access tokens.
pub(crate) struct ServiceAccountTokenSource {
    key: ServiceAccountKey,
    client: HttpClient,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl ServiceAccountTokenSource {
    pub(crate) fn new(
        key: ServiceAccountKey,
        client: HttpClient,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Self {
        ServiceAccountTokenSource {
            key,
            client,
            clock,
            timeout,
        }
    }

    /// The signed assertion: `iss` the service account, `aud` the token endpoint, valid an hour.
    fn assertion(&self) -> Result<String, AccessTokenError> {
        let iat = self.clock.now().as_unix_secs();
        let claims = Claims {
            iss: self.key.client_email(),
            scope: FCM_SCOPE,
            aud: self.key.token_uri(),
            iat,
            exp: iat.saturating_add(ASSERTION_LIFETIME_SECS),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key.private_key_id().map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, self.key.signing_key()).map_err(|e| {
            AccessTokenError::Refused {
                reason: format!("signing the assertion failed: {e}"),
            }
        })
    }
}

impl fmt::Debug for ServiceAccountTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokenSource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AccessTokenSource for ServiceAccountTokenSource {
    async fn fetch(&self) -> Result<AccessToken, AccessTokenError> {
        let body = format!("{GRANT_TYPE_FORM}&assertion={}", self.assertion()?);
        let unavailable = |reason: String| AccessTokenError::Unavailable {
            reason,
            retry_after: None,
        };
        let request = Request::post(self.key.token_uri())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unavailable(format!("token request: {e}")))?;
        let answer = exchange(&self.client, request, self.timeout)
            .await
            .map_err(|e| unavailable(format!("token endpoint: {e}")))?;
        if answer.status == StatusCode::OK {
            return parse_token(&answer.body);
        }
        // Google's errors are `{"error": "invalid_grant", "error_description": "…"}`; only
        // those two fields are quoted, never the body as a whole.
        let error: TokenError = serde_json::from_slice(&answer.body).unwrap_or_default();
        let reason = format!(
            "token endpoint answered {}: {} {}",
            answer.status.as_u16(),
            error.error,
            error.error_description
        )
        .trim_end()
        .to_owned();
        let status = answer.status.as_u16();
        if status == 429 || status == 408 || answer.status.is_server_error() {
            Err(AccessTokenError::Unavailable {
                reason,
                retry_after: retry_after(&answer.headers, self.clock.now()),
            })
        } else {
            Err(AccessTokenError::Refused { reason })
        }
    }
}

fn parse_token(body: &[u8]) -> Result<AccessToken, AccessTokenError> {
    let refused = |reason: &str| AccessTokenError::Refused {
        reason: format!("token endpoint: {reason}"),
    };
    let answer: TokenAnswer =
        serde_json::from_slice(body).map_err(|_| refused("the answer is not an access token"))?;
    if answer
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(refused("the token is not a bearer token"));
    }
    if answer.access_token.is_empty() {
        return Err(refused("the access token is empty"));
    }
    // Google's tokens live an hour; an answer that does not say is taken as that.
    let expires_in = Duration::from_secs(answer.expires_in.unwrap_or(3600));
    Ok(AccessToken::new(answer.access_token, expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_and_checked() {
        let ok =
            parse_token(br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!(ok.secret(), "ya29.x");
        assert_eq!(ok.expires_in(), Duration::from_secs(3599));
        for bad in [
            &br#"{"access_token":"","expires_in":3599}"#[..],
            br#"{"access_token":"x","token_type":"mac"}"#,
            br#"{"expires_in":3599}"#,
            b"<html>",
        ] {
            assert!(
                matches!(parse_token(bad), Err(AccessTokenError::Refused { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
