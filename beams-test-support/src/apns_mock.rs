//! A loopback APNs for tests and the bench: a hyper HTTP/2-only server on 127.0.0.1, plain
//! text or TLS (rcgen certificate, ALPN h2). It verifies every request's provider JWT (ES256
//! with the public key of a key pair made here), path and headers, watches how many streams
//! each connection uses, and answers as scripted per device token.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use beams_core::{
    ApnsToken, Batch, Clock, DeliveryOutcome, DeviceId, InstanceId, ManualClock, Payload, Platform,
    PublishId, PushGateway, PushToken, Recipient,
};
use beams_push::Transport;
use beams_push::apns::{ApnsEndpoint, ApnsGateway, ApnsGatewayBuilder};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The key id the test gateway signs with.
pub const KEY_ID: &str = "ABC123DEFG";
/// The team id the test gateway signs for.
pub const TEAM_ID: &str = "DEF123GHIJ";
/// The topic (bundle id) the test gateway sends to.
pub const TOPIC: &str = "com.example.beams";

/// A `.p8`-style signing key made for the test, and its public half.
pub struct TestKey {
    /// The private key, PKCS#8 PEM, as a `.p8` file holds it.
    pub pem: String,
    public: Vec<u8>,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").finish_non_exhaustive()
    }
}

impl TestKey {
    /// A fresh P-256 key pair, the private half as PKCS#8 PEM like Apple's `.p8` files.
    pub fn generate() -> Self {
        let _ = SystemRandom::new();
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key");
        let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8 export");
        let encoded = STANDARD.encode(pkcs8.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        TestKey {
            pem,
            public: pair.public_key().as_ref().to_vec(),
        }
    }
}

/// How the mock answers one device token.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `200` with no body.
    Ok,
    /// An error answer: `status`, `{"reason", "timestamp"?}`, and `Retry-After` if given.
    Error {
        /// The HTTP status.
        status: u16,
        /// The `reason` of the body.
        reason: &'static str,
        /// The `timestamp` of the body (milliseconds), as APNs gives with 410.
        timestamp: Option<i64>,
        /// A `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// `403 ExpiredProviderToken` to tokens issued before `iat`, then 200.
    ExpiredBefore {
        /// Tokens issued before this (seconds) are refused.
        iat: i64,
    },
    /// A status with no body at all.
    Bare(u16),
}

impl Reply {
    /// An error with no timestamp or `Retry-After`.
    pub fn error(status: u16, reason: &'static str) -> Self {
        Reply::Error {
            status,
            reason,
            timestamp: None,
            retry_after: None,
        }
    }
}

/// What the mock saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The connection it came on (1 for the first).
    pub connection: u64,
    /// The device token in the path.
    pub token: String,
    /// The issue time of its provider token.
    pub iat: i64,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body.
    pub body: Bytes,
}

#[derive(Debug, Default)]
/// How a mock behaves; the default is plain text, 1000 streams, nothing recorded.
pub struct MockOptions {
    /// SETTINGS_MAX_CONCURRENT_STREAMS the server advertises (default 1000).
    pub max_concurrent_streams: Option<u32>,
    /// Serve TLS with a generated certificate for 127.0.0.1.
    pub tls: bool,
    /// Answer tokens older than an hour by this clock with `403 ExpiredProviderToken`.
    pub clock: Option<ManualClock>,
    /// Keep every request (off in the bench).
    pub record: bool,
    /// Wait this long before answering each request.
    pub delay: Option<Duration>,
    /// Accept a new provider token however soon after the previous one (the bench's clients
    /// and h2load each sign their own).
    pub allow_token_churn: bool,
}

struct Connection {
    id: u64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    requests: AtomicUsize,
    /// A request got 200 or 410: the provider token was accepted.
    accepted: AtomicBool,
    goaway: Notify,
    kill: Notify,
}

