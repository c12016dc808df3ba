//! Turns an APNs answer into what the engine must do, per (status, reason) with a fallback by
//! status for reasons Apple adds later.

use std::time::Duration;

use beams_core::{DeliveryOutcome, Timestamp};
use serde::Deserialize;

/// What APNs answered to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) reason: Option<String>,
    /// Milliseconds since the epoch; APNs sends it with 410 only.
    pub(crate) timestamp: Option<i64>,
    pub(crate) retry_after: Option<Duration>,
}

/// The answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// `403 ExpiredProviderToken`: re-sign once (respecting the floor) and retry.
    ExpiredProviderToken,
    Outcome(DeliveryOutcome),
}

/// APNs' error body.
#[derive(Deserialize)]
struct ErrorBody {
    reason: Option<String>,
    timestamp: Option<serde_json::Value>,
}

impl Answer {
    /// Reads the status and the JSON error body; `retry_after` is the header, already parsed.
    pub(crate) fn parse(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        // Only a JSON object is APNs' error body: serde would also read the struct from an
        // array (`["BadDeviceToken"]`), which APNs never sends but a proxy might.
        let parsed: Option<ErrorBody> = if body.is_empty() {
            None
        } else {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .filter(serde_json::Value::is_object)
                .and_then(|body| serde_json::from_value(body).ok())
        };
        let (reason, timestamp) = match parsed {
            Some(body) => (
                body.reason.filter(|r| !r.is_empty()),
                body.timestamp.as_ref().and_then(timestamp_millis),
            ),
            None => (None, None),
        };
        Answer {
            status,
            reason,
            timestamp,
            retry_after,
        }
    }

    /// The reason to report: APNs' own, or the status when it gave none.
    fn reason(&self) -> String {
        match &self.reason {
            Some(reason) => reason.clone(),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// A timestamp as a number or a numeric string.
fn timestamp_millis(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies `answer` per SPEC §4.
pub(crate) fn classify(answer: &Answer) -> Verdict {
    let reason = answer.reason.as_deref().unwrap_or("");
    let outcome = match (answer.status, reason) {
        (200, _) => return Verdict::Delivered,
        (403, "ExpiredProviderToken") => return Verdict::ExpiredProviderToken,
        // The device token will never work again for this topic.
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
            DeliveryOutcome::TokenDead {
                dead_since: answer.timestamp.map(Timestamp::from_unix_millis),
                reason: answer.reason(),
            }
        }
        // The topic comes from our configuration, not from the notification.
        (400, "TopicDisallowed" | "BadTopic" | "MissingTopic") => config(answer),
        // APNs closed an idle stream: nothing wrong with the notification.
        (400, "IdleTimeout") => retry(answer),
        (400 | 404 | 405 | 413, _) => DeliveryOutcome::Rejected {
            reason: answer.reason(),
        },
        (401 | 403, _) => config(answer),
        (429, _) | (500..=599, _) => retry(answer),
        // Apple documents only the statuses above; anything else is most likely a proxy or
        // a misconfigured custom endpoint speaking.
        (201..=299, _) => return Verdict::Delivered,
        (400..=499, _) => DeliveryOutcome::Rejected {
            reason: answer.reason(),
        },
        _ => retry(answer),
    };
    Verdict::Outcome(outcome)
}

fn config(answer: &Answer) -> DeliveryOutcome {
    DeliveryOutcome::ConfigFailure {
        reason: answer.reason(),
    }
}

fn retry(answer: &Answer) -> DeliveryOutcome {
    DeliveryOutcome::RetryLater {
        retry_after: answer.retry_after,
        reason: answer.reason(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16, body: &str) -> Verdict {
        classify(&Answer::parse(status, None, body.as_bytes()))
    }

    fn outcome(status: u16, body: &str) -> DeliveryOutcome {
        match verdict(status, body) {
            Verdict::Outcome(outcome) => outcome,
            other => panic!("{status} {body}: {other:?}"),
        }
    }

    #[test]
    fn dead_tokens_carry_the_410_timestamp() {
        let dead = outcome(
            410,
            r#"{"reason":"Unregistered","timestamp":1700000000123}"#,
        );
        assert_eq!(
            dead,
            DeliveryOutcome::TokenDead {
                dead_since: Some(Timestamp::from_unix_millis(1_700_000_000_123)),
                reason: "Unregistered".into(),
            }
        );
        for (status, reason) in [
            (410, "ExpiredToken"),
            (400, "BadDeviceToken"),
            (400, "DeviceTokenNotForTopic"),
            (410, "SomethingNew"),
        ] {
            let body = format!(r#"{{"reason":"{reason}"}}"#);
            assert!(
                matches!(
                    outcome(status, &body),
                    DeliveryOutcome::TokenDead {
                        dead_since: None,
                        ..
                    }
                ),
                "{status} {reason}"
            );
        }
    }

    #[test]
    fn bad_requests_keep_the_device() {
        for (status, reason) in [
            (400, "BadCollapseId"),
            (400, "PayloadEmpty"),
            (400, "SomethingNew"),
            (413, "PayloadTooLarge"),
            (404, "BadPath"),
            (405, "MethodNotAllowed"),
            (418, "Teapot"),
        ] {
            let body = format!(r#"{{"reason":"{reason}"}}"#);
            assert_eq!(
                outcome(status, &body),
                DeliveryOutcome::Rejected {
                    reason: reason.into()
                }
            );
        }
    }

    #[test]
    fn credential_and_topic_problems_are_config_failures() {
        for (status, reason) in [
            (403, "InvalidProviderToken"),
            (403, "BadCertificateEnvironment"),
            (403, "Forbidden"),
            (403, "SomethingNew"),
            (400, "TopicDisallowed"),
            (400, "BadTopic"),
        ] {
            let body = format!(r#"{{"reason":"{reason}"}}"#);
            assert!(
                matches!(
                    outcome(status, &body),
                    DeliveryOutcome::ConfigFailure { .. }
                ),
                "{status} {reason}"
            );
        }
        assert_eq!(
            verdict(403, r#"{"reason":"ExpiredProviderToken"}"#),
            Verdict::ExpiredProviderToken
        );
    }

    #[test]
    fn throttling_and_outages_retry_with_retry_after() {
        let answer = Answer::parse(
            429,
            Some(Duration::from_secs(30)),
            br#"{"reason":"TooManyRequests"}"#,
        );
        assert_eq!(
            classify(&answer),
            Verdict::Outcome(DeliveryOutcome::RetryLater {
                retry_after: Some(Duration::from_secs(30)),
                reason: "TooManyRequests".into(),
            })
        );
        for status in [500, 503, 502, 429] {
            assert!(matches!(
                outcome(status, ""),
                DeliveryOutcome::RetryLater {
                    retry_after: None,
                    ..
                }
            ));
        }
        assert_eq!(
            outcome(503, "not json"),
            DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "HTTP 503".into()
            }
        );
    }

    #[test]
    fn only_a_json_object_is_read_as_the_error_body() {
        // serde reads a struct from an array too; APNs never sends one, and a proxy's array
        // must not kill a token.
        assert_eq!(
            outcome(400, r#"["BadDeviceToken", 1700000000123]"#),
            DeliveryOutcome::Rejected {
                reason: "HTTP 400".into()
            }
        );
        assert_eq!(
            outcome(410, r#"["Unregistered", 1700000000123]"#),
            DeliveryOutcome::TokenDead {
                dead_since: None,
                reason: "HTTP 410".into()
            }
        );
    }

    #[test]
    fn success_is_delivered() {
        assert_eq!(verdict(200, ""), Verdict::Delivered);
    }
}
