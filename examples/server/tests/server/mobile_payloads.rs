//! What the official SDKs find in a notification: the `pusher` data, the APNs headers, the
//! FCM v1 places of every Beams key, and the publishes refused because a push service would
//! drop them.

use serde_json::json;

use crate::support::TestServer;

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
