//! The APNs gateway against a loopback mock speaking real HTTP/2: requests, provider JWTs,
//! and the classification of every answer (SPEC §4).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    Batch, DeliveryOutcome, FcmToken, ManualClock, Payload, PushGateway, PushToken, Timestamp,
};
use beams_push::ConfigError;
use beams_push::apns::ApnsGateway;
use beams_test_support::apns_mock::{
    self, MockApns, MockOptions, Reply, TestKey, batch, device_token, payload, recipient,
};
use serde_json::json;

async fn mock(key: &TestKey) -> MockApns {
    MockApns::start(
        key,
        MockOptions {
            record: true,
            ..MockOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn every_answer_maps_to_its_outcome_in_order() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let scripted: Vec<(Reply, DeliveryOutcome)> = vec![
        (Reply::Ok, DeliveryOutcome::Delivered),
        (
            Reply::Error {
                status: 410,
                reason: "Unregistered",
                timestamp: Some(1_700_000_000_123),
                retry_after: None,
            },
            DeliveryOutcome::TokenDead {
                dead_since: Some(Timestamp::from_unix_millis(1_700_000_000_123)),
                reason: "Unregistered".into(),
            },
        ),
        (
            Reply::error(400, "BadDeviceToken"),
            DeliveryOutcome::TokenDead {
                dead_since: None,
                reason: "BadDeviceToken".into(),
            },
        ),
        (
            Reply::error(400, "DeviceTokenNotForTopic"),
            DeliveryOutcome::TokenDead {
                dead_since: None,
                reason: "DeviceTokenNotForTopic".into(),
            },
        ),
        (
            Reply::error(413, "PayloadTooLarge"),
            DeliveryOutcome::Rejected {
                reason: "PayloadTooLarge".into(),
            },
        ),
        (
            Reply::error(400, "BadCollapseId"),
            DeliveryOutcome::Rejected {
                reason: "BadCollapseId".into(),
            },
        ),
        (
            Reply::error(403, "InvalidProviderToken"),
            DeliveryOutcome::ConfigFailure {
                reason: "InvalidProviderToken".into(),
            },
        ),
        (
            Reply::error(403, "SomeFutureReason"),
            DeliveryOutcome::ConfigFailure {
                reason: "SomeFutureReason".into(),
            },
        ),
        (
            Reply::Error {
                status: 429,
                reason: "TooManyRequests",
                timestamp: None,
                retry_after: Some(7),
            },
            DeliveryOutcome::RetryLater {
                retry_after: Some(Duration::from_secs(7)),
                reason: "TooManyRequests".into(),
            },
        ),
        (
            Reply::error(500, "InternalServerError"),
            DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "InternalServerError".into(),
            },
        ),
        (
            Reply::error(503, "ServiceUnavailable"),
            DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "ServiceUnavailable".into(),
            },
        ),
        (
            Reply::Bare(502),
            DeliveryOutcome::RetryLater {
                retry_after: None,
                reason: "HTTP 502".into(),
            },
        ),
    ];
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    for (n, (reply, _)) in scripted.iter().enumerate() {
        mock.script(&device_token(n + 1), reply.clone());
    }
    let gateway = mock.builder(&key).build().unwrap();

    let outcomes = gateway.send(&batch(1..=scripted.len(), &message)).await;

    let expected: Vec<DeliveryOutcome> = scripted.into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, expected);
    mock.assert_no_violations();
    let stats = gateway.stats();
    assert_eq!(
        (stats.delivered, stats.token_dead, stats.rejected),
        (1, 3, 2)
    );
    assert_eq!((stats.config_failures, stats.retry_later), (2, 4));
}

