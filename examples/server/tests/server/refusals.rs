//! Refusals: each with the status the official SDKs classify (SPEC §3.1) and a JSON
//! `{"error", "description"}` body.

use bytes::Bytes;
use hyper::http::Method;
use serde_json::json;

use crate::support::{
    APNS_TOKEN, FCM_TOKEN, INSTANCE, SECRET, TestServer, example_web_token, expired_token_for,
    hand_made_token, token_for,
};

const OTHER_INSTANCE: &str = "00000000-0000-4000-8000-000000000000";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn the_publish_and_customer_apis_need_the_secret_key() {
    let server = TestServer::start(&[]).await;
    let body = json!({"users": ["alice"], "web": {"notification": {"title": "Hi"}}}).to_string();
    let publish = server.publish_api("/publishes/users");
    let delete = format!("/customer_api/v1/instances/{INSTANCE}/users/alice");
    for authorization in [
        None,
        Some("Bearer wrong-secret"),
        Some("Basic abc"),
        Some("Bearer"),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        let answer = server
            .send(Method::POST, &publish, &headers, body.clone())
            .await;
        assert_eq!(
            answer.json(),
            json!({"error": "Unauthorized", "description": "Incorrect Secret Key"}),
            "{authorization:?}"
        );
        answer.assert_error(401);
        let answer = server
            .send(Method::DELETE, &delete, &headers, Bytes::new())
            .await;
        assert_eq!(answer.assert_error(401), "Incorrect Secret Key");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_instance_is_404_on_every_api() {
    let server = TestServer::start(&[]).await;
    let authorization = format!("Bearer {SECRET}");
    let auth = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let body = json!({"users": ["alice"], "web": {"notification": {"title": "Hi"}}}).to_string();
    let answers = [
        server
            .send(
                Method::POST,
                &format!("/publish_api/v1/instances/{OTHER_INSTANCE}/publishes/users"),
                &auth,
                body,
            )
            .await,
        server
            .send(
                Method::DELETE,
                &format!("/customer_api/v1/instances/{OTHER_INSTANCE}/users/alice"),
                &auth,
                Bytes::new(),
            )
            .await,
        server
            .get(&format!(
                "/device_api/v1/instances/{OTHER_INSTANCE}/web-vapid-public-key"
            ))
            .await,
        server
            .json(
                Method::POST,
                &format!("/device_api/v1/instances/{OTHER_INSTANCE}/devices/fcm"),
                &json!({"token": FCM_TOKEN}),
            )
            .await,
    ];
    for answer in answers {
        answer.assert_error(404);
        assert_eq!(
            answer.json(),
            json!({"error": "Instance not found", "description": "Could not find the instance"})
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn device_paths_check_the_instance_before_the_device_and_interest() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    let other = |rest: &str| format!("/device_api/v1/instances/{OTHER_INSTANCE}{rest}");
    let known = format!("/devices/fcm/{device}");
    // A real device, an unknown one, a malformed one, and a bad interest name: the instance
    // is refused first every time.
    let requests = [
        (Method::GET, other(&known)),
        (Method::DELETE, other(&known)),
        (Method::PUT, other(&format!("{known}/user"))),
        (Method::PUT, other(&format!("{known}/metadata"))),
        (Method::PUT, other(&format!("{known}/token"))),
        (Method::GET, other(&format!("{known}/interests"))),
        (Method::PUT, other(&format!("{known}/interests"))),
        (Method::POST, other(&format!("{known}/interests/news"))),
        (Method::DELETE, other(&format!("{known}/interests/news"))),
        (
            Method::POST,
            other(&format!("{known}/interests/no%20spaces")),
        ),
        (Method::GET, other("/devices/fcm/not-a-device/interests")),
        (
            Method::POST,
            other("/devices/apns/fcm-00000000-0000-4000-8000-000000000000/interests/x"),
        ),
    ];
    for (method, path) in requests {
        let answer = server.json(method.clone(), &path, &json!({})).await;
        answer.assert_error(404);
        assert_eq!(
            answer.json(),
            json!({"error": "Instance not found", "description": "Could not find the instance"}),
            "{method} {path}"
        );
    }

    // Under the right instance, the device path is checked before the interest name.
    let absent = server
        .device_api("/devices/apns/fcm-00000000-0000-4000-8000-000000000000/interests/no%20spaces");
    let answer = server.send(Method::POST, &absent, &[], Bytes::new()).await;
    answer.assert_error(404);
    assert_ne!(answer.json()["error"], "Instance not found");
    let bad_name = server.device_api(&format!("{known}/interests/no%20spaces"));
    server
        .send(Method::DELETE, &bad_name, &[], Bytes::new())
        .await
        .assert_error(400);
    server.stop().await;
}

#[tokio::test]
async fn set_user_refuses_tokens_as_beams_does() {
    let server = TestServer::start(&[]).await;
    let device = server.register("web", &example_web_token("tokens")).await;
    let issuer = format!("https://{INSTANCE}.pushnotifications.pusher.com");
    let foreign_issuer = format!("https://{OTHER_INSTANCE}.pushnotifications.pusher.com");
    let exp = now() + 3600;

    let cases: [(&str, String, u16); 9] = [
        ("expired", expired_token_for("alice"), 401),
        (
            "wrong signature",
            hand_made_token(
                &json!({"sub": "alice", "iss": issuer, "exp": exp}),
                "not-the-secret",
            ),
            401,
        ),
        (
            "used before issued",
            hand_made_token(
                &json!({"sub": "alice", "iss": issuer, "exp": exp, "iat": now() + 3600}),
                SECRET,
            ),
            401,
        ),
        ("not a JWT", "not.a.jwt".to_owned(), 401),
        (
            "foreign issuer",
            hand_made_token(
                &json!({"sub": "alice", "iss": foreign_issuer, "exp": exp}),
                SECRET,
            ),
            403,
        ),
        (
            "no exp",
            hand_made_token(&json!({"sub": "alice", "iss": issuer}), SECRET),
            400,
        ),
        (
            "no sub",
            hand_made_token(&json!({"iss": issuer, "exp": exp}), SECRET),
            400,
        ),
        (
            "empty sub",
            hand_made_token(&json!({"sub": "", "iss": issuer, "exp": exp}), SECRET),
            400,
        ),
        (
            "165-character sub",
            hand_made_token(
                &json!({"sub": "x".repeat(165), "iss": issuer, "exp": exp}),
                SECRET,
            ),
            400,
        ),
    ];
    for (case, token, status) in cases {
        let answer = server.set_user(&device, &token).await;
        let description = answer.assert_error(status);
        if case == "foreign issuer" {
            assert_eq!(description, "Invalid JWT issuer.");
        }
    }

    // No Authorization header at all.
    let path = server.device_api(&format!("/devices/web/{device}/user"));
    server
        .send(Method::PUT, &path, &[], Bytes::new())
        .await
        .assert_error(401);
    server
        .send(
            Method::PUT,
            &path,
            &[("authorization", "Token abc")],
            Bytes::new(),
        )
        .await
        .assert_error(401);

    // Nothing above associated the device.
    let read = server
        .get(&server.device_api(&format!("/devices/web/{device}")))
        .await;
    assert_eq!(read.json()["userId"], json!(null));
    server.stop().await;
}

#[tokio::test]
async fn a_device_of_another_user_is_refused_until_stopped() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    assert_eq!(
        server.set_user(&device, &token_for("alice")).await.status,
        200
    );
    let answer = server.set_user(&device, &token_for("bob")).await;
    assert_eq!(
        answer.assert_error(400),
        "A User Id is already associated with this device."
    );

    // Stopped (the app's logout), the token registers as a device bob may have.
    let path = server.device_api(&format!("/devices/fcm/{device}"));
    let stopped = server.send(Method::DELETE, &path, &[], Bytes::new()).await;
    assert_eq!(stopped.status, 200);
    assert_eq!(server.get(&path).await.status, 404, "the device is gone");
    let again = server.register("fcm", FCM_TOKEN).await;
    assert_ne!(again, device, "a new device, not the old one renewed");
    assert_eq!(server.set_user(&again, &token_for("bob")).await.status, 200);
    let read = server
        .get(&server.device_api(&format!("/devices/fcm/{again}")))
        .await;
    assert_eq!(read.json()["userId"], "bob");
    server.stop().await;
}

#[tokio::test]
async fn unknown_devices_are_404_so_clients_register_again() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    let real = server.device_api(&format!("/devices/fcm/{device}"));
    let before = server.get(&real).await.json();
    let absent = "fcm-00000000-0000-4000-8000-000000000000";
    let paths = [
        format!("/devices/fcm/{absent}"),
        // The path's platform must be the id's.
        format!("/devices/apns/{device}"),
        format!("/devices/web/{device}"),
        "/devices/fcm/not-a-device-id".to_owned(),
        format!("/devices/sms/{device}"),
    ];
    for path in &paths {
        let path = server.device_api(path);
        for answer in [
            server.get(&path).await,
            server
                .send(
                    Method::PUT,
                    &format!("{path}/user"),
                    &[("authorization", &format!("Bearer {}", token_for("alice")))],
                    Bytes::new(),
                )
                .await,
            server
                .json(
                    Method::PUT,
                    &format!("{path}/metadata"),
                    &json!({"sdkVersion": "1"}),
                )
                .await,
            server
                .json(
                    Method::PUT,
                    &format!("{path}/token"),
                    &json!({"token": FCM_TOKEN}),
                )
                .await,
        ] {
            assert_eq!(
                answer.assert_error(404),
                "Could not find the device.",
                "{path}"
            );
        }
    }
    // Nothing above touched the real device: no user, the same metadata.
    let read = server.get(&real).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json(), before);
    assert_eq!(before["userId"], json!(null));
    server.stop().await;
}

#[tokio::test]
async fn stopping_an_unknown_device_succeeds_on_every_platform_path() {
    let server = TestServer::start(&[]).await;
    // Ids of the right shape that name no device (never registered, or deleted already).
    for platform in ["apns", "fcm", "web"] {
        let device = format!("{platform}-0190f3a2-7b1c-7d4e-8f00-0123456789ab");
        let path = server.device_api(&format!("/devices/{platform}/{device}"));
        for _ in 0..2 {
            let answer = server.send(Method::DELETE, &path, &[], Bytes::new()).await;
            assert_eq!(answer.status, 200, "{path}: {answer:?}");
            assert_eq!(answer.json(), json!({}), "{path}");
        }
        // Every other call on it still says the device is gone, so clients register again.
        server.get(&path).await.assert_error(404);
    }
    // A device stopped twice: the second stop answers as the first did.
    let device = server.register("fcm", FCM_TOKEN).await;
    let path = server.device_api(&format!("/devices/fcm/{device}"));
    for _ in 0..2 {
        let answer = server.send(Method::DELETE, &path, &[], Bytes::new()).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json(), json!({}));
    }
    server.stop().await;
}

