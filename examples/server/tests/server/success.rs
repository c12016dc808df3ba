//! Every endpoint's success path, with the JSON shapes of SPEC §3 and the registration
//! bodies each official client sends.

use bytes::Bytes;
use hyper::http::Method;
use serde_json::json;

use crate::support::{
    APNS_TOKEN, Answer, FCM_TOKEN, INSTANCE, SECRET, TestServer, example_web_token, token_for,
};

#[tokio::test]
async fn health_answers_ok() {
    let server = TestServer::start(&[]).await;
    let answer = server.get("/health").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"status": "ok"}));
    server.stop().await;
}

#[tokio::test]
async fn the_vapid_public_key_is_a_base64url_p256_point() {
    let server = TestServer::start(&[]).await;
    let answer = server
        .get(&server.device_api("/web-vapid-public-key"))
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let key = body["vapidPublicKey"].as_str().unwrap();
    assert_eq!(key.len(), 87, "65 bytes, unpadded base64url");
    assert!(
        key.starts_with('B'),
        "an uncompressed point starts with 0x04"
    );
    server.stop().await;
}

#[tokio::test]
async fn registration_answers_the_shape_each_client_reads() {
    let server = TestServer::start(&[]).await;

    // iOS: hex token, bundleIdentifier, metadata.
    let apns = server
        .json(
            Method::POST,
            &server.device_api("/devices/apns"),
            &json!({
                "token": APNS_TOKEN,
                "bundleIdentifier": "com.example.app",
                "metadata": {"sdkVersion": "4.0.0", "iosVersion": "17.4", "macosVersion": null}
            }),
        )
        .await;
    assert_eq!(apns.status, 200, "{apns:?}");
    let body = apns.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("apns-"));
    assert_eq!(body["initialInterestSet"], json!([]));

    // Android: FCM token, knownPreviousClientIds, metadata.
    let fcm = server
        .json(
            Method::POST,
            &server.device_api("/devices/fcm"),
            &json!({
                "token": FCM_TOKEN,
                "knownPreviousClientIds": ["fcm-00000000-0000-4000-8000-000000000000"],
                "metadata": {"sdkVersion": "1.9.2", "androidVersion": "14"}
            }),
        )
        .await;
    assert_eq!(fcm.status, 200, "{fcm:?}");
    let body = fcm.json();
    assert!(body["id"].as_str().unwrap().starts_with("fcm-"));
    assert_eq!(body["initialInterestSet"], json!([]));

    // Web: base64 of the PushSubscription JSON.
    let web = server
        .json(
            Method::POST,
            &server.device_api("/devices/web"),
            &json!({"token": example_web_token("a"), "metadata": {"sdkVersion": "2.1.0"}}),
        )
        .await;
    assert_eq!(web.status, 200, "{web:?}");
    let body = web.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let id = body["id"].as_str().unwrap();
    let uuid = id.strip_prefix("web-").unwrap();
    assert_eq!(uuid.len(), 36);
    server.stop().await;
}

#[tokio::test]
async fn a_device_reads_back_with_its_user_and_metadata() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    let path = server.device_api(&format!("/devices/fcm/{device}"));

    let before = server.get(&path).await;
    assert_eq!(before.status, 200);
    assert_eq!(
        before.json(),
        json!({"id": device, "userId": null, "metadata": {"sdkVersion": "1.0.0"}})
    );

    let set = server.set_user(&device, &token_for("alice")).await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json(), json!({}));
    // Setting the same user again is a no-op, still 200.
    assert_eq!(
        server.set_user(&device, &token_for("alice")).await.status,
        200
    );

    let after = server.get(&path).await;
    assert_eq!(
        after.json(),
        json!({"id": device, "userId": "alice", "metadata": {"sdkVersion": "1.0.0"}})
    );
    server.stop().await;
}

#[tokio::test]
async fn metadata_is_replaced() {
    let server = TestServer::start(&[]).await;
    let device = server.register("apns", APNS_TOKEN).await;
    let answer = server
        .json(
            Method::PUT,
            &server.device_api(&format!("/devices/apns/{device}/metadata")),
            &json!({"sdkVersion": "4.1.0", "iosVersion": "18.0"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), json!({}));
    let read = server
        .get(&server.device_api(&format!("/devices/apns/{device}")))
        .await;
    assert_eq!(
        read.json()["metadata"],
        json!({"sdkVersion": "4.1.0", "iosVersion": "18.0"})
    );
    server.stop().await;
}

#[tokio::test]
async fn an_fcm_token_refresh_keeps_the_device_and_its_user() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    assert_eq!(
        server.set_user(&device, &token_for("bob")).await.status,
        200
    );
    let answer = server
        .json(
            Method::PUT,
            &server.device_api(&format!("/devices/fcm/{device}/token")),
            &json!({"token": "refreshed:APA91bNEWTOKEN-abc_def"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), json!({}));
    let stored = server
        .state
        .beams()
        .device(&device.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.token.key(), "refreshed:APA91bNEWTOKEN-abc_def");
    assert_eq!(stored.user.unwrap().as_str(), "bob");
    server.stop().await;
}

#[tokio::test]
async fn stopping_a_device_deletes_it() {
    let server = TestServer::start(&[]).await;
    let device = server.register("web", &example_web_token("stop")).await;
    let path = server.device_api(&format!("/devices/web/{device}"));
    let answer = server.send(Method::DELETE, &path, &[], Bytes::new()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), json!({}));
    server.get(&path).await.assert_error(404);
    server.stop().await;
}

