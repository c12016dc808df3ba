//! The readers of push service answers, for the properties of beams-test-support's `hostile`
//! module and its `beams-fuzz` binary. Behind the `fuzzing` feature and hidden from the docs:
//! not an API, and it may change in any release.
//!
//! Each function is the one a gateway calls on what its push service sent, so the properties
//! exercise exactly the code that reads untrusted answers, without a network in between.

use std::time::Duration;

use beams_core::{DeliveryOutcome, Payload, Platform, Timestamp};
use http::{HeaderMap, StatusCode};

use crate::{apns, fcm};

/// What a gateway does with an answer: report an outcome, or first renew its credential and
/// send again (APNs' `403 ExpiredProviderToken`, FCM's plain `401`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// The outcome the engine is told.
    Outcome(DeliveryOutcome),
    /// Renew the credential, then send once more.
    RenewCredential,
}

/// The APNs gateway's reading of a status, its parsed `Retry-After` and the body.
pub fn classify_apns(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Classified {
    use apns::classify::{Answer, Verdict, classify};
    match classify(&Answer::parse(status, retry_after, body)) {
        Verdict::Delivered => Classified::Outcome(DeliveryOutcome::Delivered),
        Verdict::ExpiredProviderToken => Classified::RenewCredential,
        Verdict::Outcome(outcome) => Classified::Outcome(outcome),
    }
}

/// The FCM gateway's reading of an answer; `now` turns a `Retry-After` date into a wait.
pub fn classify_fcm(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Classified {
    use fcm::classify::{Verdict, classify};
    match classify(status, headers, body, now) {
        Verdict::Outcome(outcome) => Classified::Outcome(outcome),
        Verdict::RefreshToken => Classified::RenewCredential,
    }
}

/// The Web Push gateway's reading of a status, its parsed `Retry-After` and the start of the
/// body as text.
pub fn classify_web_push(
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: &str,
) -> DeliveryOutcome {
    crate::web_push::classify::classify(status, retry_after, detail)
}

/// How long a `Retry-After` value asks to wait from `now`, as every gateway reads it.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    crate::retry_after::parse_retry_after(value, now)
}

/// How long the `Retry-After` header of `headers` asks to wait from `now`.
pub fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    crate::retry_after::retry_after(headers, now)
}

/// What the payload's gateway says when a publish arrives
/// ([`PushGateway::check`](beams_core::PushGateway::check)), without building a gateway: the
/// APNs request for topic `com.example.app`, the FCM v1 message, or the Web Push message.
pub fn check_payload(payload: &Payload) -> Result<(), String> {
    match payload.platform {
        Platform::Apns => {
            apns::request::PreparedPayload::new(&payload.body, "com.example.app").map(drop)
        }
        Platform::Fcm => fcm::message::PreparedMessage::from_section(&payload.body).map(drop),
        Platform::Web => crate::web_push::message::web_message(payload).map(drop),
    }
}