#[tokio::test]
async fn stopping_a_malformed_device_id_is_a_bad_request_naming_the_field() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    let cases = [
        ("/devices/fcm/not-a-device-id".to_owned(), "device_id"),
        (
            "/devices/fcm/fcm-0190F3A2-7B1C-7D4E-8F00-0123456789AB".to_owned(),
            "device_id",
        ),
        // The id names a device of another platform than the path.
        (format!("/devices/apns/{device}"), "device_id"),
        (format!("/devices/web/{device}"), "device_id"),
        (format!("/devices/sms/{device}"), "platform"),
    ];
    for (rest, field) in cases {
        let path = server.device_api(&rest);
        let answer = server.send(Method::DELETE, &path, &[], Bytes::new()).await;
        let description = answer.assert_error(400);
        assert!(description.contains(field), "{rest}: {description}");
    }
    // None of them touched the real device.
    let real = server.device_api(&format!("/devices/fcm/{device}"));
    assert_eq!(server.get(&real).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn registration_refuses_tokens_the_platform_would_not_accept() {
    let server = TestServer::start(&[]).await;
    let register = |platform: &'static str, body: serde_json::Value| {
        let server = &server;
        async move {
            server
                .json(
                    Method::POST,
                    &server.device_api(&format!("/devices/{platform}")),
                    &body,
                )
                .await
        }
    };
    let answer = register("apns", json!({"token": "not-hex"})).await;
    assert_eq!(answer.assert_error(401), "Incorrect APNs token supplied");
    let answer = register("fcm", json!({"token": "bad token with spaces"})).await;
    assert_eq!(answer.assert_error(401), "Incorrect FCM token supplied");
    register("web", json!({"token": "bm90IGpzb24="}))
        .await
        .assert_error(400);
    // An http endpoint that is not loopback is refused even with loopback http allowed.
    let insecure = serde_json::to_string(&json!({
        "endpoint": "http://push.example.net/x",
        "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"
        }
    }))
    .unwrap();
    register("web", json!({"token": insecure}))
        .await
        .assert_error(400);

    register("fcm", json!({})).await.assert_error(400);
    register("fcm", json!({"token": 7})).await.assert_error(400);
    register("apns", json!({"token": APNS_TOKEN, "metadata": "v1"}))
        .await
        .assert_error(400);
    register("sms", json!({"token": FCM_TOKEN}))
        .await
        .assert_error(404);
    let malformed = server
        .send(
            Method::POST,
            &server.device_api("/devices/fcm"),
            &[("content-type", "application/json")],
            "{\"token\": ",
        )
        .await;
    malformed.assert_error(400);
    let huge = server
        .send(
            Method::POST,
            &server.device_api("/devices/fcm"),
            &[("content-type", "application/json")],
            vec![b' '; 65 * 1024],
        )
        .await;
    huge.assert_error(400);
    server.stop().await;
}