#[tokio::test]
async fn publishing_to_users_answers_a_publish_id_at_once() {
    let server = TestServer::start(&[]).await;
    let answer = server
        .publish(&json!({
            "users": ["alice", "bob"],
            "apns": {"aps": {"alert": {"title": "Hi"}}},
            "fcm": {"notification": {"title": "Hi"}},
            "web": {"notification": {"title": "Hi"}},
            "webhookUrl": "https://example.com/hooks"
        }))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert!(body["publishId"].as_str().unwrap().starts_with("pubid-"));
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_user_answers_200_with_an_empty_body_on_both_paths() {
    let server = TestServer::start(&[]).await;
    let authorization = format!("Bearer {SECRET}");
    let auth = [("authorization", authorization.as_str())];

    // Ruby encodes a space as `+`; the others percent-encode; Python leaves `/` as is.
    let cases = [
        ("customer_api", "alice+smith", "alice smith"),
        ("customer_api", "al%2Bice", "al+ice"),
        ("customer_api", "team/alice", "team/alice"),
        ("customer_api", "%E3%82%A2%E3%83%AA%E3%82%B9", "アリス"),
        ("user_api", "alice%20smith", "alice smith"),
        ("user_api", "al+ice", "al+ice"),
    ];
    for (api, encoded, user) in cases {
        let device = server.register("fcm", FCM_TOKEN).await;
        assert_eq!(server.set_user(&device, &token_for(user)).await.status, 200);
        let path = format!("/{api}/v1/instances/{INSTANCE}/users/{encoded}");
        let answer = server
            .send(Method::DELETE, &path, &auth, Bytes::new())
            .await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert!(answer.body.is_empty(), "{path}: {answer:?}");
        server
            .get(&server.device_api(&format!("/devices/fcm/{device}")))
            .await
            .assert_error(404);
    }

    // A user with no devices: the same answer.
    let path = format!("/customer_api/v1/instances/{INSTANCE}/users/nobody");
    let answer = server
        .send(Method::DELETE, &path, &auth, Bytes::new())
        .await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_auth_example_issues_a_token_for_the_signed_in_user_only() {
    let server = TestServer::start(&[]).await;
    let answer = server
        .send(
            Method::GET,
            "/pusher/beams-auth?user_id=alice",
            &[("x-authenticated-user", "alice")],
            Bytes::new(),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let token = answer.json()["token"].as_str().unwrap().to_owned();
    let verified = server
        .state
        .beams()
        .token_verifier()
        .verify(&token)
        .unwrap();
    assert_eq!(verified.user.as_str(), "alice");

    // The token works for "set user".
    let device = server.register("fcm", FCM_TOKEN).await;
    assert_eq!(server.set_user(&device, &token).await.status, 200);

    server
        .get("/pusher/beams-auth?user_id=alice")
        .await
        .assert_error(401);
    server
        .send(
            Method::GET,
            "/pusher/beams-auth?user_id=alice",
            &[("x-authenticated-user", "mallory")],
            Bytes::new(),
        )
        .await
        .assert_error(403);
    server
        .send(
            Method::GET,
            "/pusher/beams-auth",
            &[("x-authenticated-user", "alice")],
            Bytes::new(),
        )
        .await
        .assert_error(400);
    server.stop().await;
}

#[tokio::test]
async fn browsers_may_call_the_device_api_from_other_origins() {
    let server = TestServer::start(&[]).await;
    let answer = server
        .send(
            Method::OPTIONS,
            &server.device_api("/devices/web/web-00000000-0000-4000-8000-000000000000/user"),
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    // A wildcard never covers `Authorization` (Fetch spec): it must be named.
    let allowed = |answer: &Answer| -> Vec<String> {
        answer
            .headers
            .get_all("access-control-allow-headers")
            .iter()
            .flat_map(|value| value.to_str().unwrap().split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect()
    };
    let names = allowed(&answer);
    assert!(
        names.iter().any(|name| name == "authorization"),
        "{names:?}"
    );

    // The JSON bodies the web SDK sends need `Content-Type` allowed too.
    let answer = server
        .send(
            Method::OPTIONS,
            &server.device_api("/devices/web"),
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let names = allowed(&answer);
    assert!(names.iter().any(|name| name == "content-type"), "{names:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sled_store_serves_the_same_api() {
    let server = TestServer::start(&["--store", "sled"]).await;
    let store = format!("{:?}", server.state.beams().store());
    assert!(store.starts_with("SledDeviceStore"), "{store}");
    let device = server.register("apns", APNS_TOKEN).await;
    assert_eq!(
        server.set_user(&device, &token_for("frank")).await.status,
        200
    );
    let read = server
        .get(&server.device_api(&format!("/devices/apns/{device}")))
        .await;
    assert_eq!(read.json()["userId"], "frank");
    server.stop().await;
}
