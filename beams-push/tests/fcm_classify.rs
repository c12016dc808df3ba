//! FCM answers classified per SPEC §5, against the loopback mock: each error class maps to the
//! right outcome, in order, with `Retry-After` carried through; unreachable FCM is transient.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::time::Duration;

use beams_core::{DeliveryOutcome, PushGateway};
use beams_push::Transport;
use beams_push::fcm::{FcmGateway, ServiceAccountKey};
use beams_test_support::fcm_fixtures::{TestKey, batch, bounded, clock, payload, token};
use beams_test_support::fcm_mock::{Answer, MockGoogle};
use serde_json::json;

/// The outcome's class and reason, for comparing whole batches.
fn class(outcome: &DeliveryOutcome) -> (&'static str, String) {
    match outcome {
        DeliveryOutcome::Delivered => ("delivered", String::new()),
        DeliveryOutcome::TokenDead { reason, .. } => ("dead", reason.clone()),
        DeliveryOutcome::RetryLater { reason, .. } => ("retry", reason.clone()),
        DeliveryOutcome::Rejected { reason } => ("rejected", reason.clone()),
        DeliveryOutcome::ConfigFailure { reason } => ("config", reason.clone()),
        other => panic!("unexpected outcome {other:?}"),
    }
}

#[tokio::test]
async fn each_fcm_error_maps_to_its_outcome_in_order() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.gateway(&clock);
        let invalid_token = "The registration token is not a valid FCM registration token";
        let table: [(Answer, &str, &str); 11] = [
            (Answer::raw(200, "{}"), "delivered", ""),
            (
                Answer::fcm_error(404, "NOT_FOUND", Some("UNREGISTERED"), "not found"),
                "dead",
                "UNREGISTERED",
            ),
            (
                Answer::fcm_error(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"), ""),
                "dead",
                "SENDER_ID_MISMATCH",
            ),
            (
                Answer::fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    Some("INVALID_ARGUMENT"),
                    invalid_token,
                ),
                "dead",
                "registration token",
            ),
            (
                Answer::fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    Some("INVALID_ARGUMENT"),
                    "bad color",
                ),
                "rejected",
                "bad color",
            ),
            (
                Answer::fcm_error(401, "UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR"), ""),
                "config",
                "THIRD_PARTY_AUTH_ERROR",
            ),
            (
                Answer::fcm_error(403, "PERMISSION_DENIED", Some("PERMISSION_DENIED"), ""),
                "config",
                "PERMISSION_DENIED",
            ),
            (
                Answer::fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE"), ""),
                "retry",
                "UNAVAILABLE",
            ),
            (
                Answer::fcm_error(500, "INTERNAL", Some("INTERNAL"), ""),
                "retry",
                "INTERNAL",
            ),
            (
                Answer::fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), ""),
                "retry",
                "QUOTA_EXCEEDED",
            ),
            (
                Answer::fcm_error(404, "NOT_FOUND", None, "Requested entity was not found."),
                "config",
                "NOT_FOUND",
            ),
        ];
        for (n, (answer, _, _)) in (0..).zip(&table) {
            mock.script(&token(n), answer.clone());
        }
        let outgoing = batch(&payload(json!({"data": {"k": "v"}})), 0..11);
        let outcomes = gateway.send(&outgoing).await;
        assert_eq!(outcomes.len(), table.len());
        for ((_, expected, in_reason), outcome) in table.iter().zip(&outcomes) {
            let (class, reason) = class(outcome);
            assert_eq!(class, *expected, "{outcome:?}");
            assert!(reason.contains(in_reason), "{reason:?} lacks {in_reason:?}");
        }
        assert_eq!(
            mock.tokens_issued(),
            1,
            "THIRD_PARTY_AUTH_ERROR is not a token refresh"
        );
        let stats = gateway.stats();
        let counts = (
            stats.delivered,
            stats.token_dead,
            stats.rejected,
            stats.config_failure,
            stats.retry_later,
        );
        assert_eq!(counts, (1, 3, 1, 3, 3));
    })
    .await;
}

#[tokio::test]
async fn retry_after_is_carried_through_as_seconds_or_a_date() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.gateway(&clock);
        // The gateway's clock shows 2023-11-14T22:13:20Z; this date is 90 s later.
        let date = "Tue, 14 Nov 2023 22:14:50 GMT";
        let scripts = [
            (
                "QUOTA_EXCEEDED",
                429,
                "RESOURCE_EXHAUSTED",
                Some("120"),
                Some(120),
            ),
            ("UNAVAILABLE", 503, "UNAVAILABLE", Some(date), Some(90)),
            ("INTERNAL", 500, "INTERNAL", None, None),
        ];
        for (n, (code, status, top, header, _)) in (0..).zip(scripts) {
            let mut answer = Answer::fcm_error(status, top, Some(code), "");
            if let Some(value) = header {
                answer = answer.with_header("retry-after", value);
            }
            mock.script(&token(n), answer);
        }
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..3)).await;
        for ((code, .., wait), outcome) in scripts.iter().zip(&outcomes) {
            let DeliveryOutcome::RetryLater {
                retry_after,
                reason,
            } = outcome
            else {
                panic!("{outcome:?}");
            };
            assert_eq!(*retry_after, wait.map(Duration::from_secs), "{code}");
            assert!(reason.contains(code), "{reason}");
        }
    })
    .await;
}

#[tokio::test]
async fn answers_that_are_not_fcm_json_are_classified_by_status() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.gateway(&clock);
        mock.script(&token(0), Answer::raw(502, "<html>Bad Gateway</html>"));
        mock.script(&token(1), Answer::raw(413, "too large"));
        mock.script(&token(2), Answer::raw(404, "<html>no</html>"));
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..3)).await;
        let classes: Vec<_> = outcomes.iter().map(|o| class(o).0).collect();
        assert_eq!(classes, ["retry", "rejected", "config"]);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_fcm_is_retry_later_for_every_delivery() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let gateway = FcmGateway::builder(
            ServiceAccountKey::from_json(&mock.service_account_json(TestKey::shared())).unwrap(),
        )
        .base_url(format!("http://{closed}"))
        .transport(Transport::PlainText)
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..4)).await;
        assert_eq!(outcomes.len(), 4);
        for outcome in &outcomes {
            let ("retry", reason) = class(outcome) else {
                panic!("{outcome:?}");
            };
            assert!(reason.contains("FCM"), "{reason}");
        }
        assert_eq!(mock.tokens_issued(), 1, "the token endpoint was reachable");
    })
    .await;
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let gateway = mock.gateway(&clock());
        assert!(
            gateway
                .send(&batch(&payload(json!({})), 0..0))
                .await
                .is_empty()
        );
        assert_eq!(mock.tokens_issued() + mock.sends(), 0);
    })
    .await;
}
