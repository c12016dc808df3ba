//! FCM access tokens against the loopback mock: the RS256 assertion, one shared token, exactly
//! one refresh at expiry, refresh ahead without blocking, one replacement after a 401, custom
//! token sources, and token endpoint failures.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use beams_core::{DeliveryOutcome, PushGateway, async_trait};
use beams_push::Transport;
use beams_push::fcm::{
    AccessToken, AccessTokenError, AccessTokenSource, FcmGateway, ServiceAccountKey,
};
use beams_test_support::fcm_fixtures::{
    PROJECT, TestKey, batch, bounded, clock, payload, service_account_json,
};
use beams_test_support::fcm_mock::{Answer, MockGoogle};
use serde_json::json;

fn all_delivered(outcomes: &[DeliveryOutcome]) -> bool {
    outcomes.iter().all(|o| *o == DeliveryOutcome::Delivered)
}

/// A gateway on a manual clock that has sent once, so it holds a token; and its payload.
async fn gateway_with_a_token(
    mock: &MockGoogle,
    clock: &beams_core::ManualClock,
) -> (Arc<FcmGateway>, Arc<beams_core::Payload>) {
    let gateway = Arc::new(mock.gateway(clock));
    let hello = payload(json!({"data": {"k": "v"}}));
    assert!(all_delivered(&gateway.send(&batch(&hello, 0..1)).await));
    (gateway, hello)
}

/// `count` one-message sends at once, each its own task.
fn concurrent_sends(
    gateway: &Arc<FcmGateway>,
    hello: &Arc<beams_core::Payload>,
    count: u64,
) -> Vec<tokio::task::JoinHandle<Vec<DeliveryOutcome>>> {
    (0..count)
        .map(|n| {
            let gateway = Arc::clone(gateway);
            let outgoing = batch(hello, n + 1..n + 2);
            tokio::spawn(async move { gateway.send(&outgoing).await })
        })
        .collect()
}

#[tokio::test]
async fn the_assertion_is_verified_and_one_token_serves_every_send() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.gateway(&clock);
        let hello = payload(json!({"notification": {"title": "Hi"}}));
        for round in 0..3 {
            let outcomes = gateway
                .send(&batch(&hello, round * 10..round * 10 + 10))
                .await;
            assert!(all_delivered(&outcomes), "{outcomes:?}");
        }
        assert_eq!(mock.assertions_refused(), 0);
        assert_eq!(mock.tokens_issued(), 1);
        assert_eq!(mock.sends_with_token(1), 30);
        assert_eq!(mock.http2_requests(), 31, "token and messages over HTTP/2");
        let stats = gateway.stats();
        assert_eq!((stats.delivered, stats.token_refreshes), (30, 1));
    })
    .await;
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_is_a_config_failure_tried_once() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let impostor = TestKey::generate();
        let gateway = FcmGateway::builder(
            ServiceAccountKey::from_json(&service_account_json(&impostor, &mock.token_uri()))
                .unwrap(),
        )
        .base_url(mock.base_url())
        .transport(Transport::PlainText)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..20)).await;
        for outcome in &outcomes {
            let DeliveryOutcome::ConfigFailure { reason } = outcome else {
                panic!("{outcome:?}");
            };
            assert!(reason.contains("invalid_grant"), "{reason}");
        }
        assert_eq!(
            mock.assertions_refused(),
            1,
            "a failure is shared, not retried 20 times"
        );
        assert_eq!(mock.sends(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_sends_at_expiry_cause_exactly_one_refresh() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let (gateway, hello) = gateway_with_a_token(&mock, &clock).await;
        clock.advance(Duration::from_secs(3600));

        let sends = concurrent_sends(&gateway, &hello, 200);
        for send in sends {
            let outcomes = send.await.unwrap();
            assert!(all_delivered(&outcomes), "{outcomes:?}");
        }
        assert_eq!(mock.tokens_issued(), 2, "exactly one refresh");
        assert_eq!(
            mock.sends_with_token(2),
            200,
            "no send used the expired token"
        );
        assert_eq!(mock.unauthorized(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn near_expiry_one_task_refreshes_while_the_others_keep_the_valid_token() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let (gateway, hello) = gateway_with_a_token(&mock, &clock).await;
        // Two minutes left: due for refresh, still good to use.
        clock.advance(Duration::from_secs(3600 - 120));
        mock.hold_token_answers();

        let sends = concurrent_sends(&gateway, &hello, 200);
        // While the one refresh hangs, the 199 others are sent with the current token.
        while mock.accepted() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(mock.tokens_issued(), 1);
        mock.release_token_answers();
        for send in sends {
            assert!(all_delivered(&send.await.unwrap()));
        }
        assert_eq!(mock.tokens_issued(), 2, "exactly one refresh");
        assert_eq!(mock.sends_with_token(1), 200);
        assert_eq!(
            mock.sends_with_token(2),
            1,
            "the refresher sends with the new token"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_revoked_mid_batch_is_replaced_once_and_the_batch_completes() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.builder(&clock).max_in_flight(50).build().unwrap();
        mock.revoke_after_accepted(100);
        let outgoing = batch(&payload(json!({"data": {"k": "v"}})), 0..1000);
        let outcomes = gateway.send(&outgoing).await;
        assert_eq!(outcomes.len(), 1000);
        assert!(all_delivered(&outcomes), "{outcomes:?}");
        assert!(mock.unauthorized() >= 1, "the token was refused mid-batch");
        assert_eq!(mock.tokens_issued(), 2, "one refresh for all the refusals");
        assert_eq!(mock.accepted(), 1000);
    })
    .await;
}

/// A source of one fixed token, counting its calls.
#[derive(Debug)]
struct FixedToken {
    value: &'static str,
    fetches: AtomicU64,
}

#[async_trait]
impl AccessTokenSource for FixedToken {
    async fn fetch(&self) -> Result<AccessToken, AccessTokenError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(self.value, Duration::from_secs(3600)))
    }
}

