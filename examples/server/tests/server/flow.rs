//! The whole Authenticated Users flow against a loopback push service that checks VAPID and
//! decrypts with an independent implementation.

use std::time::Duration;

use bytes::Bytes;
use hyper::http::Method;
use serde_json::{Value, json};

use crate::support::{INSTANCE, LIMIT, SECRET, TestServer, token_for, web_token};
use beams_test_support::web_push_mock::PushService;

async fn wait_for_messages(push: &PushService, count: usize) {
    tokio::time::timeout(LIMIT, async {
        while push.received().len() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the push service receives the message within the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_set_user_publish_decrypt_delete_user() {
    let push = PushService::start().await;
    let server = TestServer::start(&[]).await;

    // The browser subscribes and registers as the official web SDK does.
    let subscription = push.subscribe("alice-browser");
    let device = server.register("web", &web_token(&subscription)).await;
    assert_eq!(
        server.set_user(&device, &token_for("alice")).await.status,
        200
    );

    let notification =
        json!({"title": "Hello", "body": "from beams", "deep_link": "https://example.com/inbox"});
    let answer = server
        .publish(&json!({
            "users": ["alice"],
            "web": {"notification": notification, "data": {"order": "42"}}
        }))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let publish_id = answer.json()["publishId"].as_str().unwrap().to_owned();

    wait_for_messages(&push, 1).await;
    assert!(push.problems().is_empty(), "{:?}", push.problems());
    let received = push.received();
    assert_eq!(received[0].path, "/push/alice-browser");
    let message: Value = serde_json::from_slice(&received[0].plaintext).unwrap();
    assert_eq!(message["notification"], notification);
    assert_eq!(message["data"]["order"], "42");
    assert_eq!(message["data"]["pusher"]["publishId"], publish_id.as_str());
    assert_eq!(message["data"]["pusher"]["instanceId"], INSTANCE);

    // Account deletion: the next publish reaches nobody.
    let authorization = format!("Bearer {SECRET}");
    let deleted = server
        .send(
            Method::DELETE,
            &format!("/customer_api/v1/instances/{INSTANCE}/users/alice"),
            &[("authorization", authorization.as_str())],
            Bytes::new(),
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.body.is_empty());

    let again = server
        .publish(&json!({"users": ["alice"], "web": {"notification": {"title": "Gone?"}}}))
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    server.publishes_settled().await;
    assert_eq!(push.received().len(), 1, "nothing reached the deleted user");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_publishes_in_flight() {
    let push = PushService::start().await;
    let server = TestServer::start(&[]).await;
    for n in 0..20 {
        let subscription = push.subscribe(&format!("browser-{n}"));
        let device = server.register("web", &web_token(&subscription)).await;
        assert_eq!(
            server.set_user(&device, &token_for("carol")).await.status,
            200
        );
    }
    let answer = server
        .publish(&json!({"users": ["carol"], "web": {"notification": {"title": "Bye"}}}))
        .await;
    assert_eq!(answer.status, 200);
    // Shut down at once: the accepted publish still reaches every browser.
    server.stop().await;
    assert_eq!(push.received().len(), 20);
    assert!(push.problems().is_empty(), "{:?}", push.problems());
}