#[tokio::test]
async fn publishes_that_do_not_fit_the_schema_are_refused() {
    let server = TestServer::start(&[]).await;
    let web = json!({"notification": {"title": "Hi"}});

    let answer = server.publish(&json!({"web": web})).await;
    assert_eq!(
        answer.json(),
        json!({"error": "Bad Request", "description": "`users`: users is required"})
    );
    answer.assert_error(422);

    let users: Vec<String> = (0..1001).map(|n| format!("user-{n}")).collect();
    let answer = server.publish(&json!({"users": users, "web": web})).await;
    assert!(answer.assert_error(422).starts_with("`users`"));

    let answer = server
        .publish(&json!({"users": ["x".repeat(165)], "web": web}))
        .await;
    assert!(answer.assert_error(422).starts_with("`users`"));
    server
        .publish(&json!({"users": [""], "web": web}))
        .await
        .assert_error(422);
    server
        .publish(&json!({"users": []}))
        .await
        .assert_error(422);
    server
        .publish(&json!({"users": ["alice"]}))
        .await
        .assert_error(422);
    server
        .publish(&json!({"users": ["alice"], "web": "hi"}))
        .await
        .assert_error(422);

    let authorization = format!("Bearer {SECRET}");
    let path = server.publish_api("/publishes/users");
    let json_headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    // Malformed JSON.
    server
        .send(Method::POST, &path, &json_headers, "{\"users\": [")
        .await
        .assert_error(400);
    // Not declared as JSON.
    server
        .send(
            Method::POST,
            &path,
            &[
                ("authorization", authorization.as_str()),
                ("content-type", "text/plain"),
            ],
            json!({"users": ["alice"], "web": web}).to_string(),
        )
        .await
        .assert_error(400);
    // Over 200 KiB.
    let padding = "x".repeat(200 * 1024);
    let oversized = json!({"users": ["alice"], "web": {"notification": {"title": padding}}});
    server.publish(&oversized).await.assert_error(400);
    server.stop().await;
}

