//! A real server on 127.0.0.1 (ephemeral port) and a real HTTP client, every wait bounded.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use beams_core::{
    InstanceId, ManualClock, SecretKey, Timestamp, TokenIssuer, UserId, WebSubscription,
};
use beams_server::{AppState, Config, Listeners, Server, StartupError};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const INSTANCE: &str = "8f9a6e2c-0d1b-4c3a-9e8f-7a6b5c4d3e2f";
pub(crate) const SECRET: &str = "test-secret-key-0123456789abcdef0123456789";

/// Every request and every wait in the tests is bounded by this.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// A client of one server's API at `base` (`http://host:port`): what a test says to a server,
/// in process or in a child process.
pub(crate) struct Api {
    pub(crate) base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub(crate) struct TestServer {
    /// The API on `--listen`; the server's own methods are its (through `Deref`).
    api: Api,
    /// `https://…` of `--tls-listen`, when it was given.
    pub(crate) tls_base: Option<String>,
    pub(crate) state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), StartupError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the test instance id and secret key, loopback http push endpoints
    /// allowed, no per-client rate limits (the tests' storms all come from 127.0.0.1), in a
    /// fresh data directory, plus `extra` flags.
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let mut flags = vec![
            "--allow-loopback-http-endpoints",
            "--registrations-per-minute",
            "0",
            "--interest-changes-per-minute",
            "0",
            "--events-per-minute",
            "0",
        ];
        flags.extend_from_slice(extra);
        Self::start_exactly(&flags).await
    }

    /// A server with the test instance id and secret key in a fresh data directory, and
    /// otherwise only `extra` flags and the defaults.
    pub(crate) async fn start_exactly(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut args = vec![
            "beams-server",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--instance-id",
            INSTANCE,
            "--secret-key",
            SECRET,
            "--shutdown-timeout",
            "15",
        ];
        args.extend_from_slice(extra);
        let config = Config::try_parse_from(args).unwrap();
        let server = Server::from_config(&config).await.unwrap();
        let state = server.state().clone();
        let listeners = Listeners::bind(&config).await.unwrap();
        let addr = listeners.listen_addr().unwrap();
        let tls_base = listeners
            .tls_listen_addr()
            .unwrap()
            .map(|addr| format!("https://{addr}"));
        let (shutdown, stop) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_on(listeners, async move {
            let _ = stop.await;
        }));
        TestServer {
            api: Api::at(&addr.to_string()),
            tls_base,
            state,
            shutdown: Some(shutdown),
            serving: Some(serving),
            _dir: dir,
        }
    }

    /// Asks the server to shut down and waits (bounded) until it has, publishes included.
    pub(crate) async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(serving) = self.serving.take() {
            tokio::time::timeout(LIMIT, serving)
                .await
                .expect("the server stops within the limit")
                .unwrap()
                .unwrap();
        }
    }

    /// Waits (bounded) until no publish is delivering.
    pub(crate) async fn publishes_settled(&self) {
        let publishes = self.state.publishes().clone();
        tokio::time::timeout(LIMIT, async move {
            while publishes.in_flight() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("publishes finish within the limit");
    }
}

impl std::ops::Deref for TestServer {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    /// A client of the server listening on `addr` (`host:port`), in plain http.
    pub(crate) fn at(addr: &str) -> Self {
        Api {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) fn device_api(&self, rest: &str) -> String {
        format!("/device_api/v1/instances/{INSTANCE}{rest}")
    }

    pub(crate) fn publish_api(&self, rest: &str) -> String {
        format!("/publish_api/v1/instances/{INSTANCE}{rest}")
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = tokio::time::timeout(LIMIT, self.client.request(request))
            .await
            .expect("an answer within the limit")
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(LIMIT, response.into_body().collect())
            .await
            .expect("a body within the limit")
            .unwrap()
            .to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// A JSON POST/PUT with the right content type.
    pub(crate) async fn json(&self, method: Method, path: &str, body: &Value) -> Answer {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Registers a device and returns its id.
    pub(crate) async fn register(&self, platform: &str, token: &str) -> String {
        let answer = self
            .json(
                Method::POST,
                &self.device_api(&format!("/devices/{platform}")),
                &serde_json::json!({"token": token, "metadata": {"sdkVersion": "1.0.0"}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()["id"].as_str().unwrap().to_owned()
    }

    /// Sets the device's user with a Beams Token for `user`; returns the answer.
    pub(crate) async fn set_user(&self, device: &str, token: &str) -> Answer {
        let platform = device.split('-').next().unwrap();
        let authorization = format!("Bearer {token}");
        self.send(
            Method::PUT,
            &self.device_api(&format!("/devices/{platform}/{device}/user")),
            &[("authorization", authorization.as_str())],
            Bytes::new(),
        )
        .await
    }

    /// Publishes `body` to users with the secret key.
    pub(crate) async fn publish(&self, body: &Value) -> Answer {
        let authorization = format!("Bearer {SECRET}");
        self.send(
            Method::POST,
            &self.publish_api("/publishes/users"),
            &[
                ("authorization", authorization.as_str()),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
    }

    pub(crate) fn reporting_api(&self) -> String {
        format!("/reporting_api/v2/instances/{INSTANCE}/events")
    }
}

impl TestServer {
    /// Waits (bounded) until the server has finished with `count` reported events, recorded
    /// or dropped.
    pub(crate) async fn reports_settled(&self, count: u64) {
        let reports = self.state.reports().clone();
        tokio::time::timeout(LIMIT, async move {
            while reports.processed() + reports.dropped() < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("reported events are recorded within the limit");
    }
}

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Checks the status and that the body is `{"error": <string>, "description": <string>}`;
    /// returns the description.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        let object = body.as_object().expect("an object");
        assert_eq!(object.len(), 2, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        body["description"]
            .as_str()
            .expect("a description")
            .to_owned()
    }
}

pub(crate) fn instance() -> InstanceId {
    InstanceId::new(INSTANCE).unwrap()
}

pub(crate) fn secret() -> SecretKey {
    SecretKey::new(SECRET).unwrap()
}

/// A valid Beams Token for `user`, as the official server SDKs make them.
pub(crate) fn token_for(user: &str) -> String {
    TokenIssuer::new(&instance(), &secret())
        .issue(&UserId::new(user).unwrap())
        .unwrap()
        .token
}

/// A token for `user` that expired an hour ago.
pub(crate) fn expired_token_for(user: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = ManualClock::new(Timestamp::from_unix_secs(now - 2 * 60 * 60));
    TokenIssuer::new(&instance(), &secret())
        .with_clock(std::sync::Arc::new(clock))
        .with_lifetime(Duration::from_secs(60 * 60))
        .issue(&UserId::new(user).unwrap())
        .unwrap()
        .token
}

/// An HS256 JWT with these claims, signed with `key`: tokens no SDK would make.
pub(crate) fn hand_made_token(claims: &Value, key: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
    let signature = aws_lc_rs::hmac::sign(&key, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// The token the official web SDK registers with: base64 of the PushSubscription JSON.
pub(crate) fn web_token(subscription: &WebSubscription) -> String {
    STANDARD.encode(subscription.to_json())
}

/// A syntactically valid Web Push subscription at `https://push.example.net/push/{name}`
/// (the RFC 8291 example keys): enough to register, never sent to.
pub(crate) fn example_web_token(name: &str) -> String {
    let json = serde_json::json!({
        "endpoint": format!("https://push.example.net/push/{name}"),
        "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"
        }
    });
    STANDARD.encode(json.to_string())
}

pub(crate) const APNS_TOKEN: &str =
    "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub(crate) const FCM_TOKEN: &str =
    "dGVzdA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m-9BvP7aEzqNcLmR0v4HQ";

/// A raw TCP connection to the server, for requests written byte for byte.
pub(crate) async fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// Reads one HTTP/1.1 answer with a `content-length` body (bounded by [`LIMIT`]).
pub(crate) async fn read_answer(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    tokio::time::timeout(LIMIT, async {
        let mut buf = [0_u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before a whole answer: {:?}",
                String::from_utf8_lossy(&read)
            );
            read.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&read).to_ascii_lowercase();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse().unwrap());
                if body.len() >= length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer within the limit");
    String::from_utf8_lossy(&read).into_owned()
}
