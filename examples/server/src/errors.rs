//! The JSON error answer, and how engine errors become the statuses the official Beams SDKs
//! expect (SPEC §3.1).
//!
//! The client SDKs retry forever on a status they do not classify, and the Node server SDK
//! crashes on an error with an empty body, so every failure here is one of a few statuses with
//! a `{"error", "description"}` body.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beams_core::{BeamsError, Platform, RegistrationRefusal, Rule, TokenError, ValidationError};
use serde::Serialize;

/// The body of every error answer: `{"error": "<short>", "description": "<human text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// A short name of the error, such as `Unauthorized`.
    pub error: Cow<'static, str>,
    /// What went wrong, for a person.
    pub description: String,
}

/// An error answer: a status and an [`ErrorBody`].
///
/// ```
/// use axum::http::{HeaderValue, StatusCode, header};
/// use beams_server::ApiError;
///
/// let error = ApiError::incorrect_secret_key();
/// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(error.body().description, "Incorrect Secret Key");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Whole seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, short name and description.
    pub fn new(
        status: StatusCode,
        error: impl Into<Cow<'static, str>>,
        description: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                description: description.into(),
            },
            retry_after: None,
        }
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body answered.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// The `Retry-After` answered, in seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// 429: this client sent too many requests of a kind; `Retry-After` says when one is
    /// allowed again. The client SDKs retry it with their backoff.
    pub fn too_many_requests(what: &str, wait: Duration) -> Self {
        // Rounded up: a client that waits exactly this long finds a request allowed.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            format!("Too many {what} from this address; try again in {seconds} s"),
        );
        error.retry_after = Some(seconds);
        error
    }

    /// 429: the journal holds as many unfinished publishes as allowed; `Retry-After` says when
    /// to try again. Nothing was accepted.
    pub fn publishes_waiting(unfinished: usize, wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            format!("{unfinished} publishes are still being delivered; try again in {seconds} s"),
        );
        error.retry_after = Some(seconds);
        error
    }

    /// 408: the request (its body included) took longer than the server allows. The client
    /// SDKs retry it.
    pub fn request_timeout(limit: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout",
            format!(
                "The request was not complete within {} s",
                limit.as_secs_f64()
            ),
        )
    }

    /// 400: the request breaks a rule; the client gives up on it.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", description)
    }

    /// 401 with this description.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", description)
    }

    /// 401: the publish or customer API was called without the instance secret key.
    pub fn incorrect_secret_key() -> Self {
        Self::unauthorized("Incorrect Secret Key")
    }

    /// 404: the instance in the path is not the one this server serves.
    pub fn instance_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Instance not found",
            "Could not find the instance",
        )
    }

    /// 404: no such device; the client SDK registers again.
    pub fn device_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Device not found",
            "Could not find the device.",
        )
    }

    /// 404 for anything else that does not exist.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", description)
    }

    /// 422 with this description.
    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity",
            description,
        )
    }

    /// 501: a part of the Beams API this server does not offer yet.
    pub fn not_implemented(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "Not Implemented", description)
    }

    /// 500: the server failed (the cause is logged, not answered). Clients retry.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "The server could not complete the request; try again later",
        )
    }

    /// The answer to an engine error on a device API call.
    pub fn from_beams(error: BeamsError) -> Self {
        match error {
            BeamsError::Invalid(invalid) => Self::bad_request(invalid.to_string()),
            BeamsError::Token(token) => Self::from_token(&token),
            BeamsError::DeviceNotFound { .. } => Self::device_not_found(),
            BeamsError::UserMismatch { .. } => {
                Self::bad_request("A User Id is already associated with this device.")
            }
            BeamsError::DeviceLimitReached { limit, .. } => Self::unprocessable(format!(
                "User already has reached the maximum of {limit} devices."
            )),
            BeamsError::TooManyInterests { .. } => Self::bad_request("Interest set too large"),
            BeamsError::Busy {
                unfinished,
                retry_after,
            } => Self::publishes_waiting(unfinished, retry_after),
            BeamsError::RegistrationRefused { refusal } => Self::bad_request(match refusal {
                RegistrationRefusal::OtherKeys => {
                    "This Web Push endpoint is registered with other keys; subscribe again to get a new endpoint"
                }
                RegistrationRefusal::SignedInDevice => {
                    "This token belongs to a device that is signed in; register a new token"
                }
                // Whatever is added later is a refusal all the same: a 400, which the SDKs
                // take as "give up", never a retry loop.
                _ => "This registration was refused",
            }),
            other => {
                tracing::error!(error = %other, "engine failure");
                Self::internal()
            }
        }
    }

    /// The answer to a refused Beams Token (set user).
    pub fn from_token(error: &TokenError) -> Self {
        match error {
            TokenError::WrongIssuer => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", "Invalid JWT issuer.")
            }
            TokenError::MissingClaim { .. } | TokenError::InvalidSubject(_) => {
                Self::bad_request(error.to_string())
            }
            TokenError::Signing(_) => {
                tracing::error!(error = %error, "could not sign a Beams Token");
                Self::internal()
            }
            // Malformed, too large, wrong algorithm, bad signature, expired, used before
            // issued, and whatever is added later: the token is not acceptable.
            _ => Self::unauthorized(error.to_string()),
        }
    }

    /// The answer to a failed registration (or token refresh) on `platform`: a token the
    /// platform would not accept is 401 for APNs and FCM, 400 for Web Push, as Beams answers.
    pub fn from_registration(platform: Platform, error: BeamsError) -> Self {
        match (platform, error) {
            (Platform::Apns, BeamsError::Invalid(_)) => {
                Self::unauthorized("Incorrect APNs token supplied")
            }
            (Platform::Fcm, BeamsError::Invalid(_)) => {
                Self::unauthorized("Incorrect FCM token supplied")
            }
            (Platform::Web, BeamsError::Invalid(invalid)) => {
                Self::bad_request(format!("Invalid Web Push subscription: {invalid}"))
            }
            (_, other) => Self::from_beams(other),
        }
    }

    /// The answer to a publish body that was refused: 400 when it is not JSON or too large,
    /// 422 `` "`users`: users is required" `` style when it does not fit the schema.
    pub fn from_publish(error: &ValidationError) -> Self {
        match (error.field(), error.rule()) {
            ("body", Rule::TooLong { max, .. }) => too_large(*max),
            ("body", rule) => Self::bad_request(format!("Request body {rule}")),
            // The reason names the field inside the section and the push service's rule.
            (field, Rule::Unsendable { reason }) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bad Request",
                format!("`{field}`: {reason}"),
            ),
            (field, rule) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bad Request",
                format!("`{field}`: {field} {rule}"),
            ),
        }
    }
}