struct State {
    public_key: Vec<u8>,
    options: MockOptions,
    scripts: Mutex<HashMap<String, Reply>>,
    verified: Mutex<HashSet<String>>,
    /// Issue times of the distinct provider tokens seen, in order.
    token_iats: Mutex<Vec<i64>>,
    seen: Mutex<Vec<Seen>>,
    per_token: Mutex<HashMap<String, usize>>,
    violations: Mutex<Vec<String>>,
    connections: Mutex<Vec<Arc<Connection>>>,
    next_connection: AtomicU64,
    answered: AtomicU64,
    goaway_after: Mutex<Option<(u64, usize)>>,
    kill_after: Mutex<Option<(u64, usize)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock; stops when dropped.
pub struct MockApns {
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
    state: Arc<State>,
    certificate: Option<CertificateDer<'static>>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MockApns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockApns")
            .field("addr", &self.addr)
            .field("tls", &self.certificate.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MockApns {
    /// Starts a mock that accepts provider tokens signed with `key`.
    pub async fn start(key: &TestKey, options: MockOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let (acceptor, certificate) = if options.tls {
            let (acceptor, certificate) = tls_acceptor();
            (Some(acceptor), Some(certificate))
        } else {
            (None, None)
        };
        let state = Arc::new(State {
            public_key: key.public.clone(),
            options,
            scripts: Mutex::default(),
            verified: Mutex::default(),
            token_iats: Mutex::default(),
            seen: Mutex::default(),
            per_token: Mutex::default(),
            violations: Mutex::default(),
            connections: Mutex::default(),
            next_connection: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            goaway_after: Mutex::default(),
            kill_after: Mutex::default(),
        });
        let server = tokio::spawn(serve(listener, acceptor, state.clone()));
        MockApns {
            addr,
            state,
            certificate,
            server,
        }
    }

    /// The certificate it serves TLS with (a self-signed one for 127.0.0.1, its own root),
    /// when it serves TLS.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.certificate.as_ref()
    }

    /// A gateway builder pointed at this mock, with the test key and ids.
    pub fn builder(&self, key: &TestKey) -> ApnsGatewayBuilder {
        let endpoint = match &self.certificate {
            Some(certificate) => ApnsEndpoint::custom(
                format!("https://{}", self.addr),
                Transport::TlsWithRoots(vec![certificate.clone()]),
            ),
            None => ApnsEndpoint::custom(format!("http://{}", self.addr), Transport::PlainText),
        };
        ApnsGateway::builder(&key.pem, KEY_ID, TEAM_ID, TOPIC).endpoint(endpoint)
    }

    /// Like [`builder`](Self::builder), but sent through a plain-text HTTP/2 proxy (such as
    /// [`H2Proxy`](crate::apns_h2_proxy::H2Proxy)) at `proxy` that forwards to this mock.
    pub fn builder_via(&self, key: &TestKey, proxy: SocketAddr) -> ApnsGatewayBuilder {
        self.builder(key).endpoint(ApnsEndpoint::custom(
            format!("http://{proxy}"),
            Transport::PlainText,
        ))
    }

    /// Answers `reply` to requests for device `token` (default `Reply::Ok`).
    pub fn script(&self, token: &str, reply: Reply) {
        lock(&self.state.scripts).insert(token.to_owned(), reply);
    }

    /// Connection number `connection` (1 for the first) sends GOAWAY once it has received
    /// `requests` requests.
    pub fn goaway_after(&self, connection: u64, requests: usize) {
        *lock(&self.state.goaway_after) = Some((connection, requests));
    }

    /// Connection number `connection` is dropped (TCP closed, no GOAWAY) once it has received
    /// `requests` requests.
    pub fn kill_after(&self, connection: u64, requests: usize) {
        *lock(&self.state.kill_after) = Some((connection, requests));
    }

    /// Every request seen, when `MockOptions::record` is on.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    /// How many requests reached the server for each token.
    pub fn per_token(&self) -> HashMap<String, usize> {
        lock(&self.state.per_token).clone()
    }

    /// Everything the mock found wrong with the client's behaviour or requests.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state.violations).clone()
    }

    /// Fails the test, listing them, if the mock found anything wrong.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "{violations:?}");
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.next_connection.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.state.answered.load(Ordering::SeqCst)
    }

