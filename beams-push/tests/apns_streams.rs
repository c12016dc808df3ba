//! The APNs gateway honours the server's stream limits: one stream until the first success,
//! then the current SETTINGS_MAX_CONCURRENT_STREAMS as it changes; requests queue, none fail.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use beams_core::DeliveryOutcome;
use beams_test_support::apns_h2_proxy::H2Proxy;
use beams_test_support::apns_mock::{
    MockApns, MockOptions, Reply, TestKey, batch, device_token, payload, send_within,
};
use serde_json::json;

#[tokio::test]
async fn the_current_stream_limit_is_never_exceeded_and_a_raised_one_is_used() {
    let key = TestKey::generate();
    let mock = MockApns::start(
        &key,
        MockOptions {
            record: true,
            delay: Some(Duration::from_millis(5)),
            ..MockOptions::default()
        },
    )
    .await;
    // The server says 1 stream; after 10 answers it says 8.
    let proxy = H2Proxy::start(mock.addr, 1).await;
    proxy.raise_after(10, 8);
    let gateway = mock.builder_via(&key, proxy.addr).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=80, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 80]);
    assert!(proxy.violations().is_empty(), "{:?}", proxy.violations());
    assert!(proxy.raised());
    assert_eq!(proxy.max_open_before_raise(), 1);
    assert_eq!(proxy.max_open(), 8, "the raised limit is used in full");
    assert_eq!(proxy.connections(), 1);
    assert_eq!(mock.per_token().values().sum::<usize>(), 80);
    mock.assert_no_violations();
}

#[tokio::test]
async fn one_stream_until_the_first_success_then_many() {
    let key = TestKey::generate();
    let mock = MockApns::start(
        &key,
        MockOptions {
            record: true,
            max_concurrent_streams: Some(100),
            delay: Some(Duration::from_millis(10)),
            ..MockOptions::default()
        },
    )
    .await;
    // The first answers are failures: the connection must stay at one stream through them.
    for n in 1..=3 {
        mock.script(&device_token(n), Reply::error(500, "InternalServerError"));
    }
    let gateway = mock.builder(&key).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=40, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert!(
        outcomes[..3]
            .iter()
            .all(|o| matches!(o, DeliveryOutcome::RetryLater { .. }))
    );
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| *o == DeliveryOutcome::Delivered)
    );
    // The mock records a violation whenever a second stream opens before a success.
    mock.assert_no_violations();
    assert!(
        mock.max_in_flight() > 1,
        "streams widen after the first success"
    );
    assert_eq!(mock.connections(), 1);
}

#[tokio::test]
async fn a_pool_spreads_a_batch_over_its_connections() {
    let key = TestKey::generate();
    let mock = MockApns::start(
        &key,
        MockOptions {
            record: true,
            max_concurrent_streams: Some(4),
            delay: Some(Duration::from_millis(5)),
            ..MockOptions::default()
        },
    )
    .await;
    let gateway = mock.builder(&key).pool_size(3).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=120, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 120]);
    assert_eq!(mock.connections(), 3);
    let mut per_connection = [0usize; 3];
    for seen in mock.seen() {
        per_connection[(seen.connection - 1) as usize] += 1;
    }
    assert!(
        per_connection.iter().all(|n| *n >= 10),
        "{per_connection:?}"
    );
    assert!(mock.max_in_flight() <= 4);
    assert_eq!(
        gateway.stats().provider_tokens_signed,
        1,
        "one token for the pool"
    );
    mock.assert_no_violations();
}

#[tokio::test]
async fn queueing_for_a_stream_does_not_count_against_the_request_timeout() {
    let key = TestKey::generate();
    // One stream, 40 ms an answer: the last of ten waits ~360 ms for its stream.
    let mock = MockApns::start(
        &key,
        MockOptions {
            record: true,
            max_concurrent_streams: Some(1),
            delay: Some(Duration::from_millis(40)),
            ..MockOptions::default()
        },
    )
    .await;
    let gateway = mock
        .builder(&key)
        .request_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=10, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 10]);
    assert_eq!(mock.max_in_flight(), 1);
    mock.assert_no_violations();
}

#[tokio::test]
async fn an_answer_slower_than_the_request_timeout_is_retry_later() {
    let key = TestKey::generate();
    let mock = MockApns::start(
        &key,
        MockOptions {
            delay: Some(Duration::from_millis(500)),
            ..MockOptions::default()
        },
    )
    .await;
    let gateway = mock
        .builder(&key)
        .request_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));

    let outcomes = send_within(&gateway, &batch([1], &message)).await;

    assert!(
        matches!(&outcomes[..], [DeliveryOutcome::RetryLater { reason, .. }] if reason.contains("no answer")),
        "{outcomes:?}"
    );
}
