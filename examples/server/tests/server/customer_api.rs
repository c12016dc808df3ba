//! The customer API's delete user as each official server SDK sends it: the same user id
//! escaped five ways, and a `+` that is a space for Ruby and PHP but a plus for Go.

use bytes::Bytes;
use hyper::http::Method;

use crate::support::{INSTANCE, SECRET, TestServer, example_web_token, token_for};

/// One SDK's delete: its path, its escaping of the id, its `X-Pusher-Library`.
struct Sdk {
    api: &'static str,
    library: &'static str,
    /// How it escapes `a+b@example.com` and `a b`.
    plus_at: &'static str,
    space: &'static str,
}

const SDKS: [Sdk; 5] = [
    // url.PathEscape leaves `+` and `@` as they are.
    Sdk {
        api: "customer_api",
        library: "pusher-push-notifications-go 1.2.0",
        plus_at: "a+b@example.com",
        space: "a%20b",
    },
    // Form encoding: a space is `+`, a plus is `%2B`.
    Sdk {
        api: "customer_api",
        library: "pusher-push-notifications-ruby 2.0.2",
        plus_at: "a%2Bb%40example.com",
        space: "a+b",
    },
    Sdk {
        api: "customer_api",
        library: "pusher-push-notifications-php 2.0.0",
        plus_at: "a%2Bb%40example.com",
        space: "a+b",
    },
    // urllib.parse.quote.
    Sdk {
        api: "customer_api",
        library: "pusher-push-notifications-python 2.0.1",
        plus_at: "a%2Bb%40example.com",
        space: "a%20b",
    },
    // encodeURIComponent, on the user_api path.
    Sdk {
        api: "user_api",
        library: "pusher-push-notifications-node 1.2.4",
        plus_at: "a%2Bb%40example.com",
        space: "a%20b",
    },
];

/// Registers a web device (subscription `name`) for `user` and returns its device API path.
async fn device_of(server: &TestServer, user: &str, name: &str) -> String {
    let device = server.register("web", &example_web_token(name)).await;
    assert_eq!(server.set_user(&device, &token_for(user)).await.status, 200);
    server.device_api(&format!("/devices/web/{device}"))
}

#[tokio::test]
async fn each_server_sdk_deletes_exactly_the_user_it_names() {
    let server = TestServer::start(&[]).await;
    let authorization = format!("Bearer {SECRET}");
    for (n, sdk) in SDKS.iter().enumerate() {
        // Each user beside the one a wrong reading of `+` would delete instead.
        for (user, look_alike, escaped) in [
            ("a+b@example.com", "a b@example.com", sdk.plus_at),
            ("a b", "a+b", sdk.space),
        ] {
            let target = device_of(&server, user, &format!("{n}-{escaped}")).await;
            let bystander = device_of(&server, look_alike, &format!("{n}-{escaped}-other")).await;
            let path = format!("/{}/v1/instances/{INSTANCE}/users/{escaped}", sdk.api);
            let answer = server
                .send(
                    Method::DELETE,
                    &path,
                    &[
                        ("authorization", authorization.as_str()),
                        ("content-type", "application/json"),
                        ("x-pusher-library", sdk.library),
                    ],
                    Bytes::new(),
                )
                .await;
            assert_eq!(answer.status, 200, "{} {path}: {answer:?}", sdk.library);
            assert!(answer.body.is_empty(), "{answer:?}");
            server.get(&target).await.assert_error(404);
            assert_eq!(
                server.get(&bystander).await.status,
                200,
                "{} deleting {user:?} as {escaped:?} deleted {look_alike:?}",
                sdk.library
            );
            // Leave no device of either behind for the next SDK.
            let escaped_look_alike = look_alike
                .replace('+', "%2B")
                .replace(' ', "%20")
                .replace('@', "%40");
            let cleanup =
                format!("/customer_api/v1/instances/{INSTANCE}/users/{escaped_look_alike}");
            let answer = server
                .send(
                    Method::DELETE,
                    &cleanup,
                    &[("authorization", authorization.as_str())],
                    Bytes::new(),
                )
                .await;
            assert_eq!(answer.status, 200);
            server.get(&bystander).await.assert_error(404);
        }
    }
    server.stop().await;
}
