//! What push services answer: statuses and bodies from APNs, FCM and Web Push services
//! (with the `Retry-After` values of [`retry_after`](super::retry_after)), read by the
//! functions beams-push's gateways use (through its `fuzzing` feature).
//!
//! The properties hold each reading to what the gateways document: 2xx is delivered and
//! nothing else is, a wait asked for is carried as the header says it, a body that is not the
//! service's JSON never kills a token, and reasons are bounded and say where they come from.

use std::time::Duration;

use beams_core::{DeliveryOutcome, Timestamp};
use beams_push::fuzzing::{self, Classified};
use http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Value, json};

use super::json::any_json;
use super::retry_after::RetryAfter;
use super::text::{any_bytes, any_text};

/// Statuses as APNs' status pseudo-header can carry them: the usual ones, and any number.
pub fn apns_status() -> impl Strategy<Value = u16> {
    prop_oneof![3 => status(), 1 => any::<u16>()]
}

/// HTTP statuses: the ones push services use, and any three-digit one.
pub fn status() -> impl Strategy<Value = u16> {
    const USED: &[u16] = &[
        200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 405, 408, 410, 413, 418, 429, 500, 502,
        503, 504,
    ];
    prop_oneof![3 => proptest::sample::select(USED), 1 => 100..=999_u16]
}

/// Reasons APNs documents, and one it may add.
const APNS_REASONS: &[&str] = &[
    "BadDeviceToken",
    "DeviceTokenNotForTopic",
    "Unregistered",
    "ExpiredToken",
    "ExpiredProviderToken",
    "InvalidProviderToken",
    "TopicDisallowed",
    "BadTopic",
    "MissingTopic",
    "IdleTimeout",
    "PayloadTooLarge",
    "TooManyRequests",
    "InternalServerError",
    "ServiceUnavailable",
    "SomethingNew",
];

/// An APNs body: its JSON with a reason and timestamp (each of any type), other JSON, or
/// bytes.
pub fn apns_body() -> impl Strategy<Value = Vec<u8>> {
    let reason = prop_oneof![
        4 => proptest::sample::select(APNS_REASONS).prop_map(Value::from),
        1 => any_text(20).prop_map(Value::from),
        1 => any_json(1),
    ];
    let timestamp = prop_oneof![
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(|t| Value::from(t.to_string())),
        1 => any_json(1),
    ];
    let error = (
        proptest::option::of(reason),
        proptest::option::of(timestamp),
    )
        .prop_map(|(reason, timestamp)| {
            let mut body = serde_json::Map::new();
            if let Some(reason) = reason {
                body.insert("reason".into(), reason);
            }
            if let Some(timestamp) = timestamp {
                body.insert("timestamp".into(), timestamp);
            }
            Value::Object(body).to_string().into_bytes()
        });
    prop_oneof![
        4 => error,
        1 => Just(Vec::new()),
        1 => any_json(3).prop_map(|value| value.to_string().into_bytes()),
        1 => any_bytes(64),
    ]
}

