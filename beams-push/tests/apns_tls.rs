//! The APNs gateway over TLS: the loopback mock behind a generated certificate, ALPN h2.

#![allow(clippy::unwrap_used, reason = "tests")]

use beams_core::{DeliveryOutcome, PushGateway, Timestamp};
use beams_push::Transport;
use beams_push::apns::ApnsEndpoint;
use beams_test_support::apns_mock::{
    MockApns, MockOptions, Reply, TestKey, batch, device_token, payload,
};
use serde_json::json;

async fn tls_mock(key: &TestKey) -> MockApns {
    MockApns::start(
        key,
        MockOptions {
            tls: true,
            record: true,
            ..MockOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_gateway_speaks_http2_over_tls_with_a_given_root() {
    let key = TestKey::generate();
    let mock = tls_mock(&key).await;
    mock.script(
        &device_token(2),
        Reply::Error {
            status: 410,
            reason: "ExpiredToken",
            timestamp: Some(1_650_000_000_000),
            retry_after: None,
        },
    );
    let gateway = mock.builder(&key).pool_size(2).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let mut thirty = batch(1..=30, &message);
    thirty.recipients.swap(0, 1);

    let outcomes = gateway.send(&thirty).await;

    assert_eq!(
        outcomes[0],
        DeliveryOutcome::TokenDead {
            dead_since: Some(Timestamp::from_unix_millis(1_650_000_000_000)),
            reason: "ExpiredToken".into(),
        }
    );
    assert!(
        outcomes[1..]
            .iter()
            .all(|o| *o == DeliveryOutcome::Delivered)
    );
    assert_eq!(mock.per_token().len(), 30);
    mock.assert_no_violations();
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_connection_failure_not_a_dead_token() {
    let key = TestKey::generate();
    let mock = tls_mock(&key).await;
    // Trust only another server's certificate.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let gateway = mock
        .builder(&key)
        .endpoint(ApnsEndpoint::custom(
            format!("https://{}", mock.addr),
            Transport::TlsWithRoots(vec![other.cert.der().clone()]),
        ))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));

    let outcomes = gateway.send(&batch([1, 2], &message)).await;

    assert_eq!(outcomes.len(), 2, "one outcome per recipient");
    for outcome in &outcomes {
        assert!(
            matches!(outcome, DeliveryOutcome::RetryLater { reason, .. } if reason.contains("TLS")),
            "{outcome:?}"
        );
    }
    assert!(mock.per_token().is_empty());
}

#[tokio::test]
async fn extra_roots_are_trusted_beside_the_public_ones() {
    let key = TestKey::generate();
    let mock = tls_mock(&key).await;
    let certificate = mock.certificate().expect("a TLS mock").clone();
    let gateway = mock
        .builder(&key)
        .endpoint(ApnsEndpoint::custom(
            format!("https://{}", mock.addr),
            Transport::TlsWithExtraRoots(vec![certificate]),
        ))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));

    let outcomes = gateway.send(&batch([1, 2, 3], &message)).await;

    assert!(
        outcomes.iter().all(|o| *o == DeliveryOutcome::Delivered),
        "{outcomes:?}"
    );
    assert_eq!(mock.per_token().len(), 3);
    mock.assert_no_violations();
}
