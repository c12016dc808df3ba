//! What the official SDKs find in a notification: the `pusher` data, the APNs headers, the
//! FCM v1 places of every Beams key, and the publishes refused because a push service would
//! drop them.

use serde_json::{Value, json};

use crate::push_services::Services;
use crate::support::{APNS_TOKEN, FCM_TOKEN, INSTANCE, TestServer, token_for};

/// A server whose APNs and FCM gateways send to the loopback mocks, with alice's iPhone and
/// Android phone associated.
async fn server_with_alices_phones(services: &Services) -> TestServer {
    let flags = services.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start(&flags).await;
    for (platform, token) in [("apns", APNS_TOKEN), ("fcm", FCM_TOKEN)] {
        let device = server.register(platform, token).await;
        let answer = server.set_user(&device, &token_for("alice")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_get_their_pusher_data_and_every_beams_key_in_its_place() {
    let services = Services::start(false).await;
    let server = server_with_alices_phones(&services).await;
    let answer = server
        .publish(&json!({
            "users": ["alice"],
            "apns": {
                "aps": {"alert": {"title": "Hi", "body": "there"}},
                "data": {"order": 42},
                "collapse_id": "orders",
                "expiration": 1_900_000_000u64,
                "priority": 5
            },
            "fcm": {
                "notification": {"title": "Hi", "body": "there", "click_action": "OPEN_ORDER",
                                 "android_channel_id": "orders", "color": "#00ff00"},
                "data": {"order": "42"},
                "time_to_live": 3600,
                "priority": "high",
                "collapse_key": "orders"
            }
        }))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let publish_id = answer.json()["publishId"].as_str().unwrap().to_owned();
    services.wait_for_both().await;
    server.publishes_settled().await;

    // APNs: the three Beams keys are headers, the body is Apple's payload with data.pusher.
    let seen = services.apns.seen();
    assert_eq!(seen.len(), 1);
    let header = |name: &str| seen[0].headers.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("apns-collapse-id"), Some("orders"));
    assert_eq!(header("apns-expiration"), Some("1900000000"));
    assert_eq!(header("apns-priority"), Some("5"));
    assert_eq!(header("apns-push-type"), Some("alert"));
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "aps": {"alert": {"title": "Hi", "body": "there"}},
            "data": {"order": 42, "pusher": {"instanceId": INSTANCE, "publishId": publish_id}}
        })
    );
    services.apns.assert_no_violations();

    // FCM: each legacy key in its v1 place, and data.pusher a JSON string.
    let messages = services.google.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["token"], FCM_TOKEN);
    assert_eq!(
        message["notification"],
        json!({"title": "Hi", "body": "there"})
    );
    assert_eq!(
        message["android"],
        json!({
            "ttl": "3600s", "priority": "HIGH", "collapse_key": "orders",
            "notification": {"click_action": "OPEN_ORDER", "channel_id": "orders",
                             "color": "#00ff00"}
        })
    );
    assert_eq!(message["data"]["order"], "42");
    let pusher: Value = serde_json::from_str(message["data"]["pusher"].as_str().unwrap()).unwrap();
    assert_eq!(
        pusher,
        json!({"instanceId": INSTANCE, "publishId": publish_id, "clickAction": "OPEN_ORDER",
               "hasDisplayableContent": true, "hasData": true})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_expiration_apns_may_keep_it_for_an_offline_phone() {
    let services = Services::start(false).await;
    let server = server_with_alices_phones(&services).await;
    let answer = server
        .publish(&json!({"users": ["alice"],
                         "apns": {"aps": {"content-available": 1}},
                         "fcm": {"data": {"sync": "1"}}}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    services.wait_for_both().await;
    server.publishes_settled().await;

    let seen = services.apns.seen();
    let header = |name: &str| seen[0].headers.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("apns-push-type"), Some("background"));
    assert_eq!(header("apns-priority"), Some("5"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiration: u64 = header("apns-expiration").unwrap().parse().unwrap();
    assert!(
        expiration > now + 7 * 24 * 3600,
        "{expiration}: not stored for long"
    );

    let message = &services.google.messages()[0];
    let pusher: Value = serde_json::from_str(message["data"]["pusher"].as_str().unwrap()).unwrap();
    assert_eq!(pusher["hasDisplayableContent"], false);
    assert_eq!(pusher["hasData"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_and_fcm_sections_their_services_would_drop_are_422_and_nothing_is_sent() {
    let services = Services::start(false).await;
    let server = server_with_alices_phones(&services).await;
    let cases = [
        (
            json!({"fcm": {"data": {"count": 3}}}),
            "`fcm`: fcm.data.count must be a string",
        ),
        (
            json!({"fcm": {"notification": {"title": "Hi"}, "badge": 1}}),
            "`fcm`: fcm.badge",
        ),
        (
            json!({"fcm": {"notification": {"color": "green"}}}),
            "`fcm`: fcm.notification.color",
        ),
        (
            json!({"fcm": {"data": {"blob": "x".repeat(4000)}}}),
            "`fcm`: fcm: the message FCM would receive",
        ),
        (
            json!({"apns": {"aps": {"alert": "x".repeat(4000)}}}),
            "`apns`: apns: the payload APNs would receive",
        ),
        (
            json!({"apns": {"aps": {}, "collapse_id": "x".repeat(65)}}),
            "`apns`: apns.collapse_id",
        ),
        (
            json!({"apns": {"aps": {}, "priority": 7}}),
            "`apns`: apns.priority",
        ),
        (
            json!({"apns": {"aps": {}, "expiration": "soon"}}),
            "`apns`: apns.expiration",
        ),
    ];
    for (sections, start) in cases {
        let mut body = sections.clone();
        body["users"] = json!(["alice"]);
        let answer = server.publish(&body).await;
        let description = answer.assert_error(422);
        assert!(description.starts_with(start), "{sections}: {description}");
    }
    // A section just under APNs' limit once the pusher data is in is sent.
    let fits = json!({"users": ["alice"], "apns": {"aps": {"alert": "x".repeat(3900)}}});
    assert_eq!(server.publish(&fits).await.status, 200);
    server.publishes_settled().await;
    assert_eq!(
        services.apns.seen().len(),
        1,
        "only the publish that fits was sent"
    );
    assert_eq!(services.google.messages().len(), 0);
    server.stop().await;
}

#[tokio::test]
async fn publishes_a_push_service_would_drop_are_refused_naming_the_field() {
    // Refused before anyone is looked up, so alice needs no device.
    let server = TestServer::start(&[]).await;

    let cases = [
        // The customer's own `pusher` key: the SDKs read beams' there. Refused on every
        // platform, configured or not.
        (
            json!({"users": ["alice"], "web": {"notification": {"title": "Hi"},
                                               "data": {"pusher": "mine"}}}),
            "`web.data.pusher`",
        ),
        (
            json!({"users": ["alice"], "apns": {"aps": {"alert": "Hi"},
                                                "data": {"pusher": {"instanceId": "x"}}}}),
            "`apns.data.pusher`",
        ),
        (
            json!({"users": ["alice"], "fcm": {"data": {"pusher": "x"}}}),
            "`fcm.data.pusher`",
        ),
        (
            json!({"users": ["alice"], "web": {"notification": {"title": "Hi"}, "data": [1]}}),
            "`web.data`",
        ),
        // Over what one Web Push record holds once the pusher data is in.
        (
            json!({"users": ["alice"], "web": {"notification": {"title": "Hi"},
                                               "data": {"blob": "x".repeat(3950)}}}),
            "`web`: web: the message a browser would receive",
        ),
        (
            json!({"users": ["alice"], "web": {"notification": {"title": "Hi"}, "topic": 7}}),
            "`web`: web.topic",
        ),
    ];
    for (body, start) in cases {
        let answer = server.publish(&body).await;
        let description = answer.assert_error(422);
        assert!(description.starts_with(start), "{body}: {description}");
    }
    // Just under the limit is accepted.
    let fits = json!({"users": ["alice"], "web": {"notification": {"title": "Hi"},
                                                  "data": {"blob": "x".repeat(3800)}}});
    assert_eq!(server.publish(&fits).await.status, 200);
    server.stop().await;
}
