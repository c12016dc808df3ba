//! Device Interests: the device API's subscribe, unsubscribe, replace and list, and publishing
//! to interests on both paths the server SDKs use.

use std::time::Duration;

use bytes::Bytes;
use hyper::http::Method;
use serde_json::{Value, json};

use crate::support::{
    APNS_TOKEN, FCM_TOKEN, LIMIT, SECRET, TestServer, example_web_token, web_token,
};
use beams_test_support::web_push_mock::PushService;

fn interests_path(server: &TestServer, device: &str) -> String {
    let platform = device.split('-').next().unwrap();
    server.device_api(&format!("/devices/{platform}/{device}/interests"))
}

async fn publish_to_interests(
    server: &TestServer,
    path: &str,
    body: &Value,
) -> crate::support::Answer {
    let authorization = format!("Bearer {SECRET}");
    server
        .send(
            Method::POST,
            &server.publish_api(path),
            &[
                ("authorization", authorization.as_str()),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
}

#[tokio::test]
async fn a_device_subscribes_unsubscribes_and_lists_its_interests() {
    let server = TestServer::start(&[]).await;
    let device = server.register("fcm", FCM_TOKEN).await;
    let path = interests_path(&server, &device);

    let set = server
        .json(
            Method::PUT,
            &path,
            &json!({"interests": ["news", "sport", "weather", "news"]}),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json(), json!({}));

    for (method, interest) in [(Method::POST, "team-42@eu"), (Method::DELETE, "sport")] {
        let answer = server
            .send(method, &format!("{path}/{interest}"), &[], Bytes::new())
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json(), json!({}));
    }
    // Unsubscribing from an interest the device does not have is no error.
    let again = server
        .send(Method::DELETE, &format!("{path}/sport"), &[], Bytes::new())
        .await;
    assert_eq!(again.status, 200);

    let all = server.get(&path).await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(
        all.json(),
        json!({"interests": ["news", "team-42@eu", "weather"], "responseMetadata": {}})
    );

    // Pages of two: a cursor while more remain.
    let first = server.get(&format!("{path}?limit=2")).await.json();
    assert_eq!(first["interests"], json!(["news", "team-42@eu"]));
    let cursor = first["responseMetadata"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = server
        .get(&format!(
            "{path}?limit=2&cursor={}",
            cursor.replace('@', "%40")
        ))
        .await
        .json();
    assert_eq!(
        second,
        json!({"interests": ["weather"], "responseMetadata": {}})
    );
    server.stop().await;
}

#[tokio::test]
async fn interest_refusals() {
    let server = TestServer::start(&[]).await;
    let device = server
        .register("web", &example_web_token("interests"))
        .await;
    let path = interests_path(&server, &device);

    server
        .send(
            Method::POST,
            &format!("{path}/no%20spaces"),
            &[],
            Bytes::new(),
        )
        .await
        .assert_error(400);
    server
        .json(Method::PUT, &path, &json!({"interests": ["ok", "not ok"]}))
        .await
        .assert_error(400);
    server
        .json(Method::PUT, &path, &json!({"names": ["ok"]}))
        .await
        .assert_error(400);
    for body in [
        json!({"interests": "news"}),
        json!({"interests": null}),
        json!({"interests": ["ok", 7]}),
        json!([["ok"]]),
    ] {
        server
            .json(Method::PUT, &path, &body)
            .await
            .assert_error(400);
    }
    // Fields a newer SDK may add are ignored.
    let extra = server
        .json(
            Method::PUT,
            &path,
            &json!({"interests": ["ok"], "sdkVersion": "9.9"}),
        )
        .await;
    assert_eq!(extra.status, 200, "{extra:?}");
    let many: Vec<String> = (0..5001).map(|n| format!("i{n}")).collect();
    let answer = server
        .json(Method::PUT, &path, &json!({ "interests": many }))
        .await;
    assert_eq!(answer.assert_error(400), "Interest set too large");
    server
        .get(&format!("{path}?limit=many"))
        .await
        .assert_error(400);

    let absent = interests_path(&server, "web-00000000-0000-4000-8000-000000000000");
    server.get(&absent).await.assert_error(404);
    server
        .send(Method::POST, &format!("{absent}/news"), &[], Bytes::new())
        .await
        .assert_error(404);
    server
        .json(Method::PUT, &absent, &json!({"interests": ["news"]}))
        .await
        .assert_error(404);

    let web = json!({"notification": {"title": "Hi"}});
    for publish_path in ["/publishes/interests", "/publishes"] {
        let answer = publish_to_interests(&server, publish_path, &json!({"web": web})).await;
        assert_eq!(
            answer.assert_error(422),
            "`interests`: interests is required"
        );
        let too_many: Vec<String> = (0..101).map(|n| format!("i{n}")).collect();
        publish_to_interests(
            &server,
            publish_path,
            &json!({"interests": too_many, "web": web}),
        )
        .await
        .assert_error(422);
        publish_to_interests(
            &server,
            publish_path,
            &json!({"interests": ["bad name"], "web": web}),
        )
        .await
        .assert_error(422);
        let padding = "x".repeat(10 * 1024);
        publish_to_interests(
            &server,
            publish_path,
            &json!({"interests": ["news"], "web": {"notification": {"title": padding}}}),
        )
        .await
        .assert_error(400);
        let unauthenticated = server
            .send(
                Method::POST,
                &server.publish_api(publish_path),
                &[("content-type", "application/json")],
                json!({"interests": ["news"], "web": web}).to_string(),
            )
            .await;
        assert_eq!(unauthenticated.assert_error(401), "Incorrect Secret Key");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_an_interest_reaches_its_subscribers_on_both_paths() {
    let push = PushService::start().await;
    let server = TestServer::start(&[]).await;
    let subscribed = server
        .register("web", &web_token(&push.subscribe("subscribed")))
        .await;
    let _other = server
        .register("web", &web_token(&push.subscribe("other")))
        .await;
    let answer = server
        .json(
            Method::PUT,
            &interests_path(&server, &subscribed),
            &json!({"interests": ["news"]}),
        )
        .await;
    assert_eq!(answer.status, 200);

    let mut publish_ids = Vec::new();
    for publish_path in ["/publishes/interests", "/publishes"] {
        let answer = publish_to_interests(
            &server,
            publish_path,
            &json!({"interests": ["news", "sport"], "web": {"notification": {"title": "Extra!"}}}),
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let body = answer.json();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        publish_ids.push(body["publishId"].as_str().unwrap().to_owned());
    }
    server.publishes_settled().await;
    tokio::time::timeout(LIMIT, async {
        while push.received().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let received = push.received();
    assert_eq!(
        received.len(),
        2,
        "only the subscribed browser, once per publish"
    );
    let mut got: Vec<String> = received
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/push/subscribed");
            let message: Value = serde_json::from_slice(&r.plaintext).unwrap();
            message["data"]["pusher"]["publishId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    got.sort();
    publish_ids.sort();
    assert_eq!(got, publish_ids);
    assert!(push.problems().is_empty(), "{:?}", push.problems());
    server.stop().await;
}

#[tokio::test]
async fn a_known_token_registering_again_keeps_its_interests_and_only_apns_reads_them() {
    let server = TestServer::start(&[]).await;
    // The iOS SDK replaces its interests with the answer at every launch; the Android SDK never
    // reads it, so an FCM token's holder is told nothing.
    for (platform, token, answered) in [
        ("fcm", FCM_TOKEN, json!([])),
        ("apns", APNS_TOKEN, json!(["news", "sport"])),
    ] {
        let register_path = server.device_api(&format!("/devices/{platform}"));
        let register_body = json!({"token": token, "metadata": {"sdkVersion": "1.0.0"}});
        let register = || server.json(Method::POST, &register_path, &register_body);
        let first = register().await;
        assert_eq!(first.status, 200, "{first:?}");
        assert_eq!(first.json()["initialInterestSet"], json!([]));
        let device = first.json()["id"].as_str().unwrap().to_owned();

        let path = interests_path(&server, &device);
        for interest in ["sport", "news"] {
            let added = server
                .send(
                    Method::POST,
                    &format!("{path}/{interest}"),
                    &[],
                    Bytes::new(),
                )
                .await;
            assert_eq!(added.status, 200, "{added:?}");
        }

        let again = register().await;
        assert_eq!(again.status, 200, "{again:?}");
        let body = again.json();
        assert_eq!(body["id"], device.as_str(), "{body}");
        assert_eq!(body["initialInterestSet"], answered, "{platform}: {body}");

        let kept = server.send(Method::GET, &path, &[], Bytes::new()).await;
        assert_eq!(kept.status, 200, "{kept:?}");
        assert_eq!(
            kept.json()["interests"],
            json!(["news", "sport"]),
            "{platform}"
        );
    }
    server.stop().await;
}
