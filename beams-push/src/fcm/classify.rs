//! FCM's answer to one message, classified for the engine (SPEC §5): by `details[].errorCode`
//! first, then the top-level `status`, then the HTTP status.

use beams_core::{DeliveryOutcome, Timestamp};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::retry_after::retry_after;

/// The longest error message quoted in a reason.
const MAX_MESSAGE_CHARS: usize = 300;

/// What to do with FCM's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The outcome to report.
    Outcome(DeliveryOutcome),
    /// A plain 401: the access token was refused; refresh it and try once more.
    RefreshToken,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

impl ErrorStatus {
    /// The FCM error code: from the `FcmError` detail, else from any detail that has one.
    fn error_code(&self) -> Option<&str> {
        fn code(detail: &Value) -> Option<&str> {
            detail.get("errorCode").and_then(Value::as_str)
        }
        let fcm_error = self.details.iter().find(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.firebase.fcm.v1.FcmError"))
        });
        fcm_error
            .and_then(code)
            .or_else(|| self.details.iter().find_map(code))
    }

    /// Whether an `INVALID_ARGUMENT` is about the registration token rather than the payload:
    /// the message says so, or a `BadRequest` detail blames `message.token`.
    fn blames_the_token(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        let says_so = message.contains("registration token");
        let field_blamed = self.details.iter().any(|d| {
            d.get("fieldViolations")
                .and_then(Value::as_array)
                .is_some_and(|violations| {
                    violations
                        .iter()
                        .any(|v| v.get("field").and_then(Value::as_str) == Some("message.token"))
                })
        });
        says_so || field_blamed
    }
}

/// Classifies an answer; `now` turns a `Retry-After` date into a wait.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Verdict {
    if status.is_success() {
        return Verdict::Outcome(DeliveryOutcome::Delivered);
    }
    // Only an object holding an `error` object is FCM's error body: serde would also read
    // the structs from arrays, which FCM never sends but a proxy might.
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(|body| body.get("error").is_some_and(Value::is_object))
        .and_then(|body| serde_json::from_value::<ErrorBody>(body).ok())
        .map(|b| b.error)
        .unwrap_or_default();
    let code = error.error_code();
    let reason = reason(status, code.unwrap_or(&error.status), &error.message);
    let class = code
        .and_then(class_of_code)
        .or_else(|| class_of_status(&error.status))
        .unwrap_or_else(|| class_of_http(status));
    let outcome = match class {
        Class::TokenDead => dead(reason),
        Class::InvalidArgument if error.blames_the_token() => dead(reason),
        Class::InvalidArgument | Class::Rejected => DeliveryOutcome::Rejected { reason },
        Class::Retry => DeliveryOutcome::RetryLater {
            retry_after: retry_after(headers, now),
            reason,
        },
        Class::Config => DeliveryOutcome::ConfigFailure { reason },
        // Only a 401 without an FCM error code is an access-token problem; with one
        // (THIRD_PARTY_AUTH_ERROR) it is configuration, classified above.
        Class::Unauthenticated if code.is_none() => return Verdict::RefreshToken,
        Class::Unauthenticated => DeliveryOutcome::ConfigFailure { reason },
    };
    Verdict::Outcome(outcome)
}

#[derive(Debug, Clone, Copy)]
enum Class {
    TokenDead,
    InvalidArgument,
    Rejected,
    Retry,
    Config,
    Unauthenticated,
}

/// FCM's own error codes (`google.firebase.fcm.v1.FcmError`).
fn class_of_code(code: &str) -> Option<Class> {
    Some(match code {
        "UNREGISTERED" | "SENDER_ID_MISMATCH" => Class::TokenDead,
        "INVALID_ARGUMENT" => Class::InvalidArgument,
        "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" => Class::Retry,
        "THIRD_PARTY_AUTH_ERROR" | "PERMISSION_DENIED" => Class::Config,
        // UNSPECIFIED_ERROR and codes added later: the status decides.
        _ => return None,
    })
}

