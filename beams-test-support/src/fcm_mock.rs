//! A loopback stand-in for Google, on 127.0.0.1 only: the OAuth2 token endpoint (`POST /token`)
//! and FCM HTTP v1 (`POST /v1/projects/{project}/messages:send`), over HTTP/2 or HTTP/1.1.
//!
//! The token endpoint verifies the RS256 assertion with the test key's public half (aws-lc-rs
//! directly, not the signer's library) and its claims, then issues access tokens that expire.
//! The FCM endpoint checks the bearer token and the message's shape (exactly one target,
//! string-only data, a duration-string TTL) and answers as scripted per registration token.

#![allow(clippy::unwrap_used, reason = "a mock stops at the first surprise")]

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use beams_core::ManualClock;
use beams_push::Transport;
use beams_push::fcm::{FcmGateway, FcmGatewayBuilder, ServiceAccountKey};

use crate::fcm_fixtures::{CLIENT_EMAIL, PROJECT, SCOPE, TestKey, service_account_json};

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    /// FCM's error shape, with an `FcmError` detail when `error_code` is given.
    pub fn fcm_error(status: u16, top: &str, error_code: Option<&str>, message: &str) -> Self {
        let details = match error_code {
            Some(code) => json!([{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }]),
            None => json!([]),
        };
        let body = json!({"error": {
            "code": status, "message": message, "status": top, "details": details,
        }});
        Answer {
            status,
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    /// `status` with `body` as given.
    pub fn raw(status: u16, body: &str) -> Self {
        Answer {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

#[derive(Default)]
struct State {
    public_key: Vec<u8>,
    token_uri: String,
    token_lifetime_secs: AtomicU64,
    tokens_issued: AtomicU64,
    assertions_refused: AtomicU64,
    token_answers: Mutex<VecDeque<Answer>>,
    valid_tokens: Mutex<HashSet<String>>,
    scripts: Mutex<HashMap<String, Answer>>,
    sends: AtomicU64,
    http2_requests: AtomicU64,
    accepted: AtomicU64,
    unauthorized: AtomicU64,
    revoke_after_accepted: AtomicU64,
    shape_errors: Mutex<Vec<String>>,
    record: AtomicBool,
    messages: Mutex<Vec<Value>>,
    sends_by_bearer: Mutex<HashMap<String, u64>>,
}

/// The mock; the server stops when it is dropped.
pub struct MockGoogle {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
    token_gate: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for MockGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockGoogle")
            .field("addr", &self.addr)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Drop for MockGoogle {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl MockGoogle {
    /// Starts on an ephemeral port of 127.0.0.1, trusting `key`'s assertions.
    pub async fn start(key: &TestKey) -> Self {
        Self::start_with(key, None).await
    }

    /// Starts behind TLS (ALPN `h2`, `http/1.1`) with a fresh self-signed certificate for
    /// 127.0.0.1, returned for the client to trust.
    pub async fn start_tls(key: &TestKey) -> (Self, CertificateDer<'static>) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let certificate = certified.cert.der().clone();
        let private_key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], private_key.into())
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        (Self::start_with(key, Some(acceptor)).await, certificate)
    }

    async fn start_with(key: &TestKey, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(State {
            public_key: key.public_key.clone(),
            token_uri: format!("{scheme}://{addr}/token"),
            token_lifetime_secs: AtomicU64::new(3600),
            revoke_after_accepted: AtomicU64::new(u64::MAX),
            record: AtomicBool::new(true),
            ..State::default()
        });
        let (token_gate, gate) = watch::channel(true);
        let accept = tokio::spawn(serve(listener, tls, state.clone(), gate));
        MockGoogle {
            addr,
            scheme,
            state,
            token_gate,
            accept,
        }
    }

    /// A gateway builder that sends to this (plain-text) mock with the shared test key, over
    /// h2c, on `clock`.
    pub fn builder(&self, clock: &ManualClock) -> FcmGatewayBuilder {
        let key =
            ServiceAccountKey::from_json(&self.service_account_json(TestKey::shared())).unwrap();
        FcmGateway::builder(key)
            .base_url(self.base_url())
            .transport(Transport::PlainText)
            .clock(Arc::new(clock.clone()))
    }

    /// [`builder`](Self::builder), built.
    pub fn gateway(&self, clock: &ManualClock) -> FcmGateway {
        self.builder(clock).build().unwrap()
    }

    /// Where FCM is, for the gateway's `base_url`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The token endpoint, as a key file names it.
    pub fn token_uri(&self) -> String {
        self.state.token_uri.clone()
    }

    /// A key file for `key` whose `token_uri` is this mock.
    pub fn service_account_json(&self, key: &TestKey) -> String {
        service_account_json(key, &self.token_uri())
    }

    /// Answers every message to `token` with `answer`.
    pub fn script(&self, token: &str, answer: Answer) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    /// The token endpoint answers `answer` to its next request instead of issuing a token.
    pub fn queue_token_answer(&self, answer: Answer) {
        self.state.token_answers.lock().unwrap().push_back(answer);
    }

    /// Access tokens issued from now on live `secs` seconds.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.state.token_lifetime_secs.store(secs, Ordering::SeqCst);
    }

    /// Token requests wait until [`release_token_answers`](Self::release_token_answers).
    pub fn hold_token_answers(&self) {
        self.token_gate.send_replace(false);
    }

    /// Lets held token requests through.
    pub fn release_token_answers(&self) {
        self.token_gate.send_replace(true);
    }

    /// FCM accepts `token` as if it had been issued here (for custom token sources).
    pub fn accept_token(&self, token: &str) {
        self.state
            .valid_tokens
            .lock()
            .unwrap()
            .insert(token.to_owned());
    }

    /// Every access token issued so far stops working (FCM answers a plain 401).
    pub fn revoke_tokens(&self) {
        self.state.valid_tokens.lock().unwrap().clear();
    }

    /// Revokes every token once `n` messages have been accepted.
    pub fn revoke_after_accepted(&self, n: u64) {
        self.state.revoke_after_accepted.store(n, Ordering::SeqCst);
    }

    /// Stops recording messages (benchmarks).
    /// Stops keeping messages (for long runs).
    pub fn stop_recording(&self) {
        self.state.record.store(false, Ordering::SeqCst);
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// Assertions the token endpoint refused.
    pub fn assertions_refused(&self) -> u64 {
        self.state.assertions_refused.load(Ordering::SeqCst)
    }

    /// FCM requests received, whatever their answer.
    pub fn sends(&self) -> u64 {
        self.state.sends.load(Ordering::SeqCst)
    }

    /// Requests of any kind (token or FCM) that arrived over HTTP/2.
    pub fn http2_requests(&self) -> u64 {
        self.state.http2_requests.load(Ordering::SeqCst)
    }

    /// FCM messages accepted.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// FCM requests refused for their access token.
    pub fn unauthorized(&self) -> u64 {
        self.state.unauthorized.load(Ordering::SeqCst)
    }

    /// FCM requests made with access token number `n` (1 is the first issued).
    pub fn sends_with_token(&self, n: u64) -> u64 {
        let key = access_token(n);
        let by_bearer = self.state.sends_by_bearer.lock().unwrap();
        by_bearer.get(&key).copied().unwrap_or(0)
    }

    /// Every way a request broke the v1 message rules; a correct gateway leaves it empty.
    pub fn shape_errors(&self) -> Vec<String> {
        self.state.shape_errors.lock().unwrap().clone()
    }

    /// The `message` of every request received.
    pub fn messages(&self) -> Vec<Value> {
        self.state.messages.lock().unwrap().clone()
    }
}

fn access_token(n: u64) -> String {
    format!("ya29.mock-access-token-{n}")
}

async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    gate: watch::Receiver<bool>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let gate = gate.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                let gate = gate.clone();
                async move { Ok::<_, Infallible>(route(&state, gate, request).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(1000);
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                    Err(_) => return,
                },
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
        });
    }
}

async fn route(
    state: &State,
    gate: watch::Receiver<bool>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if request.version() == hyper::Version::HTTP_2 {
        state.http2_requests.fetch_add(1, Ordering::SeqCst);
    }
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    if parts.method != hyper::Method::POST {
        return answer(&Answer::raw(405, ""));
    }
    if path == "/token" {
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return token_endpoint(state, gate, content_type, &body).await;
    }
    if path == format!("/v1/projects/{PROJECT}/messages:send") {
        let bearer = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        return fcm_send(state, &bearer, &body);
    }
    answer(&Answer::fcm_error(404, "NOT_FOUND", None, "no such path"))
}

async fn token_endpoint(
    state: &State,
    mut gate: watch::Receiver<bool>,
    content_type: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let _ = gate.wait_for(|open| *open).await;
    if let Some(scripted) = state.token_answers.lock().unwrap().pop_front() {
        return answer(&scripted);
    }
    let verdict = if content_type != "application/x-www-form-urlencoded" {
        Err(format!("content type {content_type:?}"))
    } else {
        check_token_request(state, body)
    };
    if let Err(problem) = verdict {
        state.assertions_refused.fetch_add(1, Ordering::SeqCst);
        let body = json!({"error": "invalid_grant", "error_description": problem});
        return answer(&Answer::raw(400, &body.to_string()));
    }
    let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = access_token(n);
    state.valid_tokens.lock().unwrap().insert(token.clone());
    let lifetime = state.token_lifetime_secs.load(Ordering::SeqCst);
    let body = json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"});
    answer(&Answer::raw(200, &body.to_string()))
}

/// The grant type and the assertion: RS256 by the test key, claims as Google requires.
fn check_token_request(state: &State, body: &[u8]) -> Result<(), String> {
    let form = parse_form(std::str::from_utf8(body).map_err(|_| "form is not UTF-8")?);
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err("grant_type".to_owned());
    }
    let assertion = form.get("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("assertion is not a JWS".to_owned());
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| "not base64url");
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| "header")?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &state.public_key)
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "bad signature")?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|_| "claims")?;
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("iat and exp must be integers".to_owned());
    };
    let checks = [
        (claims["iss"] == CLIENT_EMAIL, "iss"),
        (claims["scope"] == SCOPE, "scope"),
        (claims["aud"] == state.token_uri.as_str(), "aud"),
        (
            exp > iat && exp - iat <= 3600,
            "exp must be within an hour of iat",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, claim)) => Err(format!("claim {claim}")),
        None => Ok(()),
    }
}

