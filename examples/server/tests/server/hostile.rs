//! The open device API as an attacker calls it: endpoints where no push service can be, a
//! known token offered by someone else, floods from one address.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::http::Method;
use serde_json::json;

use crate::support::{FCM_TOKEN, TestServer, example_web_token, token_for};

const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

/// The web registration token for `endpoint` with `auth`.
fn web_token(endpoint: &str, auth: &str) -> String {
    STANDARD
        .encode(json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": auth}}).to_string())
}

async fn register_web(server: &TestServer, token: &str) -> crate::support::Answer {
    server
        .json(
            Method::POST,
            &server.device_api("/devices/web"),
            &json!({"token": token, "metadata": {"sdkVersion": "1.0.0"}}),
        )
        .await
}

#[tokio::test]
async fn endpoints_where_no_push_service_can_be_are_refused_in_every_spelling() {
    let server = TestServer::start_exactly(&[]).await;
    let refused = [
        "https://169.254.169.254/latest",
        "https://10.0.0.1/push",
        "https://127.0.0.1:9/x",
        "https://localhost/x",
        "https://[::1]/x",
        "https://0x7f000001/x",
        "https://0.0.0.0:8443/a",
        "https://[::ffff:127.0.0.1]/a",
        "https://[::ffff:7f00:1]/a",
        "https://127.1/a",
        "HTTPS://localhost/a",
        "https://LOCALHOST./a",
        "https://2130706433/x",
        "https://0177.0.0.1/x",
        "https://0x7f.0.0.1/x",
        "https://127.0.0.1./x",
        "https://100.64.0.1/x",
        "https://192.168.1.1/x",
        "https://172.16.0.1/x",
        "https://224.0.0.1/x",
        "https://240.0.0.1/x",
        "https://255.255.255.255/x",
        "https://[fe80::1]/x",
        "https://[fc00::1]/x",
        "https://[64:ff9b::a9fe:a9fe]/x",
        "https://metadata/x",
        "https://printer.local/x",
        "https://app.localhost/x",
    ];
    for endpoint in refused {
        let answer = register_web(&server, &web_token(endpoint, AUTH)).await;
        let description = answer.assert_error(400);
        assert!(
            description.contains("public internet"),
            "{endpoint}: {description}"
        );
    }
    let accepted = register_web(&server, &web_token("https://push.example.net/x", AUTH)).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    server.stop().await;

    // Allowing loopback endpoints for tests allows loopback only.
    let server = TestServer::start(&[]).await;
    for endpoint in ["https://10.0.0.1/push", "https://169.254.169.254/latest"] {
        register_web(&server, &web_token(endpoint, AUTH))
            .await
            .assert_error(400);
    }
    let loopback = register_web(&server, &web_token("http://127.0.0.1:9/x", AUTH)).await;
    assert_eq!(loopback.status, 200, "{loopback:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_allow_list_of_push_services_refuses_every_other_host() {
    let server = TestServer::start_exactly(&["--web-push-hosts", "well-known"]).await;
    for endpoint in [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/abc",
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
    ] {
        let answer = register_web(&server, &web_token(endpoint, AUTH)).await;
        assert_eq!(answer.status, 200, "{endpoint}: {answer:?}");
    }
    for endpoint in [
        "https://push.example.net/x",
        "https://fcm.googleapis.com.example.net/x",
        "https://evilfcm.googleapis.com.evil/x",
        "https://notfcm.googleapis.com/x",
    ] {
        let description = register_web(&server, &web_token(endpoint, AUTH))
            .await
            .assert_error(400);
        assert!(
            description.contains("allowed hosts"),
            "{endpoint}: {description}"
        );
    }
    server.stop().await;

    let refused = beams_server::Server::from_config(
        &<beams_server::Config as clap::Parser>::try_parse_from([
            "beams-server",
            "--web-push-hosts",
            "https://fcm.googleapis.com/",
        ])
        .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("--web-push-hosts"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_known_token_does_not_take_its_device_over() {
    let server = TestServer::start(&[]).await;

    // Web Push: the victim's endpoint with the attacker's keys.
    let victim_token = example_web_token("victim");
    let victim = server.register("web", &victim_token).await;
    assert_eq!(
        server.set_user(&victim, &token_for("alice")).await.status,
        200
    );
    let subscription: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&victim_token).unwrap()).unwrap();
    let endpoint = subscription["endpoint"].as_str().unwrap();
    let taken = register_web(&server, &web_token(endpoint, "AAAAAAAAAAAAAAAAAAAAAA")).await;
    let description = taken.assert_error(400);
    assert!(description.contains("other keys"), "{description}");
    let device = server
        .get(&server.device_api(&format!("/devices/web/{victim}")))
        .await;
    assert_eq!(device.json()["userId"], "alice", "the user stays");
    // The browser itself, with its own keys, still renews its device.
    let renewed = register_web(&server, &victim_token).await;
    assert_eq!(renewed.status, 200, "{renewed:?}");
    assert_eq!(renewed.json()["id"], victim.as_str());

    // FCM: a signed-in device's token registered by someone else.
    let phone = server.register("fcm", FCM_TOKEN).await;
    let again = server
        .json(
            Method::POST,
            &server.device_api("/devices/fcm"),
            &json!({"token": FCM_TOKEN}),
        )
        .await;
    assert_eq!(again.json()["id"], phone.as_str(), "not signed in: renewed");
    assert_eq!(server.set_user(&phone, &token_for("bob")).await.status, 200);
    let taken = server
        .json(
            Method::POST,
            &server.device_api("/devices/fcm"),
            &json!({"token": FCM_TOKEN}),
        )
        .await;
    let description = taken.assert_error(400);
    assert!(description.contains("signed in"), "{description}");
    assert!(
        !taken
            .body
            .windows(phone.len())
            .any(|w| w == phone.as_bytes())
    );
    let device = server
        .get(&server.device_api(&format!("/devices/fcm/{phone}")))
        .await;
    assert_eq!(device.json()["userId"], "bob");
    server.stop().await;
}

#[tokio::test]
async fn registrations_and_interest_changes_are_limited_per_client() {
    let server = TestServer::start_exactly(&[
        "--allow-loopback-http-endpoints",
        "--registrations-per-minute",
        "3",
        "--interest-changes-per-minute",
        "2",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    let register = |n: usize, forwarded_for: Option<&'static str>| {
        let server = &server;
        async move {
            let body = json!({"token": example_web_token(&format!("rate-{n}"))}).to_string();
            let mut headers = vec![("content-type", "application/json")];
            if let Some(client) = forwarded_for {
                headers.push(("x-forwarded-for", client));
            }
            server
                .send(
                    Method::POST,
                    &server.device_api("/devices/web"),
                    &headers,
                    body,
                )
                .await
        }
    };
    let mut devices = Vec::new();
    for n in 0..3 {
        let answer = register(n, Some("203.0.113.7")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        devices.push(answer.json()["id"].as_str().unwrap().to_owned());
    }
    let limited = register(3, Some("203.0.113.7")).await;
    let description = limited.assert_error(429);
    assert!(description.contains("registrations"), "{description}");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    // Another client behind the same trusted proxy has its own allowance; so does the proxy.
    assert_eq!(register(4, Some("198.51.100.2")).await.status, 200);
    assert_eq!(register(5, None).await.status, 200);
    // What the client claims left of the proxy's own entry is not believed.
    assert_eq!(
        register(6, Some("198.51.100.99, 203.0.113.7")).await.status,
        429
    );

    let interest = |name: &'static str| {
        let server = &server;
        let path = server.device_api(&format!("/devices/web/{}/interests/{name}", devices[0]));
        async move { server.send(Method::POST, &path, &[], "").await }
    };
    assert_eq!(interest("a").await.status, 200);
    assert_eq!(interest("b").await.status, 200);
    interest("c").await.assert_error(429);
    // Reading is not limited.
    let listed = server
        .get(&server.device_api(&format!("/devices/web/{}/interests", devices[0])))
        .await;
    assert_eq!(listed.json()["interests"], json!(["a", "b"]));
    server.stop().await;
}
