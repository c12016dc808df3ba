//! The Web Push gateway against a loopback push service that checks VAPID and decrypts with
//! an independent implementation.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    Batch, DeliveryOutcome, DeviceId, InstanceId, Payload, Platform, PublishId, PushGateway,
    PushToken, Recipient, WebSubscription,
};
use beams_push::Transport;
use beams_push::web_push::{MAX_PLAINTEXT, VapidContact, VapidKey, WebPushGateway};
use beams_test_support::web_push_mock::{self, PushService};
use futures_util::future::join_all;
use serde_json::{Value, json};

fn gateway() -> WebPushGateway {
    WebPushGateway::builder(
        VapidKey::generate().unwrap(),
        VapidContact::new("mailto:ops@example.com").unwrap(),
    )
    .transport(Transport::PlainText)
    .allow_loopback(true)
    .build()
    .unwrap()
}

/// The payload the engine builds for a `web` section: with the `pusher` ids in its `data`.
fn payload(section: Value) -> Arc<Payload> {
    Arc::new(
        Payload::for_publish(
            Platform::Web,
            &InstanceId::new("instance-1").unwrap(),
            &PublishId::generate(),
            section.as_object().unwrap(),
        )
        .unwrap(),
    )
}

/// The browser subscribed as `name` to `service`.
fn recipient(service: &PushService, name: &str) -> Recipient {
    subscribed(service.subscribe(name))
}

/// The browser with `subscription`.
fn subscribed(subscription: WebSubscription) -> Recipient {
    Recipient {
        device: DeviceId::generate(Platform::Web),
        token: PushToken::Web(subscription),
    }
}

/// `payload` to `recipients`.
fn batch(payload: &Arc<Payload>, recipients: Vec<Recipient>) -> Batch {
    Batch {
        payload: Arc::clone(payload),
        recipients,
    }
}

/// The plaintext the gateway makes for a `web` section whose data holds only `blob`.
fn expected_plaintext(payload: &Payload, blob: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "data": {
            "blob": blob,
            "pusher": {"instanceId": payload.instance.as_str(), "publishId": payload.publish_id.as_str()}
        }
    }))
    .unwrap()
}

