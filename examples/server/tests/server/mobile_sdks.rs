//! The Android and iOS SDKs' HTTP sequences, replayed byte for byte over one keep-alive
//! connection each: register, set the user, report a delivery and an open, meet a 404 after
//! the customer deleted the user and register again, and stop after `deleteUser`.
//!
//! Android speaks through OkHttp and Retrofit (Gson bodies, `application/json;
//! charset=UTF-8`, `x-pusher-library` from an interceptor, OkHttp's own headers after the
//! app's); iOS through URLSession (`Content-Type: application/json` on every request, even
//! those without a body, and `X-Pusher-Library`).

use bytes::Bytes;
use hyper::http::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{INSTANCE, SECRET, TestServer, connect, read_answer, token_for};

const DEVICE_API: &str = "/device_api/v1/instances";
const FCM_TOKEN: &str = "cKr9bX2mS0e:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ-hQMRKRrZuJAEcl7B338qju59zJMjw2DELjzEvxwYv7hH5Ynpc1ODQ0aT4U4OFEeco8ohsN5PjL1iC2dNtk2BAokeMCg2ZXKqpc8FXKmhX94kIxQ";
const APNS_TOKEN: &str = "3f8a1c0b9d2e4f6071829304a5b6c7d8e9f00112233445566778899aabbccdde";

/// An answer read off the wire.
#[derive(Debug)]
struct Raw {
    status_line: String,
    body: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    #[track_caller]
    fn assert_ok_with(&self, body: &Value) {
        assert_eq!(self.status_line, "HTTP/1.1 200 OK", "{self:?}");
        assert_eq!(&self.json(), body, "{self:?}");
    }
}

/// Writes `request` as is and reads the answer.
async fn exchange(stream: &mut TcpStream, request: &str) -> Raw {
    stream.write_all(request.as_bytes()).await.unwrap();
    let text = read_answer(stream).await;
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    Raw {
        status_line: head.lines().next().unwrap_or("").to_owned(),
        body: body.to_owned(),
    }
}

fn host(server: &TestServer) -> &str {
    server.base.trim_start_matches("http://")
}

