//! The provider token: re-signed at ~50 minutes, never within 20 minutes of the last signing,
//! even when APNs keeps calling it expired, over thousands of sends (clock injected).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::time::Duration;

use beams_core::{DeliveryOutcome, ManualClock, PushGateway, Timestamp};
use beams_test_support::apns_mock::{
    MockApns, MockOptions, Reply, TestKey, batch, device_token, payload, recipient,
};
use serde_json::json;

const START: i64 = 1_700_000_000;

#[tokio::test]
async fn provider_tokens_are_resigned_at_50_minutes_and_never_within_20() {
    let key = TestKey::generate();
    let clock = ManualClock::new(Timestamp::from_unix_secs(START));
    // The mock also refuses (and reports) a token used past its hour, or replaced too soon.
    let mock = MockApns::start(
        &key,
        MockOptions {
            clock: Some(clock.clone()),
            ..MockOptions::default()
        },
    )
    .await;
    let gateway = mock
        .builder(&key)
        .pool_size(2)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let message = payload(json!({"aps": {"alert": "Hi"}}));
    // A token APNs always answers with ExpiredProviderToken.
    let cursed = device_token(usize::MAX);
    mock.script(&cursed, Reply::ExpiredBefore { iat: i64::MAX });

    let mut sent = 0;
    // Five simulated hours, one minute per batch of ten: the first 150 minutes quietly, then
    // with an ExpiredProviderToken answer every 5 minutes.
    for minute in 0..300 {
        let mut ten = batch(minute * 10 + 1..=minute * 10 + 10, &message);
        let cursed_now = minute >= 150 && minute % 5 == 0;
        if cursed_now {
            ten.recipients[9] = recipient(&cursed);
        }
        let outcomes = gateway.send(&ten).await;
        sent += outcomes.len();
        assert!(
            outcomes[..9]
                .iter()
                .all(|o| *o == DeliveryOutcome::Delivered),
            "{outcomes:?}"
        );
        if cursed_now {
            assert!(
                matches!(&outcomes[9], DeliveryOutcome::ConfigFailure { reason } if reason.contains("ExpiredProviderToken")),
                "{:?}",
                outcomes[9]
            );
        } else {
            assert_eq!(outcomes[9], DeliveryOutcome::Delivered);
        }
        clock.advance(Duration::from_secs(60));
    }

    assert_eq!(sent, 3000);
    mock.assert_no_violations();
    let iats = mock.token_iats();
    assert_eq!(gateway.stats().provider_tokens_signed, iats.len() as u64);
    let gaps: Vec<i64> = iats.windows(2).map(|w| (w[1] - w[0]) / 60).collect();
    // Quiet part: every 50 minutes (0, 50, 100, 150).
    assert_eq!(
        &iats[..4],
        &[START, START + 3000, START + 6000, START + 9000]
    );
    // Every gap is within [20, 50] minutes: never sooner, never near the hour.
    assert!(gaps.iter().all(|g| (20..=50).contains(g)), "{gaps:?}");
    assert!(
        gaps[3..].iter().all(|g| *g <= 25),
        "expired answers re-sign as soon as the floor allows: {gaps:?}"
    );
}
