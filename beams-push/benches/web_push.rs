//! Web Push: encrypt-only messages/s and encrypt+send to a loopback push service, against the
//! floor every message pays — one P-256 key generation plus one ECDH — measured in the same
//! run (group `web_push`; the target is encrypt ≥ 0.7× the floor's rate).
//!
//! Run with `cargo bench -p beams-push --bench web_push`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use beams_core::testing::fixtures::{TEST_AUTH, TEST_P256DH, push_token};
use beams_core::{
    Batch, DeviceId, EndpointRules, InstanceId, Payload, Platform, PublishId, PushGateway,
    PushToken, Recipient, WebSubscription,
};
use beams_push::Transport;
use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway, encrypt};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

/// Messages per `send` call in the encrypt+send measure.
const BATCH: usize = 100;

/// A push service that accepts everything at once, on 127.0.0.1; returns its origin.
async fn accepting_push_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let origin = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let created = service_fn(|_request| async {
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::CREATED;
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), created)
                    .await;
            });
        }
    });
    origin
}

fn web_push(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts");
    let PushToken::Web(subscription) = push_token(Platform::Web, 1) else {
        unreachable!("a web fixture is a web token");
    };
    let browser_key = *subscription.p256dh();
    let plaintext = vec![b'x'; 1024];

    let mut group = c.benchmark_group("web_push");
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor_keygen_plus_ecdh", |b| {
        b.iter(|| {
            let private = PrivateKey::generate(&ECDH_P256).expect("key generation");
            let peer = UnparsedPublicKey::new(&ECDH_P256, &browser_key);
            agreement::agree(&private, peer, (), |secret| Ok(secret.len())).expect("agreement")
        })
    });
    group.bench_function("encrypt_1kib", |b| {
        b.iter(|| encrypt(black_box(&subscription), black_box(&plaintext)).expect("encrypts"))
    });

    let origin = rt.block_on(accepting_push_service());
    let gateway = WebPushGateway::builder(
        VapidKey::generate().expect("a VAPID key"),
        VapidContact::new("mailto:bench@example.com").expect("a contact"),
    )
    .transport(Transport::PlainText)
    .allow_loopback(true)
    .build()
    .expect("a gateway");
    let payload = Arc::new(Payload {
        publish_id: PublishId::generate(),
        instance: InstanceId::new("bench").expect("an instance id"),
        platform: Platform::Web,
        body: json!({"notification": {"title": "Hi", "body": "x".repeat(900)}}),
    });
    let recipients: Vec<Recipient> = (0..BATCH)
        .map(|n| {
            let subscription = WebSubscription::from_parts(
                &format!("{origin}/push/{n}"),
                TEST_P256DH,
                TEST_AUTH,
                EndpointRules {
                    allow_loopback: true,
                },
            )
            .expect("a loopback subscription");
            Recipient {
                device: DeviceId::generate(Platform::Web),
                token: PushToken::Web(subscription),
            }
        })
        .collect();
    let batch = Batch {
        payload,
        recipients,
    };
    let first = rt.block_on(gateway.send(&batch));
    assert!(
        first
            .iter()
            .all(|o| *o == beams_core::DeliveryOutcome::Delivered),
        "the loopback push service accepts every message: {first:?}"
    );
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("encrypt_and_send_loopback", |b| {
        b.iter(|| rt.block_on(gateway.send(black_box(&batch))))
    });
    group.finish();
}

criterion_group!(benches, web_push);
criterion_main!(benches);