    /// The most streams any connection had open at once.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state.connections)
            .iter()
            .map(|c| c.max_in_flight.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0)
    }

    /// Issue times of the distinct provider tokens, in the order first seen.
    pub fn token_iats(&self) -> Vec<i64> {
        lock(&self.state.token_iats).clone()
    }
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, CertificateDer<'static>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("a certificate");
    let certificate = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .expect("a server certificate");
    config.alpn_protocols = vec![b"h2".to_vec()];
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certificate,
    )
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let id = state.next_connection.fetch_add(1, Ordering::SeqCst) + 1;
        let connection = Arc::new(Connection {
            id,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            accepted: AtomicBool::new(false),
            goaway: Notify::new(),
            kill: Notify::new(),
        });
        lock(&state.connections).push(connection.clone());
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(TokioIo::new(tcp), state, connection).await,
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve_connection(TokioIo::new(tls), state, connection).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>, connection: Arc<Connection>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let max_streams = state.options.max_concurrent_streams.unwrap_or(1000);
    let service = {
        let connection = connection.clone();
        service_fn(move |request: Request<Incoming>| {
            let state = state.clone();
            let connection = connection.clone();
            async move { Ok::<_, Infallible>(handle(&state, &connection, request).await) }
        })
    };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder.max_concurrent_streams(max_streams);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        _ = connection.goaway.notified() => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
        _ = connection.kill.notified() => {}
    }
}

async fn handle(
    state: &State,
    connection: &Connection,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let arrived = connection.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let in_flight = connection.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    connection
        .max_in_flight
        .fetch_max(in_flight, Ordering::SeqCst);
    if in_flight > 1 && !connection.accepted.load(Ordering::SeqCst) {
        violation(
            state,
            format!(
                "connection {} had {in_flight} streams before its first success",
                connection.id
            ),
        );
    }
    if *lock(&state.goaway_after) == Some((connection.id, arrived)) {
        connection.goaway.notify_one();
    }
    if *lock(&state.kill_after) == Some((connection.id, arrived)) {
        connection.kill.notify_one();
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (status, reply_body) = answer(state, connection, &parts, &body);
    if let Some(delay) = state.options.delay {
        tokio::time::sleep(delay).await;
    }
    if status == 200 || status == 410 {
        connection.accepted.store(true, Ordering::SeqCst);
    }
    connection.in_flight.fetch_sub(1, Ordering::SeqCst);
    state.answered.fetch_add(1, Ordering::SeqCst);
    let mut response = Response::new(Full::new(reply_body.0));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(seconds) = reply_body.1 {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().expect("digits"));
    }
    let apns_id =
        parts.headers.get("apns-id").cloned().unwrap_or_else(|| {
            http::HeaderValue::from_static("00000000-0000-0000-0000-000000000000")
        });
    response.headers_mut().insert("apns-id", apns_id);
    response
}

fn violation(state: &State, text: String) {
    lock(&state.violations).push(text);
}

type Body = (Bytes, Option<u64>);