fn fcm_send(state: &State, bearer: &str, body: &[u8]) -> Response<Full<Bytes>> {
    state.sends.fetch_add(1, Ordering::SeqCst);
    *state
        .sends_by_bearer
        .lock()
        .unwrap()
        .entry(bearer.to_owned())
        .or_default() += 1;
    if !state.valid_tokens.lock().unwrap().contains(bearer) {
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        return answer(&Answer::fcm_error(
            401,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        ));
    }
    let message = match check_message(body) {
        Ok(message) => message,
        Err(problem) => {
            state.shape_errors.lock().unwrap().push(problem.clone());
            return answer(&Answer::fcm_error(
                400,
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                &problem,
            ));
        }
    };
    let token = message["token"].as_str().unwrap_or_default().to_owned();
    if state.record.load(Ordering::SeqCst) {
        state.messages.lock().unwrap().push(message);
    }
    if let Some(scripted) = state.scripts.lock().unwrap().get(&token) {
        return answer(scripted);
    }
    let n = state.accepted.fetch_add(1, Ordering::SeqCst) + 1;
    if n == state.revoke_after_accepted.load(Ordering::SeqCst) {
        state.valid_tokens.lock().unwrap().clear();
    }
    let name = json!({"name": format!("projects/{PROJECT}/messages/{n}")});
    answer(&Answer::raw(200, &name.to_string()))
}