/// 400: a request body over `max` bytes.
pub(crate) fn too_large(max: usize) -> ApiError {
    ApiError::bad_request(format!("Request body too large: at most {max} bytes"))
}

impl From<BeamsError> for ApiError {
    fn from(error: BeamsError) -> Self {
        Self::from_beams(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beams_core::{DeviceId, StoreError, StoreErrorKind};

    #[test]
    fn token_refusals_follow_the_clients_classes() {
        let cases = [
            (TokenError::WrongIssuer, 403),
            (TokenError::MissingClaim { claim: "exp" }, 400),
            (TokenError::BadSignature, 401),
            (TokenError::UsedBeforeIssued, 401),
            (TokenError::WrongAlgorithm, 401),
            (TokenError::Malformed { reason: "x" }, 401),
            (TokenError::TooLarge { max: 1, actual: 2 }, 401),
        ];
        for (error, status) in cases {
            assert_eq!(
                ApiError::from_token(&error).status().as_u16(),
                status,
                "{error}"
            );
        }
        let wrong_issuer = ApiError::from_token(&TokenError::WrongIssuer);
        assert_eq!(wrong_issuer.body().description, "Invalid JWT issuer.");
    }

    #[test]
    fn engine_refusals_use_beams_words() {
        let device = DeviceId::generate(Platform::Web);
        let mismatch = ApiError::from_beams(BeamsError::UserMismatch {
            device: device.clone(),
        });
        assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            mismatch.body().description,
            "A User Id is already associated with this device."
        );
        let full = ApiError::from_beams(BeamsError::DeviceLimitReached {
            limit: 100,
            platform: Platform::Web,
        });
        assert_eq!(full.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            full.body().description,
            "User already has reached the maximum of 100 devices."
        );
        let gone = ApiError::from_beams(BeamsError::DeviceNotFound { device });
        assert_eq!(gone.body().description, "Could not find the device.");
        let store =
            ApiError::from_beams(BeamsError::Store(StoreError::new(StoreErrorKind::Backend)));
        assert_eq!(store.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn publish_schema_errors_are_422_and_name_the_field() {
        let error = ApiError::from_publish(&ValidationError::new("users", Rule::Required));
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body().error, "Bad Request");
        assert_eq!(error.body().description, "`users`: users is required");
        let not_json = ApiError::from_publish(&ValidationError::new(
            "body",
            Rule::NotJson { detail: "x".into() },
        ));
        assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    }
}