/// The top-level `google.rpc.Code` name, when no FCM error code decided.
fn class_of_status(status: &str) -> Option<Class> {
    Some(match status {
        "INVALID_ARGUMENT" => Class::InvalidArgument,
        "FAILED_PRECONDITION" | "OUT_OF_RANGE" => Class::Rejected,
        "UNAUTHENTICATED" => Class::Unauthenticated,
        // Without an FCM error code, a 404 or 403 is about the project, not the token.
        "PERMISSION_DENIED" | "NOT_FOUND" => Class::Config,
        "RESOURCE_EXHAUSTED" | "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED" => {
            Class::Retry
        }
        _ => return None,
    })
}

/// The HTTP status alone (a proxy's answer, a body that is not FCM's).
fn class_of_http(status: StatusCode) -> Class {
    match status.as_u16() {
        401 => Class::Unauthenticated,
        403 | 404 | 300..=399 => Class::Config,
        408 | 429 | 500..=599 => Class::Retry,
        _ => Class::Rejected,
    }
}

fn dead(reason: String) -> DeliveryOutcome {
    DeliveryOutcome::TokenDead {
        dead_since: None,
        reason,
    }
}

fn reason(status: StatusCode, code: &str, message: &str) -> String {
    let mut reason = format!("FCM {}", status.as_u16());
    if !code.is_empty() {
        reason.push(' ');
        reason.push_str(code);
    }
    if !message.is_empty() {
        reason.push_str(": ");
        reason.extend(message.chars().take(MAX_MESSAGE_CHARS));
    }
    reason
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use http::HeaderValue;
    use http::header::RETRY_AFTER;
    use serde_json::json;

    fn fcm_error(code: u16, status: &str, error_code: Option<&str>, message: &str) -> Vec<u8> {
        let details = match error_code {
            Some(c) => json!([{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": c,
            }]),
            None => json!([]),
        };
        json!({"error": {"code": code, "message": message, "status": status, "details": details}})
            .to_string()
            .into_bytes()
    }

    fn class(status: u16, body: &[u8]) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap();
        match classify(status, &HeaderMap::new(), body, Timestamp::UNIX_EPOCH) {
            Verdict::RefreshToken => "refresh",
            Verdict::Outcome(DeliveryOutcome::Delivered) => "delivered",
            Verdict::Outcome(DeliveryOutcome::TokenDead { .. }) => "dead",
            Verdict::Outcome(DeliveryOutcome::Rejected { .. }) => "rejected",
            Verdict::Outcome(DeliveryOutcome::RetryLater { .. }) => "retry",
            Verdict::Outcome(DeliveryOutcome::ConfigFailure { .. }) => "config",
            Verdict::Outcome(_) => "other",
        }
    }

    #[test]
    fn every_fcm_error_code_maps_to_its_class() {
        let token_msg = "The registration token is not a valid FCM registration token";
        let table = [
            (
                404,
                "NOT_FOUND",
                Some("UNREGISTERED"),
                "Requested entity was not found.",
                "dead",
            ),
            (
                403,
                "PERMISSION_DENIED",
                Some("SENDER_ID_MISMATCH"),
                "",
                "dead",
            ),
            (
                400,
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                token_msg,
                "dead",
            ),
            (
                400,
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                "Invalid JSON payload",
                "rejected",
            ),
            (
                429,
                "RESOURCE_EXHAUSTED",
                Some("QUOTA_EXCEEDED"),
                "",
                "retry",
            ),
            (503, "UNAVAILABLE", Some("UNAVAILABLE"), "", "retry"),
            (500, "INTERNAL", Some("INTERNAL"), "", "retry"),
            (
                401,
                "UNAUTHENTICATED",
                Some("THIRD_PARTY_AUTH_ERROR"),
                "",
                "config",
            ),
            (
                403,
                "PERMISSION_DENIED",
                Some("PERMISSION_DENIED"),
                "",
                "config",
            ),
            (
                401,
                "UNAUTHENTICATED",
                None,
                "Request had invalid authentication",
                "refresh",
            ),
            (
                400,
                "INVALID_ARGUMENT",
                Some("UNSPECIFIED_ERROR"),
                "",
                "rejected",
            ),
        ];
        for (status, top, code, message, expected) in table {
            let body = fcm_error(status, top, code, message);
            assert_eq!(
                class(status, &body),
                expected,
                "{status} {top} {code:?} {message}"
            );
        }
    }

    #[test]
    fn a_bad_request_naming_message_token_kills_the_token() {
        let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "Request contains an invalid argument.",
        "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]},
        ]}});
        assert_eq!(class(400, body.to_string().as_bytes()), "dead");
        let payload = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "Invalid value at 'message.data[0].value'",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                 "fieldViolations": [{"field": "message.data[0].value"}]}]}});
        assert_eq!(class(400, payload.to_string().as_bytes()), "rejected");
    }

    #[test]
    fn without_an_error_code_a_404_or_403_never_kills_a_token() {
        assert_eq!(class(404, &fcm_error(404, "NOT_FOUND", None, "")), "config");
        assert_eq!(class(404, b"<html>not found</html>"), "config");
        assert_eq!(class(403, b""), "config");
    }

    #[test]
    fn only_json_objects_are_read_as_the_error_body() {
        // serde reads a struct from an array too; FCM never sends one, and a proxy's array
        // must not kill a token or look like an expired access token.
        let token_msg = "The registration token is not a valid FCM registration token";
        assert_eq!(
            class(
                400,
                json!([[token_msg, "INVALID_ARGUMENT"]])
                    .to_string()
                    .as_bytes()
            ),
            "rejected"
        );
        assert_eq!(
            class(
                400,
                json!({"error": [token_msg, "INVALID_ARGUMENT"]})
                    .to_string()
                    .as_bytes()
            ),
            "rejected"
        );
        assert_eq!(
            class(
                403,
                json!({"error": ["", "UNAUTHENTICATED"]})
                    .to_string()
                    .as_bytes()
            ),
            "config"
        );
    }

    #[test]
    fn answers_that_are_not_fcm_json_fall_back_to_the_http_status() {
        assert_eq!(class(200, b""), "delivered");
        assert_eq!(class(502, b"<html>Bad Gateway</html>"), "retry");
        assert_eq!(class(401, b""), "refresh");
        assert_eq!(class(413, b""), "rejected");
        assert_eq!(class(429, b"slow down"), "retry");
    }

    #[test]
    fn retry_after_is_carried_in_seconds_or_as_a_date() {
        let now = Timestamp::from_unix_secs(784_111_777 - 30);
        for (value, wait) in [("17", 17), ("Sun, 06 Nov 1994 08:49:37 GMT", 30)] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            let body = fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), "");
            let verdict = classify(StatusCode::TOO_MANY_REQUESTS, &headers, &body, now);
            let Verdict::Outcome(DeliveryOutcome::RetryLater {
                retry_after,
                reason,
            }) = verdict
            else {
                panic!("{verdict:?}");
            };
            assert_eq!(retry_after, Some(Duration::from_secs(wait)));
            assert!(reason.contains("QUOTA_EXCEEDED"), "{reason}");
        }
    }

    #[test]
    fn reasons_name_the_code_and_bound_the_message() {
        let long = "m".repeat(1000);
        let body = fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), &long);
        let verdict = classify(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &body,
            Timestamp::UNIX_EPOCH,
        );
        let Verdict::Outcome(DeliveryOutcome::Rejected { reason }) = verdict else {
            panic!("{verdict:?}");
        };
        assert!(
            reason.starts_with("FCM 400 INVALID_ARGUMENT: mmm"),
            "{reason}"
        );
        assert!(reason.len() < 400, "{}", reason.len());
    }
}