fn error_body(reason: &str, timestamp: Option<i64>) -> Bytes {
    let json = match timestamp {
        Some(ts) => format!(r#"{{"reason":"{reason}","timestamp":{ts}}}"#),
        None => format!(r#"{{"reason":"{reason}"}}"#),
    };
    Bytes::from(json)
}

fn answer(
    state: &State,
    connection: &Connection,
    parts: &http::request::Parts,
    body: &Bytes,
) -> (u16, Body) {
    let reject = |state: &State, text: String| {
        violation(state, text);
        (400, (error_body("MockCheckFailed", None), None))
    };
    // The request line and headers.
    let Some(token) = parts.uri.path().strip_prefix("/3/device/") else {
        return reject(state, format!("bad path {}", parts.uri.path()));
    };
    if parts.method != http::Method::POST {
        return reject(state, format!("bad method {}", parts.method));
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let push_type = header("apns-push-type").unwrap_or_default();
    let expected_topic = if push_type == "voip" {
        format!("{TOPIC}.voip")
    } else {
        TOPIC.to_owned()
    };
    if header("apns-topic").as_deref() != Some(expected_topic.as_str()) {
        return reject(state, format!("bad apns-topic {:?}", header("apns-topic")));
    }
    for required in ["apns-push-type", "apns-priority", "apns-expiration"] {
        if header(required).is_none() {
            return reject(state, format!("missing {required}"));
        }
    }
    if serde_json::from_slice::<serde_json::Value>(body).is_err() {
        return reject(state, "body is not JSON".into());
    }
    // The provider token.
    let Some(jwt) =
        header("authorization").and_then(|v| v.strip_prefix("bearer ").map(str::to_owned))
    else {
        return (403, (error_body("MissingProviderToken", None), None));
    };
    let Some(iat) = verify_jwt(state, &jwt) else {
        return (403, (error_body("InvalidProviderToken", None), None));
    };
    if !state.options.allow_token_churn
        && let Some(early) = new_token_too_soon(state, iat)
    {
        violation(state, early);
        return (429, (error_body("TooManyProviderTokenUpdates", None), None));
    }
    if let Some(clock) = &state.options.clock
        && clock.now().as_unix_secs() - iat > 3600
    {
        violation(
            state,
            format!("provider token issued at {iat} used after an hour"),
        );
        return (403, (error_body("ExpiredProviderToken", None), None));
    }
    if state.options.record {
        lock(&state.seen).push(Seen {
            connection: connection.id,
            token: token.to_owned(),
            iat,
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        *lock(&state.per_token).entry(token.to_owned()).or_default() += 1;
    }
    // The scripted answer.
    let reply = lock(&state.scripts)
        .get(token)
        .cloned()
        .unwrap_or(Reply::Ok);
    match reply {
        Reply::Ok => (200, (Bytes::new(), None)),
        Reply::Bare(status) => (status, (Bytes::new(), None)),
        Reply::Error {
            status,
            reason,
            timestamp,
            retry_after,
        } => (status, (error_body(reason, timestamp), retry_after)),
        Reply::ExpiredBefore { iat: fresh } if iat < fresh => {
            (403, (error_body("ExpiredProviderToken", None), None))
        }
        Reply::ExpiredBefore { .. } => (200, (Bytes::new(), None)),
    }
}

/// Checks an ES256 provider token: header `{"alg":"ES256","kid"}`, claims `iss` and `iat`, and
/// the signature. Returns `iat`.
fn verify_jwt(state: &State, jwt: &str) -> Option<i64> {
    let mut parts = jwt.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let claims_json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    let iat = claims_json.get("iat")?.as_i64()?;
    if lock(&state.verified).contains(jwt) {
        return Some(iat);
    }
    let header_json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    let header_ok = header_json.get("alg")?.as_str()? == "ES256"
        && header_json.get("kid")?.as_str()? == KEY_ID
        && header_json.as_object()?.len() == 2;
    let claims_ok = claims_json.get("iss")?.as_str()? == TEAM_ID;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let signed = &jwt[..header.len() + 1 + claims.len()];
    let verified = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &state.public_key)
        .verify(signed.as_bytes(), &signature)
        .is_ok();
    if !(header_ok && claims_ok && verified) {
        return None;
    }
    lock(&state.verified).insert(jwt.to_owned());
    Some(iat)
}

/// APNs refuses a new provider token within 20 minutes of the previous one.
fn new_token_too_soon(state: &State, iat: i64) -> Option<String> {
    let mut iats = lock(&state.token_iats);
    if iats.contains(&iat) {
        return None;
    }
    let last = iats.last().copied();
    iats.push(iat);
    match last {
        Some(last) if iat - last < 20 * 60 => Some(format!(
            "a new provider token {} s after the previous one",
            iat - last
        )),
        _ => None,
    }
}

/// A device token: 64 hex digits made from `n`.
pub fn device_token(n: usize) -> String {
    format!("{n:064x}")
}

/// A payload for the `apns` section `body`.
pub fn payload(body: serde_json::Value) -> Arc<Payload> {
    Arc::new(Payload {
        publish_id: PublishId::generate(),
        instance: InstanceId::new("00000000-0000-0000-0000-000000000000").expect("an instance id"),
        platform: Platform::Apns,
        body,
    })
}

/// The device with token `token`, as a batch's recipient.
pub fn recipient(token: &str) -> Recipient {
    Recipient {
        device: DeviceId::generate(Platform::Apns),
        token: PushToken::Apns(ApnsToken::new(token).expect("a hex token")),
    }
}

/// A batch of `payload` to `device_token(n)` for each `n` in `tokens`.
pub fn batch(tokens: impl IntoIterator<Item = usize>, payload: &Arc<Payload>) -> Batch {
    Batch {
        payload: Arc::clone(payload),
        recipients: tokens
            .into_iter()
            .map(|n| recipient(&device_token(n)))
            .collect(),
    }
}

/// `gateway.send(batch)`, failing the test if it takes longer than 30 s.
pub async fn send_within(gateway: &ApnsGateway, batch: &Batch) -> Vec<DeliveryOutcome> {
    tokio::time::timeout(Duration::from_secs(30), gateway.send(batch))
        .await
        .expect("the batch completes within 30 s")
}