fn with_source(mock: &MockGoogle, source: Arc<FixedToken>) -> FcmGateway {
    FcmGateway::builder_with_token_source(PROJECT, source)
        .base_url(mock.base_url())
        .transport(Transport::PlainText)
        .clock(Arc::new(clock()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_injected_token_source_is_used_and_cached() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        mock.accept_token("ya29.workload-identity");
        let source = Arc::new(FixedToken {
            value: "ya29.workload-identity",
            fetches: AtomicU64::new(0),
        });
        let gateway = with_source(&mock, source.clone());
        let hello = payload(json!({}));
        assert!(all_delivered(&gateway.send(&batch(&hello, 0..5)).await));
        assert!(all_delivered(&gateway.send(&batch(&hello, 5..10)).await));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        assert_eq!(
            mock.tokens_issued(),
            0,
            "the key-file token endpoint is not used"
        );
    })
    .await;
}

#[tokio::test]
async fn a_fresh_token_refused_again_is_a_config_failure() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let source = Arc::new(FixedToken {
            value: "ya29.unknown-to-fcm",
            fetches: AtomicU64::new(0),
        });
        let gateway = with_source(&mock, source.clone());
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..1)).await;
        let [DeliveryOutcome::ConfigFailure { reason }] = outcomes.as_slice() else {
            panic!("{outcomes:?}");
        };
        assert!(reason.contains("401"), "{reason}");
        assert_eq!(
            mock.unauthorized(),
            2,
            "sent once, replaced, sent once more"
        );
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test]
async fn a_token_endpoint_outage_is_retry_later_with_its_retry_after() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let gateway = mock.gateway(&clock);
        mock.queue_token_answer(
            Answer::raw(503, r#"{"error":"unavailable"}"#).with_header("retry-after", "7"),
        );
        let hello = payload(json!({}));
        let outcomes = gateway.send(&batch(&hello, 0..3)).await;
        for outcome in &outcomes {
            let DeliveryOutcome::RetryLater { retry_after, .. } = outcome else {
                panic!("{outcome:?}");
            };
            assert_eq!(*retry_after, Some(Duration::from_secs(7)));
        }
        assert_eq!(mock.sends(), 0);
        // The failure is remembered until the wait is over, then the token endpoint is asked again.
        let outcomes = gateway.send(&batch(&hello, 3..4)).await;
        assert!(matches!(outcomes[0], DeliveryOutcome::RetryLater { .. }));
        clock.advance(Duration::from_secs(7));
        assert!(all_delivered(&gateway.send(&batch(&hello, 4..5)).await));
        assert_eq!(gateway.stats().token_refresh_failures, 1);
    })
    .await;
}

#[tokio::test]
async fn key_material_and_access_tokens_never_show_in_debug() {
    bounded(async {
        let mock = MockGoogle::start(TestKey::shared()).await;
        let clock = clock();
        let builder = mock.builder(&clock);
        let gateway = builder.clone().build().unwrap();
        assert!(all_delivered(
            &gateway.send(&batch(&payload(json!({})), 0..1)).await
        ));
        let pem_body = TestKey::shared().pem.lines().nth(1).unwrap().to_owned();
        for shown in [format!("{builder:?}"), format!("{gateway:?}")] {
            assert!(!shown.contains(&pem_body), "{shown}");
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
            assert!(!shown.contains("ya29.mock"), "{shown}");
            assert!(shown.contains(PROJECT), "{shown}");
        }
    })
    .await;
}

#[tokio::test]
async fn over_tls_with_given_roots_the_gateway_negotiates_http2() {
    bounded(async {
        let (mock, certificate) = MockGoogle::start_tls(TestKey::shared()).await;
        let clock = clock();
        let gateway = FcmGateway::builder(
            ServiceAccountKey::from_json(&mock.service_account_json(TestKey::shared())).unwrap(),
        )
        .base_url(mock.base_url())
        .transport(Transport::TlsWithRoots(vec![certificate]))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..20)).await;
        assert!(all_delivered(&outcomes), "{outcomes:?}");
        assert_eq!(
            mock.http2_requests(),
            21,
            "ALPN chose h2 for the token and the messages"
        );
    })
    .await;
}

#[tokio::test]
async fn extra_roots_reach_fcm_and_the_token_endpoint_behind_a_private_ca() {
    bounded(async {
        let (mock, certificate) = MockGoogle::start_tls(TestKey::shared()).await;
        let gateway = FcmGateway::builder(
            ServiceAccountKey::from_json(&mock.service_account_json(TestKey::shared())).unwrap(),
        )
        .base_url(mock.base_url())
        .transport(Transport::TlsWithExtraRoots(vec![certificate]))
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
        let outcomes = gateway.send(&batch(&payload(json!({})), 0..3)).await;
        assert!(all_delivered(&outcomes), "{outcomes:?}");
        assert_eq!(mock.tokens_issued(), 1, "the token endpoint was reached");
        assert_eq!(mock.accepted(), 3);
    })
    .await;
}