#[tokio::test]
async fn requests_carry_the_documented_path_headers_and_body() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let gateway = mock.builder(&key).build().unwrap();
    let alert = payload(json!({"aps": {"alert": "Hi"}, "thread": 7}));
    // The Beams keys beside `aps` are headers; `apns-headers` sets the others.
    let silent = payload(json!({
        "aps": {"content-available": 1},
        "collapse_id": "inbox", "expiration": 1_900_000_000u64,
        "apns-headers": {"apns-id": "123e4567-e89b-12d3-a456-4266554400a0"}
    }));
    let voip = payload(json!({"aps": {}, "apns-headers": {"apns-push-type": "voip"}}));

    let outcomes = send_each(&gateway, [(1, &alert), (2, &silent), (3, &voip)]).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 3]);
    mock.assert_no_violations();
    let mut seen = mock.seen();
    seen.sort_by(|a, b| a.token.cmp(&b.token));
    let header = |i: usize, name: &str| {
        seen[i]
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(seen[0].token, device_token(1));
    assert_eq!(&seen[0].body[..], br#"{"aps":{"alert":"Hi"},"thread":7}"#);
    assert_eq!(header(0, "apns-push-type").as_deref(), Some("alert"));
    assert_eq!(header(0, "apns-priority").as_deref(), Some("10"));
    // No expiration given: APNs may store it for a phone that is offline now.
    let expiration: u64 = header(0, "apns-expiration")
        .expect("an expiration")
        .parse()
        .expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(expiration > now + 7 * 24 * 3600, "{expiration}");
    assert_eq!(header(0, "apns-topic").as_deref(), Some(apns_mock::TOPIC));
    assert_eq!(header(0, "apns-collapse-id"), None);

    assert_eq!(&seen[1].body[..], br#"{"aps":{"content-available":1}}"#);
    assert_eq!(header(1, "apns-push-type").as_deref(), Some("background"));
    assert_eq!(header(1, "apns-priority").as_deref(), Some("5"));
    assert_eq!(header(1, "apns-expiration").as_deref(), Some("1900000000"));
    assert_eq!(header(1, "apns-collapse-id").as_deref(), Some("inbox"));
    assert_eq!(
        header(1, "apns-id").as_deref(),
        Some("123e4567-e89b-12d3-a456-4266554400a0")
    );

    let voip_topic = format!("{}.voip", apns_mock::TOPIC);
    assert_eq!(
        header(2, "apns-topic").as_deref(),
        Some(voip_topic.as_str())
    );
    // One provider token for all of them.
    assert_eq!(mock.token_iats().len(), 1);
}

#[tokio::test]
async fn oversized_payloads_are_rejected_without_sending() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let gateway = mock.builder(&key).build().unwrap();
    let big = payload(json!({"aps": {"alert": "x".repeat(4100)}}));
    let voip_ok = payload(json!({
        "aps": {"alert": "x".repeat(4100)}, "apns-headers": {"apns-push-type": "voip"}
    }));
    let voip_big = payload(json!({
        "aps": {"alert": "x".repeat(5200)}, "apns-headers": {"apns-push-type": "voip"}
    }));

    let outcomes = send_each(&gateway, [(1, &big), (2, &voip_ok), (3, &voip_big)]).await;

    assert!(
        matches!(&outcomes[0], DeliveryOutcome::Rejected { reason } if reason.contains("more than the 4096"))
    );
    assert_eq!(outcomes[1], DeliveryOutcome::Delivered);
    assert!(
        matches!(&outcomes[2], DeliveryOutcome::Rejected { reason } if reason.contains("more than the 5120"))
    );
    let per_token = mock.per_token();
    assert_eq!(
        per_token.len(),
        1,
        "only the VoIP payload within 5120 bytes was sent"
    );
    assert!(per_token.contains_key(&device_token(2)));
    // The same verdicts before sending, as the engine asks when a publish arrives.
    assert!(gateway.check(&big).is_err());
    assert!(gateway.check(&voip_ok).is_ok());
    assert!(gateway.check(&voip_big).is_err());
}

#[tokio::test]
async fn expired_provider_token_is_resigned_once_and_retried() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let gateway = mock
        .builder(&key)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    // The first token is signed now and works.
    assert_eq!(
        gateway.send(&batch([1], &message)).await,
        vec![DeliveryOutcome::Delivered]
    );
    // 25 minutes later APNs calls it expired: past the 20-minute floor, so re-sign and retry.
    clock.advance(Duration::from_secs(25 * 60));
    let fresh_from = clock.now_secs();
    mock.script(&device_token(2), Reply::ExpiredBefore { iat: fresh_from });

    let outcomes = gateway.send(&batch([2], &message)).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered]);
    assert_eq!(mock.token_iats(), vec![1_700_000_000, fresh_from]);
    assert_eq!(gateway.stats().provider_tokens_signed, 2);
    mock.assert_no_violations();
}

#[tokio::test]
async fn expired_provider_token_within_the_floor_is_a_config_failure() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let gateway = mock
        .builder(&key)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    // APNs calls a token expired though we signed it 5 minutes ago: our clock is wrong, and
    // re-signing now would only earn TooManyProviderTokenUpdates.
    mock.script(
        &device_token(1),
        Reply::ExpiredBefore { iat: 1_800_000_000 },
    );
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    assert_eq!(
        gateway.send(&batch([2], &message)).await,
        vec![DeliveryOutcome::Delivered]
    );
    clock.advance(Duration::from_secs(5 * 60));

    let outcomes = gateway.send(&batch([1], &message)).await;

    assert!(
        matches!(&outcomes[0], DeliveryOutcome::ConfigFailure { reason } if reason.contains("ExpiredProviderToken")),
        "{outcomes:?}"
    );
    assert_eq!(gateway.stats().provider_tokens_signed, 1);
    mock.assert_no_violations();
}

