//! A push service's answer, as the engine needs it (RFC 8030 and SHARED SPEC §6).

use std::time::Duration;

use beams_core::DeliveryOutcome;
use http::StatusCode;

/// Classifies a push service's answer: 2xx delivered; 404/410 subscription dead; 401/403
/// VAPID or key problem (config); 413 too big and other 4xx refused; 429 and 5xx retry.
pub(crate) fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: &str,
) -> DeliveryOutcome {
    let reason = if detail.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {detail}")
    };
    match status.as_u16() {
        200..=299 => DeliveryOutcome::Delivered,
        404 | 410 => DeliveryOutcome::TokenDead {
            dead_since: None,
            reason,
        },
        401 | 403 => DeliveryOutcome::ConfigFailure { reason },
        429 | 500..=599 => DeliveryOutcome::RetryLater {
            retry_after,
            reason,
        },
        _ => DeliveryOutcome::Rejected { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap();
        match classify(status, None, "") {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::TokenDead { .. } => "dead",
            DeliveryOutcome::ConfigFailure { .. } => "config",
            DeliveryOutcome::RetryLater { .. } => "retry",
            DeliveryOutcome::Rejected { .. } => "rejected",
            _ => "other",
        }
    }

    #[test]
    fn every_status_class_maps_to_its_outcome() {
        let table = [
            (201, "delivered"),
            (200, "delivered"),
            (202, "delivered"),
            (404, "dead"),
            (410, "dead"),
            (401, "config"),
            (403, "config"),
            (413, "rejected"),
            (400, "rejected"),
            (429, "retry"),
            (500, "retry"),
            (502, "retry"),
            (503, "retry"),
        ];
        for (status, expected) in table {
            assert_eq!(class(status), expected, "{status}");
        }
    }

    #[test]
    fn retry_after_is_carried() {
        let outcome = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(9)),
            "slow down",
        );
        assert_eq!(
            outcome,
            DeliveryOutcome::RetryLater {
                retry_after: Some(Duration::from_secs(9)),
                reason: "429 Too Many Requests: slow down".into()
            }
        );
    }
}