/// The reason an outcome gives, if it is not a delivery.
fn reason_of(outcome: &DeliveryOutcome) -> Option<&str> {
    match outcome {
        DeliveryOutcome::TokenDead { reason, .. }
        | DeliveryOutcome::RetryLater { reason, .. }
        | DeliveryOutcome::Rejected { reason }
        | DeliveryOutcome::ConfigFailure { reason } => Some(reason),
        _ => None,
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// APNs: 2xx is delivered and nothing else is; only `403 ExpiredProviderToken` renews the
/// provider token; 410 always kills the token, with APNs' timestamp when it gave a number;
/// 429 and 5xx retry with the wait given; a refusal's reason is APNs' reason, or the status
/// when the body gave none.
pub fn check_apns(status: u16, wait: Option<Duration>, body: &[u8]) -> TestCaseResult {
    // APNs' error body is a JSON object with `reason` (a string) and `timestamp`; a body of
    // another shape says nothing.
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .filter(|body| {
            body.get("reason")
                .is_none_or(|reason| reason.is_string() || reason.is_null())
        });
    let given = |field: &str| parsed.as_ref().and_then(|body| body.get(field));
    let reason = given("reason")
        .and_then(Value::as_str)
        .filter(|reason| !reason.is_empty());
    let classified = fuzzing::classify_apns(status, wait, body);
    let outcome = match classified {
        Classified::RenewCredential => {
            prop_assert_eq!((status, reason), (403, Some("ExpiredProviderToken")));
            return Ok(());
        }
        Classified::Outcome(outcome) => outcome,
    };
    if is_success(status) {
        prop_assert_eq!(outcome, DeliveryOutcome::Delivered);
        return Ok(());
    }
    let expected_reason = reason.map_or_else(|| format!("HTTP {status}"), str::to_owned);
    prop_assert_eq!(
        reason_of(&outcome),
        Some(expected_reason.as_str()),
        "{:?}",
        outcome
    );
    if status == 410 {
        let timestamp = given("timestamp").and_then(|t| match t {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        prop_assert_eq!(
            outcome,
            DeliveryOutcome::TokenDead {
                dead_since: timestamp.map(Timestamp::from_unix_millis),
                reason: expected_reason,
            }
        );
    } else if status == 429 || (500..600).contains(&status) {
        prop_assert_eq!(
            outcome,
            DeliveryOutcome::RetryLater {
                retry_after: wait,
                reason: expected_reason,
            }
        );
    } else if matches!(outcome, DeliveryOutcome::TokenDead { .. }) {
        prop_assert_eq!(status, 400);
        prop_assert!(matches!(
            reason,
            Some("BadDeviceToken" | "DeviceTokenNotForTopic")
        ));
    }
    Ok(())
}

/// FCM's error codes, and one it may add.
const FCM_CODES: &[&str] = &[
    "UNREGISTERED",
    "SENDER_ID_MISMATCH",
    "INVALID_ARGUMENT",
    "QUOTA_EXCEEDED",
    "UNAVAILABLE",
    "INTERNAL",
    "THIRD_PARTY_AUTH_ERROR",
    "PERMISSION_DENIED",
    "UNSPECIFIED_ERROR",
    "SOMETHING_NEW",
];

/// The `google.rpc.Code` names FCM puts in `status`.
const RPC_STATUSES: &[&str] = &[
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "INTERNAL",
    "DEADLINE_EXCEEDED",
    "ABORTED",
    "CANCELLED",
];

/// An FCM body: its error JSON with a code, status, message and details each present or not
/// (and of any type now and then), other JSON, or bytes.
pub fn fcm_body() -> impl Strategy<Value = Vec<u8>> {
    let detail = prop_oneof![
        (proptest::sample::select(FCM_CODES), any::<bool>()).prop_map(|(code, typed)| {
            let kind = if typed {
                "type.googleapis.com/google.firebase.fcm.v1.FcmError"
            } else {
                "type.googleapis.com/google.rpc.ErrorInfo"
            };
            json!({"@type": kind, "errorCode": code})
        }),
        proptest::sample::select(&["message.token", "message.data[0].value", ""][..]).prop_map(
            |field| {
                json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                       "fieldViolations": [{"field": field}]})
            }
        ),
        any_json(2),
    ];
    let message = prop_oneof![
        1 => Just("The registration token is not a valid FCM registration token".to_owned()),
        2 => any_text(40),
        1 => (290..=400_usize).prop_map(|len| "m".repeat(len)),
    ];
    let error = (
        proptest::option::of(100..=599_u16),
        proptest::option::of(message),
        proptest::option::of(proptest::sample::select(RPC_STATUSES)),
        proptest::option::of(proptest::collection::vec(detail, 0..=3)),
    )
        .prop_map(|(code, message, status, details)| {
            let mut error = serde_json::Map::new();
            let mut set = |name: &str, value: Option<Value>| {
                if let Some(value) = value {
                    error.insert(name.to_owned(), value);
                }
            };
            set("code", code.map(Value::from));
            set("message", message.map(Value::from));
            set("status", status.map(Value::from));
            set("details", details.map(Value::from));
            json!({ "error": error }).to_string().into_bytes()
        });
    prop_oneof![
        4 => error,
        1 => Just(Vec::new()),
        1 => any_json(3).prop_map(|value| value.to_string().into_bytes()),
        1 => any_bytes(64),
    ]
}

/// FCM: 2xx is delivered and nothing else is; a wait comes from the header as every gateway
/// reads it; a body without FCM's `error` object is judged by the HTTP status alone and never
/// kills a token (401 renews the access token; 403, 404 and 3xx are configuration; 408, 429
/// and 5xx retry; the rest is refused); reasons start with `FCM <status>` and quote at most
/// 300 characters of FCM's message.
pub fn check_fcm(
    status: u16,
    wait: Option<&RetryAfter>,
    body: &[u8],
    now: Timestamp,
) -> TestCaseResult {
    let code = StatusCode::from_u16(status).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut headers = HeaderMap::new();
    if let Some(header) = wait.and_then(|wait| HeaderValue::from_str(&wait.text()).ok()) {
        headers.insert(RETRY_AFTER, header);
    }
    let classified = fuzzing::classify_fcm(code, &headers, body, now);
    if is_success(status) {
        prop_assert_eq!(classified, Classified::Outcome(DeliveryOutcome::Delivered));
        return Ok(());
    }
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body.get("error").cloned());
    let from_status_alone = error.is_none();
    let outcome = match classified {
        Classified::RenewCredential => {
            let unauthenticated =
                error.as_ref().and_then(|e| e.get("status")) == Some(&json!("UNAUTHENTICATED"));
            prop_assert!(status == 401 || unauthenticated, "renewing on {status}");
            return Ok(());
        }
        Classified::Outcome(outcome) => outcome,
    };
    prop_assert!(outcome != DeliveryOutcome::Delivered);
    let reason = reason_of(&outcome).unwrap_or("");
    prop_assert!(reason.starts_with(&format!("FCM {status}")), "{reason}");
    let message = error
        .as_ref()
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let quoted = reason.split_once(": ").map_or("", |(_, quoted)| quoted);
    prop_assert!(
        quoted.chars().count() <= 300,
        "{} characters quoted",
        quoted.chars().count()
    );
    prop_assert!(message.starts_with(quoted) || quoted.is_empty() || message.is_empty());
    if let DeliveryOutcome::RetryLater { retry_after, .. } = &outcome {
        prop_assert_eq!(*retry_after, fuzzing::retry_after(&headers, now));
    }
    if from_status_alone {
        let expected = match status {
            403 | 404 | 300..=399 => "config",
            408 | 429 | 500..=599 => "retry",
            _ => "rejected",
        };
        prop_assert_eq!(class(&outcome), expected, "{:?}", outcome);
    }
    Ok(())
}

fn class(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::TokenDead { .. } => "dead",
        DeliveryOutcome::RetryLater { .. } => "retry",
        DeliveryOutcome::Rejected { .. } => "rejected",
        DeliveryOutcome::ConfigFailure { .. } => "config",
        _ => "other",
    }
}

/// Web Push: 2xx delivered; 404 and 410 kill the subscription; 401 and 403 are
/// configuration; 429 and 5xx retry with the wait given; anything else is refused; the reason
/// names the status and quotes the service's text.
pub fn check_web_push(status: u16, wait: Option<Duration>, detail: &str) -> TestCaseResult {
    let code = StatusCode::from_u16(status).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let outcome = fuzzing::classify_web_push(code, wait, detail);
    let expected = match status {
        200..=299 => "delivered",
        404 | 410 => "dead",
        401 | 403 => "config",
        429 | 500..=599 => "retry",
        _ => "rejected",
    };
    prop_assert_eq!(class(&outcome), expected);
    if let Some(reason) = reason_of(&outcome) {
        prop_assert!(reason.starts_with(&status.to_string()), "{reason}");
        prop_assert!(reason.ends_with(detail), "{reason}");
    }
    if let DeliveryOutcome::RetryLater { retry_after, .. } = outcome {
        prop_assert_eq!(retry_after, wait);
    }
    Ok(())
}

/// A wait as a gateway passes it on: none, or any duration.
pub fn wait() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of(any::<u64>().prop_map(Duration::from_secs))
}