#[tokio::test]
async fn a_token_of_another_platform_is_rejected_and_not_sent() {
    let key = TestKey::generate();
    let mock = mock(&key).await;
    let gateway = mock.builder(&key).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let mut mixed = batch([1, 2], &message);
    mixed.recipients[0].token = PushToken::Fcm(FcmToken::new("abcdefgh:ijk").unwrap());

    let outcomes = gateway.send(&mixed).await;

    assert!(matches!(outcomes[0], DeliveryOutcome::Rejected { .. }));
    assert_eq!(outcomes[1], DeliveryOutcome::Delivered);
    assert_eq!(mock.per_token().len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_makes_every_delivery_retry_later() {
    let key = TestKey::generate();
    // Bind and drop: nothing listens on this loopback port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = ApnsGateway::builder(&key.pem, apns_mock::KEY_ID, apns_mock::TEAM_ID, "com.x")
        .endpoint(beams_push::apns::ApnsEndpoint::custom(
            format!("http://127.0.0.1:{port}"),
            beams_push::Transport::PlainText,
        ))
        .pool_size(2)
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let five = batch(1..=5, &message);

    let outcomes = tokio::time::timeout(Duration::from_secs(20), gateway.send(&five))
        .await
        .unwrap();

    assert_eq!(outcomes.len(), 5);
    for outcome in outcomes {
        assert!(
            matches!(outcome, DeliveryOutcome::RetryLater { .. }),
            "{outcome:?}"
        );
    }
}

#[test]
fn the_signing_key_never_shows_in_debug() {
    let key = TestKey::generate();
    let builder = ApnsGateway::builder(&key.pem, "ABC123DEFG", "DEF123GHIJ", "com.x");
    let body: String = key.pem.lines().nth(1).unwrap().to_owned();
    assert!(!format!("{builder:?}").contains(&body));
    let gateway = builder.build().unwrap();
    assert!(!format!("{gateway:?}").contains(&body));
    assert!(format!("{gateway:?}").contains("[redacted]"));
}

#[test]
fn bad_credentials_and_settings_are_typed_errors() {
    let key = TestKey::generate();
    let build = |pem: &str, key_id: &str, topic: &str| {
        ApnsGateway::builder(pem, key_id, "DEF123GHIJ", topic).build()
    };
    assert!(matches!(
        build("not a key", "ABC123DEFG", "com.x"),
        Err(ConfigError::Invalid { field: "key", .. })
    ));
    assert!(matches!(
        build(&key.pem, "", "com.x"),
        Err(ConfigError::Invalid {
            field: "key_id",
            ..
        })
    ));
    assert!(matches!(
        build(&key.pem, "ABC123DEFG", "com x"),
        Err(ConfigError::Invalid { field: "topic", .. })
    ));
    assert!(matches!(
        ApnsGateway::builder(&key.pem, "ABC123DEFG", "DEF123GHIJ", "com.x")
            .pool_size(0)
            .build(),
        Err(ConfigError::Invalid {
            field: "pool_size",
            ..
        })
    ));
    assert!(matches!(
        ApnsGateway::builder(&key.pem, "ABC123DEFG", "DEF123GHIJ", "com.x")
            .endpoint(beams_push::apns::ApnsEndpoint::custom(
                "http://127.0.0.1:1",
                beams_push::Transport::Tls,
            ))
            .build(),
        Err(ConfigError::Invalid {
            field: "endpoint",
            ..
        })
    ));
}

/// Sends each payload to device `n` as a batch of its own (a batch is one payload), in order.
async fn send_each<const N: usize>(
    gateway: &ApnsGateway,
    sends: [(usize, &Arc<Payload>); N],
) -> Vec<DeliveryOutcome> {
    let mut outcomes = Vec::new();
    for (n, payload) in sends {
        let one = Batch {
            payload: Arc::clone(payload),
            recipients: vec![recipient(&device_token(n))],
        };
        outcomes.extend(gateway.send(&one).await);
    }
    outcomes
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}

impl NowSecs for ManualClock {
    fn now_secs(&self) -> i64 {
        beams_core::Clock::now(self).as_unix_secs()
    }
}