/// A request as OkHttp writes what Retrofit gives it: the call's own headers (`Authorization`),
/// the SDK interceptor's `x-pusher-library`, then OkHttp's: the body's type and length (an
/// empty body for a PUT without one, none for a DELETE), host, keep-alive, gzip, user agent.
fn okhttp(
    server: &TestServer,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> String {
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if let Some(token) = authorization {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("x-pusher-library: push-notifications-android 1.9.2\r\n");
    match body {
        Some(body) if !body.is_empty() => request.push_str(&format!(
            "Content-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n",
            body.len()
        )),
        Some(_) => request.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    request.push_str(&format!(
        "Host: {}\r\nConnection: Keep-Alive\r\nAccept-Encoding: gzip\r\n\
         User-Agent: okhttp/3.14.9\r\n\r\n{}",
        host(server),
        body.unwrap_or("")
    ));
    request
}

/// A request as URLSession writes the iOS SDK's `URLRequest`: `Content-Type:
/// application/json` and `X-Pusher-Library` always, then its own headers.
fn url_session(
    server: &TestServer,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> String {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         X-Pusher-Library: push-notifications-swift 4.0.0\r\n",
        host(server)
    );
    if let Some(token) = authorization {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str(
        "Accept: */*\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
         User-Agent: Example/1 CFNetwork/1494.0.7 Darwin/23.4.0\r\nConnection: keep-alive\r\n",
    );
    if method != "DELETE" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

/// The customer's server: publish to `user` (every platform section), then later
/// `deleteUser`.
async fn publish_to(server: &TestServer, user: &str) -> String {
    let answer = server
        .publish(&json!({
            "users": [user],
            "apns": {"aps": {"alert": {"title": "Hi", "body": "there"}}},
            "fcm": {"notification": {"title": "Hi", "body": "there"}}
        }))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["publishId"].as_str().unwrap().to_owned()
}

async fn delete_user(server: &TestServer, user: &str) {
    let authorization = format!("Bearer {SECRET}");
    let answer = server
        .send(
            Method::DELETE,
            &format!("/customer_api/v1/instances/{INSTANCE}/users/{user}"),
            &[("authorization", authorization.as_str())],
            Bytes::new(),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

fn device_not_found() -> Value {
    json!({"error": "Device not found", "description": "Could not find the device."})
}

#[tokio::test]
async fn the_android_sdk_registers_reports_registers_again_after_a_404_and_stops() {
    let server = TestServer::start(&[]).await;
    let mut app = connect(&server).await;
    let devices = format!("{DEVICE_API}/{INSTANCE}/devices/fcm");
    let events = format!("/reporting_api/v2/instances/{INSTANCE}/events");
    let token = token_for("alice");

    // First start: a Gson RegisterRequest, with the ids of earlier installs.
    let register = format!(
        r#"{{"token":"{FCM_TOKEN}","knownPreviousClientIds":["fcm-018f2c3d-4e5f-7a6b-8c7d-9e0f1a2b3c4d"],"metadata":{{"sdkVersion":"1.9.2","androidVersion":"14"}}}}"#
    );
    let registered = exchange(
        &mut app,
        &okhttp(&server, "POST", &devices, None, Some(&register)),
    )
    .await;
    assert_eq!(registered.status_line, "HTTP/1.1 200 OK", "{registered:?}");
    let first = registered.json()["id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("fcm-"), "{first}");
    assert_eq!(registered.json()["initialInterestSet"], json!([]));

    // setUserId: a PUT with no body, the Beams Token from the customer's auth endpoint.
    let user = format!("{devices}/{first}/user");
    exchange(
        &mut app,
        &okhttp(&server, "PUT", &user, Some(&token), Some("")),
    )
    .await
    .assert_ok_with(&json!({}));

    // A notification arrives and is opened: the reporting API, as Gson writes the events
    // (nulls left out, declared field order).
    let publish = publish_to(&server, "alice").await;
    let delivery = format!(
        r#"{{"event":"Delivery","deviceId":"{first}","userId":"alice","publishId":"{publish}","timestampSecs":1717171717,"appInBackground":true,"hasDisplayableContent":true,"hasData":false}}"#
    );
    let open = format!(
        r#"{{"event":"Open","deviceId":"{first}","userId":"alice","publishId":"{publish}","timestampSecs":1717171742}}"#
    );
    for body in [&delivery, &open] {
        exchange(
            &mut app,
            &okhttp(&server, "POST", &events, None, Some(body)),
        )
        .await
        .assert_ok_with(&json!({}));
    }
    // Counted once recorded, which happens after the answers: wait for it before the
    // device goes.
    server.reports_settled(2).await;
    let publish = beams_core::PublishId::parse(&publish).unwrap();
    let counts = server.state.reports().ledger().counts(&publish).unwrap();
    assert_eq!(
        (counts.deliveries.fcm, counts.opens.fcm),
        (1, 1),
        "{counts:?}"
    );

    // The customer deletes the user; the app's next device call meets a 404 and registers
    // again, naming its old id, then signs in again.
    delete_user(&server, "alice").await;
    let metadata = format!("{devices}/{first}/metadata");
    let gone = exchange(
        &mut app,
        &okhttp(
            &server,
            "PUT",
            &metadata,
            None,
            Some(r#"{"sdkVersion":"1.9.2","androidVersion":"14"}"#),
        ),
    )
    .await;
    assert_eq!(gone.status_line, "HTTP/1.1 404 Not Found", "{gone:?}");
    assert_eq!(gone.json(), device_not_found());
    let register_again = format!(
        r#"{{"token":"{FCM_TOKEN}","knownPreviousClientIds":["{first}"],"metadata":{{"sdkVersion":"1.9.2","androidVersion":"14"}}}}"#
    );
    let again = exchange(
        &mut app,
        &okhttp(&server, "POST", &devices, None, Some(&register_again)),
    )
    .await;
    assert_eq!(again.status_line, "HTTP/1.1 200 OK", "{again:?}");
    let second = again.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let user = format!("{devices}/{second}/user");
    exchange(
        &mut app,
        &okhttp(&server, "PUT", &user, Some(&token), Some("")),
    )
    .await
    .assert_ok_with(&json!({}));

    // The customer deletes the user again, and the app's stop() deletes its device, which is
    // gone already: 200, or the SDK's job queue would retry it forever.
    delete_user(&server, "alice").await;
    let device = format!("{devices}/{second}");
    exchange(&mut app, &okhttp(&server, "DELETE", &device, None, None))
        .await
        .assert_ok_with(&json!({}));
    server.stop().await;
}

#[tokio::test]
async fn the_ios_sdk_registers_reports_registers_again_after_a_404_and_stops() {
    let server = TestServer::start(&[]).await;
    let mut app = connect(&server).await;
    let devices = format!("{DEVICE_API}/{INSTANCE}/devices/apns");
    let events = format!("/reporting_api/v2/instances/{INSTANCE}/events");
    let token = token_for("alice");

    // Register: the hex device token, the bundle id, metadata without the nil macOS version.
    let register = format!(
        r#"{{"token":"{APNS_TOKEN}","bundleIdentifier":"com.example.beams","metadata":{{"sdkVersion":"4.0.0","iosVersion":"17.4"}}}}"#
    );
    let registered = exchange(
        &mut app,
        &url_session(&server, "POST", &devices, None, &register),
    )
    .await;
    assert_eq!(registered.status_line, "HTTP/1.1 200 OK", "{registered:?}");
    let first = registered.json()["id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("apns-"), "{first}");
    assert_eq!(registered.json()["initialInterestSet"], json!([]));

    let user = format!("{devices}/{first}/user");
    exchange(
        &mut app,
        &url_session(&server, "PUT", &user, Some(&token), ""),
    )
    .await
    .assert_ok_with(&json!({}));

    // The events as JSONEncoder writes them, with the SDK's own `instanceId` field.
    let publish = publish_to(&server, "alice").await;
    let delivery = format!(
        r#"{{"event":"Delivery","instanceId":"{INSTANCE}","publishId":"{publish}","deviceId":"{first}","userId":"alice","timestampSecs":1717171717,"appInBackground":false,"hasDisplayableContent":true,"hasData":true}}"#
    );
    let open = format!(
        r#"{{"event":"Open","instanceId":"{INSTANCE}","publishId":"{publish}","deviceId":"{first}","userId":"alice","timestampSecs":1717171742}}"#
    );
    for body in [&delivery, &open, &delivery] {
        // The last one a retry, as the SDK's queue sends when it missed the answer.
        exchange(&mut app, &url_session(&server, "POST", &events, None, body))
            .await
            .assert_ok_with(&json!({}));
    }
    server.reports_settled(3).await;
    let publish = beams_core::PublishId::parse(&publish).unwrap();
    let counts = server.state.reports().ledger().counts(&publish).unwrap();
    assert_eq!(
        (counts.deliveries.apns, counts.opens.apns),
        (1, 1),
        "{counts:?}"
    );

    // After deleteUser, subscribing meets a 404: the SDK registers again and signs in again.
    delete_user(&server, "alice").await;
    let subscribe = format!("{devices}/{first}/interests/news");
    let gone = exchange(
        &mut app,
        &url_session(&server, "POST", &subscribe, None, ""),
    )
    .await;
    assert_eq!(gone.status_line, "HTTP/1.1 404 Not Found", "{gone:?}");
    assert_eq!(gone.json(), device_not_found());
    let again = exchange(
        &mut app,
        &url_session(&server, "POST", &devices, None, &register),
    )
    .await;
    assert_eq!(again.status_line, "HTTP/1.1 200 OK", "{again:?}");
    let second = again.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let user = format!("{devices}/{second}/user");
    exchange(
        &mut app,
        &url_session(&server, "PUT", &user, Some(&token), ""),
    )
    .await
    .assert_ok_with(&json!({}));
    let subscribe = format!("{devices}/{second}/interests/news");
    exchange(
        &mut app,
        &url_session(&server, "POST", &subscribe, None, ""),
    )
    .await
    .assert_ok_with(&json!({}));

    // deleteUser, then the app's stop().
    delete_user(&server, "alice").await;
    let device = format!("{devices}/{second}");
    exchange(&mut app, &url_session(&server, "DELETE", &device, None, ""))
        .await
        .assert_ok_with(&json!({}));
    server.stop().await;
}