/// The v1 rules the gateway must keep: `{"message": …}` alone, exactly one target, data
/// values strings, `android.ttl` a duration string.
fn check_message(body: &[u8]) -> Result<Value, String> {
    let request: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let Some(fields) = request.as_object() else {
        return Err("body is not an object".to_owned());
    };
    if fields.len() != 1 || !fields.contains_key("message") {
        return Err("body must be exactly {\"message\": …}".to_owned());
    }
    let message = &request["message"];
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|t| message.get(**t).is_some())
        .count();
    if targets != 1 {
        return Err(format!("{targets} targets"));
    }
    for data in [&message["data"], &message["android"]["data"]] {
        if let Some(data) = data.as_object()
            && let Some((key, _)) = data.iter().find(|(_, v)| !v.is_string())
        {
            return Err(format!("data value {key} is not a string"));
        }
    }
    if let Some(ttl) = message["android"].get("ttl") {
        let ok = ttl
            .as_str()
            .and_then(|t| t.strip_suffix('s'))
            .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok_and(|s| s >= 0.0));
        if !ok {
            return Err(format!("android.ttl {ttl} is not a duration string"));
        }
    }
    Ok(message.clone())
}

fn answer(answer: &Answer) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap())
        .header("content-type", "application/json; charset=UTF-8");
    for (name, value) in &answer.headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(Bytes::from(answer.body.clone())))
        .unwrap()
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}
