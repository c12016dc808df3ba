//! A connection that receives GOAWAY or dies is replaced; requests it did not process are
//! sent again on another connection, and none is processed twice.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use beams_core::{DeliveryOutcome, PushGateway};
use beams_test_support::apns_h2_proxy::H2Proxy;
use beams_test_support::apns_mock::{MockApns, MockOptions, TestKey, batch, payload, send_within};
use serde_json::json;

/// A mock that answers after 30 ms and allows `streams` concurrent streams per connection.
async fn slow_mock(key: &TestKey, streams: u32) -> MockApns {
    MockApns::start(
        key,
        MockOptions {
            record: true,
            max_concurrent_streams: Some(streams),
            delay: Some(Duration::from_millis(30)),
            ..MockOptions::default()
        },
    )
    .await
}

fn assert_each_token_processed_once(mock: &MockApns, tokens: usize) {
    let per_token = mock.per_token();
    assert_eq!(per_token.len(), tokens, "every token reached the server");
    let twice: Vec<_> = per_token.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "processed more than once: {twice:?}");
}

#[tokio::test]
async fn streams_above_a_goaway_are_resent_on_a_new_connection_once() {
    let key = TestKey::generate();
    let mock = slow_mock(&key, 100).await;
    // The 12th stream of the first connection gets GOAWAY(last = 11th): streams 1–11 are
    // processed there, every later one must go out again elsewhere.
    let proxy = H2Proxy::start(mock.addr, 100).await;
    proxy.goaway_at(12);
    let gateway = mock.builder_via(&key, proxy.addr).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=60, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 60]);
    assert!(
        proxy.withheld() > 0,
        "some streams were in flight above the GOAWAY"
    );
    assert!(gateway.stats().resent >= proxy.withheld() as u64);
    assert_eq!(proxy.connections(), 2);
    assert_each_token_processed_once(&mock, 60);
    let first_connection = mock.seen().iter().filter(|s| s.connection == 1).count();
    assert_eq!(first_connection, 11);
    mock.assert_no_violations();
}

#[tokio::test]
async fn a_graceful_goaway_finishes_in_flight_requests_and_moves_the_rest() {
    let key = TestKey::generate();
    // Five streams at a time: when GOAWAY comes, five are in flight and the rest queue.
    let mock = slow_mock(&key, 5).await;
    mock.goaway_after(1, 10);
    let gateway = mock.builder(&key).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=60, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 60]);
    assert_eq!(mock.connections(), 2);
    assert_eq!(gateway.stats().connections_opened, 2);
    let on_first = mock.seen().iter().filter(|s| s.connection == 1).count();
    assert!(
        (10..=15).contains(&on_first),
        "{on_first} finished on the first connection"
    );
    assert_each_token_processed_once(&mock, 60);
    mock.assert_no_violations();

    // The replacement keeps working.
    let more = batch(61..=70, &message);
    assert_eq!(
        gateway.send(&more).await,
        vec![DeliveryOutcome::Delivered; 10]
    );
}

#[tokio::test]
async fn a_dead_connection_is_replaced_and_nothing_is_sent_twice() {
    let key = TestKey::generate();
    let mock = slow_mock(&key, 5).await;
    // The first connection drops (no GOAWAY) when its 10th request arrives.
    mock.kill_after(1, 10);
    let gateway = mock.builder(&key).build().unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    let outgoing = batch(1..=40, &message);

    let outcomes = send_within(&gateway, &outgoing).await;

    // Requests in flight on the dead connection may have been processed: they are reported,
    // not resent. Everything else goes through on the replacement.
    let retry = outcomes
        .iter()
        .filter(|o| matches!(o, DeliveryOutcome::RetryLater { .. }))
        .count();
    let delivered = outcomes
        .iter()
        .filter(|o| **o == DeliveryOutcome::Delivered)
        .count();
    assert_eq!(retry + delivered, 40, "{outcomes:?}");
    assert!((1..=5).contains(&retry), "{retry} in flight when it died");
    assert_eq!(mock.connections(), 2);
    let twice: Vec<_> = mock
        .per_token()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "{twice:?}");

    let again = batch(41..=50, &message);
    assert_eq!(
        gateway.send(&again).await,
        vec![DeliveryOutcome::Delivered; 10]
    );
}