fn random_below(bound: usize) -> usize {
    let mut bytes = [0_u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    (u64::from_le_bytes(bytes) % bound as u64) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_of_random_sizes_round_trip() {
    let service = PushService::start().await;
    let gateway = gateway();
    let probe = payload(json!({}));
    let overhead = expected_plaintext(&probe, "").len();
    let largest_blob = MAX_PLAINTEXT - overhead;

    let mut batches = Vec::new();
    let mut expected = Vec::new();
    for n in 0..1000 {
        // The first message is the largest that fits; the rest are random up to it.
        let size = if n == 0 {
            largest_blob
        } else {
            random_below(largest_blob + 1)
        };
        let blob = "x".repeat(size);
        let payload = payload(json!({"data": {"blob": blob}}));
        expected.push((format!("/push/{n}"), expected_plaintext(&payload, &blob)));
        batches.push(batch(&payload, vec![recipient(&service, &n.to_string())]));
    }
    assert_eq!(expected[0].1.len(), MAX_PLAINTEXT);

    // A batch is one payload: a thousand sizes are a thousand batches, sent at once.
    let outcomes: Vec<DeliveryOutcome> = join_all(batches.iter().map(|one| gateway.send(one)))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(outcomes.len(), 1000);

    assert!(service.problems().is_empty(), "{:?}", service.problems());
    assert!(outcomes.iter().all(|o| *o == DeliveryOutcome::Delivered));
    let mut received = service.received();
    received.sort_by(|a, b| a.path.cmp(&b.path));
    expected.sort();
    assert_eq!(received.len(), 1000);
    for (got, (path, plaintext)) in received.iter().zip(&expected) {
        assert_eq!(&got.path, path);
        assert_eq!(&got.plaintext, plaintext, "{path}");
        assert_eq!(got.ttl.as_deref(), Some("2419200"), "four weeks by default");
    }
}

/// RFC 8291 Appendix A: the RFC's message decrypts with the independent implementation, so
/// the known-answer test of our encryption (in `encrypt.rs`) checks against a real decryptor.
#[test]
fn the_rfc_8291_example_decrypts_independently() {
    use base64::Engine;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap();
    let browser = web_push_mock::Browser::from_parts(
        &b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"),
        auth,
    );
    let body = b64(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
    assert_eq!(
        browser.decrypt(&body).unwrap(),
        b"When I grow up, I want to be a watermelon"
    );
}

#[tokio::test]
async fn the_official_service_worker_shape_and_headers() {
    let service = PushService::start().await;
    let section = json!({
        "notification": {"title": "Hello", "body": "world", "icon": "https://example.com/i.png",
                         "deep_link": "https://example.com/x", "hide_notification_if_site_has_focus": true},
        "data": {"orderId": "42"},
        "time_to_live": 3600,
        "urgency": "high",
        "topic": "order-42"
    });
    let payload = payload(section.clone());
    let outcomes = gateway()
        .send(&batch(&payload, vec![recipient(&service, "a")]))
        .await;
    assert_eq!(outcomes, vec![DeliveryOutcome::Delivered]);

    let received = service.received();
    let message: Value = serde_json::from_slice(&received[0].plaintext).unwrap();
    assert_eq!(message["notification"], section["notification"]);
    assert_eq!(message["data"]["orderId"], "42");
    assert_eq!(message["data"]["pusher"]["instanceId"], "instance-1");
    assert_eq!(
        message["data"]["pusher"]["publishId"],
        payload.publish_id.as_str()
    );
    assert_eq!(received[0].ttl.as_deref(), Some("3600"));
    assert_eq!(received[0].urgency.as_deref(), Some("high"));
    assert_eq!(received[0].topic.as_deref(), Some("order-42"));
}

#[tokio::test]
async fn too_large_a_payload_is_rejected_and_nothing_is_sent() {
    let service = PushService::start().await;
    let payload = payload(json!({"data": {"blob": "x".repeat(MAX_PLAINTEXT)}}));
    let outcomes = gateway()
        .send(&batch(&payload, vec![recipient(&service, "big")]))
        .await;
    assert!(
        matches!(&outcomes[0], DeliveryOutcome::Rejected { reason } if reason.contains("3993"))
    );
    assert!(service.received().is_empty());
}

#[tokio::test]
async fn each_answer_maps_to_its_outcome() {
    let service = PushService::start().await;
    let payload = payload(json!({"notification": {"title": "x"}}));
    let cases = [
        (201, None, "delivered"),
        (404, None, "dead"),
        (410, None, "dead"),
        (401, None, "config"),
        (403, None, "config"),
        (413, None, "rejected"),
        (429, Some("7"), "retry 7"),
        (500, None, "retry"),
        (503, Some("30"), "retry 30"),
    ];
    let mut recipients = Vec::new();
    for (n, (status, retry_after, _)) in cases.iter().enumerate() {
        service.answer(&n.to_string(), *status, *retry_after);
        recipients.push(recipient(&service, &n.to_string()));
    }
    let outcomes = gateway().send(&batch(&payload, recipients)).await;
    assert_eq!(outcomes.len(), cases.len(), "one outcome per recipient");
    for ((status, _, expected), outcome) in cases.iter().zip(outcomes) {
        let got = match outcome {
            DeliveryOutcome::Delivered => "delivered".to_owned(),
            DeliveryOutcome::TokenDead {
                dead_since: None, ..
            } => "dead".to_owned(),
            DeliveryOutcome::ConfigFailure { .. } => "config".to_owned(),
            DeliveryOutcome::Rejected { .. } => "rejected".to_owned(),
            DeliveryOutcome::RetryLater {
                retry_after: None, ..
            } => "retry".to_owned(),
            DeliveryOutcome::RetryLater {
                retry_after: Some(after),
                ..
            } => format!("retry {}", after.as_secs()),
            other => format!("{other:?}"),
        };
        assert_eq!(&got, expected, "status {status}");
    }
    assert!(service.problems().is_empty(), "{:?}", service.problems());
}

#[tokio::test]
async fn an_unreachable_push_service_is_retried_later() {
    // Bind and drop a listener so its port has nothing behind it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let subscription = beams_core::WebSubscription::from_parts(
        &format!("http://127.0.0.1:{port}/push/gone"),
        beams_core::testing::fixtures::TEST_P256DH,
        beams_core::testing::fixtures::TEST_AUTH,
        beams_core::EndpointRules {
            allow_loopback: true,
        },
    )
    .unwrap();
    let gateway = WebPushGateway::builder(
        VapidKey::generate().unwrap(),
        VapidContact::new("mailto:a@b.c").unwrap(),
    )
    .transport(Transport::PlainText)
    .allow_loopback(true)
    .request_timeout(Duration::from_secs(5))
    .build()
    .unwrap();
    let outcomes = gateway
        .send(&batch(&payload(json!({})), vec![subscribed(subscription)]))
        .await;
    assert!(
        matches!(outcomes[0], DeliveryOutcome::RetryLater { .. }),
        "{outcomes:?}"
    );
}

/// A push service that answers `head` and `body_bytes` of body, then stalls without closing.
async fn stalling_service(head: &'static str, body_bytes: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                // Read the request head and whatever body came with it; the answer does not
                // depend on it.
                let mut buf = vec![0_u8; 64 * 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&vec![b'x'; body_bytes]).await;
                // Hold the connection open, sending nothing more.
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(stream);
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_error_body_that_stalls_is_cut_off_by_the_timeout_and_keeps_its_status() {
    let keys = PushService::start().await.subscribe("keys");
    let origin = stalling_service("HTTP/1.1 410 Gone\r\ncontent-length: 5000\r\n\r\n", 100).await;
    let subscription = beams_core::WebSubscription::from_bytes(
        &format!("{origin}/push/stalled"),
        keys.p256dh(),
        keys.auth(),
        beams_core::EndpointRules {
            allow_loopback: true,
        },
    )
    .unwrap();
    let gateway = WebPushGateway::builder(
        VapidKey::generate().unwrap(),
        VapidContact::new("mailto:ops@example.com").unwrap(),
    )
    .transport(Transport::PlainText)
    .allow_loopback(true)
    .request_timeout(Duration::from_millis(300))
    .max_in_flight(1)
    .build()
    .unwrap();
    let payload = payload(json!({"data": {"blob": "x"}}));
    let two = batch(
        &payload,
        vec![subscribed(subscription.clone()), subscribed(subscription)],
    );
    // One permit and two deliveries: the second is sent only if the first let its permit go.
    let outcomes = tokio::time::timeout(Duration::from_secs(10), gateway.send(&two))
        .await
        .expect("the stalled body does not hold the permit");
    assert_eq!(outcomes.len(), 2, "one outcome per recipient");
    for outcome in outcomes {
        match outcome {
            DeliveryOutcome::TokenDead { reason, .. } => {
                assert!(reason.starts_with("410 Gone: xxx"), "{reason}");
            }
            other => panic!("expected TokenDead, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_long_error_body_keeps_its_first_kibibyte() {
    let keys = PushService::start().await.subscribe("keys");
    let origin = stalling_service(
        "HTTP/1.1 400 Bad Request\r\ncontent-length: 5000\r\n\r\n",
        5000,
    )
    .await;
    let subscription = beams_core::WebSubscription::from_bytes(
        &format!("{origin}/push/long"),
        keys.p256dh(),
        keys.auth(),
        beams_core::EndpointRules {
            allow_loopback: true,
        },
    )
    .unwrap();
    let payload = payload(json!({"data": {"blob": "x"}}));
    let outcomes = gateway()
        .send(&batch(&payload, vec![subscribed(subscription)]))
        .await;
    match &outcomes[..] {
        [DeliveryOutcome::Rejected { reason }] => {
            assert_eq!(reason, &format!("400 Bad Request: {}", "x".repeat(1024)));
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// A listener on 127.0.0.1 that counts the connections made to it.
async fn counting_listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn an_endpoint_that_is_not_a_public_address_is_rejected_without_a_connection() {
    // Subscriptions stored before registration refused such hosts, or a name that resolves to
    // loopback: the check is on the address the client would connect to.
    let (port, accepted) = counting_listener().await;
    let gateway = WebPushGateway::builder(
        VapidKey::generate().unwrap(),
        VapidContact::new("mailto:ops@example.com").unwrap(),
    )
    .transport(Transport::PlainText)
    .request_timeout(Duration::from_secs(5))
    .build()
    .unwrap();
    let loopback_allowed_then = beams_core::EndpointRules {
        allow_loopback: true,
    };
    let endpoints = [
        format!("http://localhost:{port}/by-name"),
        format!("http://127.0.0.1:{port}/literal"),
        format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
    ];
    let recipients = endpoints
        .iter()
        .map(|endpoint| {
            subscribed(
                WebSubscription::from_parts(
                    endpoint,
                    beams_core::testing::fixtures::TEST_P256DH,
                    beams_core::testing::fixtures::TEST_AUTH,
                    loopback_allowed_then,
                )
                .unwrap(),
            )
        })
        .collect();
    let outcomes = gateway.send(&batch(&payload(json!({})), recipients)).await;
    for (endpoint, outcome) in endpoints.iter().zip(&outcomes) {
        let DeliveryOutcome::Rejected { reason } = outcome else {
            panic!("{endpoint}: {outcome:?}");
        };
        assert!(
            reason.contains("not a public internet address"),
            "{endpoint}: {reason}"
        );
    }
    tokio::task::yield_now().await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection reaches the listener"
    );
}
