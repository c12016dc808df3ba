//! The Beams `fcm` section as FCM receives it: translated to a v1 message with one target,
//! string-only data and a duration TTL; refused before sending, naming the field, when v1 would
//! refuse it or it is over 4096 bytes.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use beams_core::testing::fixtures::push_token;
use beams_core::{DeliveryOutcome, DeviceId, Platform, PushGateway, Recipient};
use beams_test_support::fcm_fixtures::{TestKey, batch, bounded, clock, payload, token};
use beams_test_support::fcm_mock::MockGoogle;
use serde_json::json;

#[tokio::test]
async fn the_beams_section_arrives_as_a_v1_message() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let gateway = mock.gateway(&clock());
        let section = json!({
            "notification": {"title": "Hello", "body": "Hello, world!", "sound": "default"},
            "data": {"deep_link": "https://example.com/inbox", "count": "3"},
            "time_to_live": 3600,
            "android": {"collapse_key": "inbox"},
        });
        let outcomes = gateway.send(&batch(&payload(section), 7..9)).await;
        assert_eq!(
            outcomes,
            [DeliveryOutcome::Delivered, DeliveryOutcome::Delivered]
        );
        assert_eq!(mock.shape_errors(), Vec::<String>::new());
        let messages = mock.messages();
        assert_eq!(
            messages[0],
            json!({
                "token": token(7),
                "notification": {"title": "Hello", "body": "Hello, world!"},
                "data": {"deep_link": "https://example.com/inbox", "count": "3"},
                "android": {
                    "ttl": "3600s",
                    "collapse_key": "inbox",
                    "notification": {"sound": "default"},
                },
            })
        );
        assert_eq!(messages[1]["token"], token(8));
    })
    .await;
}

#[tokio::test]
async fn data_that_is_not_strings_is_rejected_by_name_and_nothing_is_sent() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let gateway = mock.gateway(&clock());
        let section = json!({"notification": {"title": "Hi"}, "data": {"unread": 3}});
        let outcomes = gateway.send(&batch(&payload(section), 0..3)).await;
        for outcome in &outcomes {
            let DeliveryOutcome::Rejected { reason } = outcome else {
                panic!("{outcome:?}");
            };
            assert!(
                reason.contains("fcm.data.unread must be a string"),
                "{reason}"
            );
        }
        assert_eq!(mock.sends(), 0);
        assert_eq!(mock.tokens_issued(), 0, "not even a token is fetched");
        assert_eq!(gateway.stats().rejected, 3);
    })
    .await;
}

#[tokio::test]
async fn payloads_over_4096_bytes_are_rejected_before_sending() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let gateway = mock.gateway(&clock());
        let section = json!({"data": {"blob": "x".repeat(4096)}});
        let outcomes = gateway.send(&batch(&payload(section), 0..1)).await;
        let [DeliveryOutcome::Rejected { reason }] = outcomes.as_slice() else {
            panic!("{outcomes:?}");
        };
        assert!(reason.contains("4096"), "{reason}");
        assert_eq!(mock.sends(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_refused_payload_or_recipient_is_rejected_in_place_and_never_sent() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let gateway = mock.gateway(&clock());
        let good = payload(json!({"data": {"k": "v"}}));
        let bad = payload(json!({"android": {"ttl": 60}}));

        // A payload v1 would refuse is refused for every recipient, before sending.
        let outcomes = gateway.send(&batch(&bad, 0..3)).await;
        assert_eq!(outcomes.len(), 3);
        for outcome in &outcomes {
            let DeliveryOutcome::Rejected { reason } = outcome else {
                panic!("{outcome:?}");
            };
            assert!(reason.contains("fcm.android.ttl"), "{reason}");
        }
        assert_eq!(mock.sends(), 0);

        // A device of another platform routed here by mistake is refused in its place, not
        // sent; the others are delivered, in order.
        let mut mixed = batch(&good, 3..6);
        mixed.recipients.insert(
            1,
            Recipient {
                device: DeviceId::generate(Platform::Web),
                token: push_token(Platform::Web, 1),
            },
        );
        let outcomes = gateway.send(&mixed).await;
        let delivered: Vec<bool> = outcomes
            .iter()
            .map(|o| *o == DeliveryOutcome::Delivered)
            .collect();
        assert_eq!(delivered, [true, false, true, true]);
        assert!(matches!(&outcomes[1], DeliveryOutcome::Rejected { .. }));
        assert_eq!(mock.sends(), 3);
        assert_eq!(mock.shape_errors(), Vec::<String>::new());
    })
    .await;
}