#[tokio::test]
async fn user_ids_in_paths_are_validated() {
    let server = TestServer::start(&[]).await;
    let authorization = format!("Bearer {SECRET}");
    let auth = [("authorization", authorization.as_str())];
    let long = "x".repeat(165);
    for path in [
        format!("/customer_api/v1/instances/{INSTANCE}/users/"),
        format!("/customer_api/v1/instances/{INSTANCE}/users"),
        format!("/user_api/v1/instances/{INSTANCE}/users/"),
        format!("/customer_api/v1/instances/{INSTANCE}/users/{long}"),
        format!("/user_api/v1/instances/{INSTANCE}/users/{long}"),
        format!("/customer_api/v1/instances/{INSTANCE}/users/%FF"),
    ] {
        server
            .send(Method::DELETE, &path, &auth, Bytes::new())
            .await
            .assert_error(400);
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let server = TestServer::start(&[]).await;
    server.get("/nowhere").await.assert_error(404);
    server
        .send(Method::PATCH, "/health", &[], Bytes::new())
        .await
        .assert_error(405);
    server
        .send(
            Method::PATCH,
            &server.device_api("/devices/web/web-00000000-0000-4000-8000-000000000000"),
            &[],
            Bytes::new(),
        )
        .await
        .assert_error(405);
    server
        .get(&server.publish_api("/publishes/users"))
        .await
        .assert_error(405);
    server.stop().await;
}
