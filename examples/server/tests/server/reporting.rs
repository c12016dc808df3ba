//! The reporting API: every well-formed event is answered 200 (never a 404, which the iOS SDK
//! answers by registering again, forever), a malformed one 400 naming its field, and the
//! events of registered devices are counted once per publish, kind and device.

use bytes::Bytes;
use hyper::http::Method;
use serde_json::{Value, json};

use crate::support::{Answer, TestServer, token_for};

const ABSENT_DEVICE: &str = "fcm-0190f3a2-7b1c-7d4e-8f00-0123456789ab";
const OTHER_INSTANCE: &str = "00000000-1111-2222-3333-444444444444";

async fn report(server: &TestServer, body: &Value) -> Answer {
    server
        .json(Method::POST, &server.reporting_api(), body)
        .await
}

/// Registers an FCM device (no FCM gateway runs in the tests: a publish to it stays on this
/// machine) for `user`; returns its id.
async fn device_of(server: &TestServer, user: &str, n: usize) -> String {
    let token = format!("report{n}:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m-9BvP7aEzqNcLmR0v4HQ");
    let device = server.register("fcm", &token).await;
    assert_eq!(server.set_user(&device, &token_for(user)).await.status, 200);
    device
}

async fn publish_to(server: &TestServer, user: &str) -> String {
    let answer = server
        .publish(&json!({"users": [user], "fcm": {"notification": {"title": "Hi"}}}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["publishId"].as_str().unwrap().to_owned()
}

fn event(kind: &str, publish: &str, device: &str) -> Value {
    json!({"event": kind, "publishId": publish, "deviceId": device, "userId": "alice",
        "timestampSecs": 1_700_000_000, "appInBackground": true,
        "hasDisplayableContent": true, "hasData": false})
}

#[tokio::test]
async fn well_formed_events_are_200_and_counted_once_per_registered_device() {
    let server = TestServer::start(&[]).await;
    let phone = device_of(&server, "alice", 0).await;
    let publish = publish_to(&server, "alice").await;
    let never_published = "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df";
    let events = [
        // Each SDK's spelling, a retry, an open.
        event("delivery", &publish, &phone),
        event("Delivery", &publish, &phone),
        event("Open", &publish, &phone),
        event("open", &publish, &phone),
        // A device deleted (or never registered) while its report was in flight.
        event("Delivery", &publish, ABSENT_DEVICE),
        // A publish this server never made.
        event("Open", never_published, &phone),
        // The fields the web service worker may leave null, and iOS's extra `instanceId`.
        json!({"event": "delivery", "publishId": publish, "deviceId": phone, "userId": null,
            "timestampSecs": 1_700_000_000.5, "instanceId": crate::support::INSTANCE}),
    ];
    for body in &events {
        let answer = report(&server, body).await;
        assert_eq!(answer.status, 200, "{body}: {answer:?}");
        assert_eq!(answer.json(), json!({}));
        assert_eq!(answer.headers["content-type"], "application/json");
    }
    server.reports_settled(events.len() as u64).await;
    let ledger = server.state.reports().ledger();
    let publish_id = beams_core::PublishId::parse(&publish).unwrap();
    let counts = ledger.counts(&publish_id).expect("the publish is tracked");
    assert_eq!(counts.deliveries.fcm, 1, "{counts:?}");
    assert_eq!(counts.opens.fcm, 1, "{counts:?}");
    assert_eq!(counts.deliveries.apns + counts.deliveries.web, 0);
    let stranger = beams_core::PublishId::parse(never_published).unwrap();
    assert_eq!(ledger.counts(&stranger), None);
    assert_eq!(server.state.reports().dropped(), 0);
    server.stop().await;
}

#[tokio::test]
async fn malformed_events_are_400_naming_the_field_and_count_nothing() {
    let server = TestServer::start(&[]).await;
    let phone = device_of(&server, "alice", 1).await;
    let publish = publish_to(&server, "alice").await;
    let good = event("Delivery", &publish, &phone);
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("event", json!("Clicked")), "event"),
        (with("event", json!(null)), "event"),
        (with("publishId", json!("pubid-1")), "publishId"),
        (with("publishId", json!(42)), "publishId"),
        (with("deviceId", json!("fcm-not-a-uuid")), "deviceId"),
        (with("deviceId", json!(phone.to_uppercase())), "deviceId"),
        (with("userId", json!("x".repeat(165))), "userId"),
        (with("timestampSecs", json!("1700000000")), "timestampSecs"),
        (with("timestampSecs", json!(-5)), "timestampSecs"),
        (with("appInBackground", json!("yes")), "appInBackground"),
        (
            with("hasDisplayableContent", json!(1)),
            "hasDisplayableContent",
        ),
        (with("hasData", json!([])), "hasData"),
        (json!([good.clone()]), "body"),
    ];
    for (body, field) in &cases {
        let description = report(&server, body).await.assert_error(400);
        assert!(description.contains(field), "{body}: {description}");
    }
    for raw in [
        Bytes::from_static(b"{\"event\":"),
        Bytes::from_static(b""),
        Bytes::from(vec![b' '; beams_core::ReportEvent::MAX_BODY_BYTES + 1]),
    ] {
        let answer = server
            .send(
                Method::POST,
                &server.reporting_api(),
                &[("content-type", "application/json")],
                raw,
            )
            .await;
        let description = answer.assert_error(400);
        assert!(description.to_lowercase().contains("body"), "{description}");
    }
    // Nothing reached the ledger.
    assert_eq!(server.state.reports().processed(), 0);
    let publish_id = beams_core::PublishId::parse(&publish).unwrap();
    assert_eq!(
        server.state.reports().ledger().counts(&publish_id),
        Some(beams_core::EventCounts::default())
    );
    server.stop().await;
}

#[tokio::test]
async fn another_instance_is_404_and_other_methods_405() {
    let server = TestServer::start(&[]).await;
    let body = event(
        "Open",
        "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df",
        ABSENT_DEVICE,
    );
    let answer = server
        .json(
            Method::POST,
            &format!("/reporting_api/v2/instances/{OTHER_INSTANCE}/events"),
            &body,
        )
        .await;
    answer.assert_error(404);
    assert_eq!(
        answer.json(),
        json!({"error": "Instance not found", "description": "Could not find the instance"})
    );
    server.get(&server.reporting_api()).await.assert_error(405);
    server.stop().await;
}

#[tokio::test]
async fn the_web_service_worker_may_report_from_another_origin() {
    let server = TestServer::start(&[]).await;
    let preflight = server
        .send(
            Method::OPTIONS,
            &server.reporting_api(),
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(preflight.status, 200, "{preflight:?}");
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("content-type"), "{allowed}");
    let body = event(
        "delivery",
        "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df",
        ABSENT_DEVICE,
    );
    let answer = server
        .send(
            Method::POST,
            &server.reporting_api(),
            &[
                ("origin", "https://shop.example.com"),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    server.stop().await;
}

#[tokio::test]
async fn reported_events_are_limited_per_client() {
    let server = TestServer::start_exactly(&["--events-per-minute", "2"]).await;
    let body = event(
        "Open",
        "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df",
        ABSENT_DEVICE,
    );
    assert_eq!(report(&server, &body).await.status, 200);
    assert_eq!(report(&server, &body).await.status, 200);
    let limited = report(&server, &body).await;
    let description = limited.assert_error(429);
    assert!(description.contains("reported events"), "{description}");
    assert!(limited.headers.contains_key("retry-after"));
    server.stop().await;
}
