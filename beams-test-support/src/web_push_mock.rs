//! A loopback push service for Web Push tests: checks every request's VAPID token and
//! decrypts its body with an implementation independent of ours (RustCrypto's p256, hkdf and
//! aes-gcm), then answers as scripted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use beams_core::{EndpointRules, WebSubscription};
use bytes::Bytes;
use hkdf::Hkdf;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::Sha256;
use tokio::net::TcpListener;

/// A browser's side of a subscription: its private key and auth secret.
pub struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

impl Browser {
    /// A browser with a known private key (32 bytes) and auth secret, for known answers.
    pub fn from_parts(private_key: &[u8], auth: [u8; 16]) -> Self {
        let secret = p256::SecretKey::from_slice(private_key).expect("a P-256 scalar");
        Browser { secret, auth }
    }

    fn generate() -> Self {
        loop {
            let mut bytes = [0_u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).expect("random");
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                let mut auth = [0_u8; 16];
                aws_lc_rs::rand::fill(&mut auth).expect("random");
                return Browser { secret, auth };
            }
        }
    }

    fn public_uncompressed(&self) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// RFC 8291 decryption, written from the RFC with other crates than the gateway uses.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        if body.len() < 86 + 16 {
            return Err("body shorter than a header and a tag".into());
        }
        let (salt, rest) = body.split_at(16);
        let record_size = u32::from_be_bytes(rest[..4].try_into().map_err(|_| "rs")?);
        if record_size < 18 || rest[4] != 65 {
            return Err("bad rs or key id length".into());
        }
        let sender = &rest[5..70];
        let ciphertext = &rest[70..];
        let sender_key = p256::PublicKey::from_sec1_bytes(sender).map_err(|_| "sender key")?;
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender_key.as_affine());

        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public_uncompressed());
        info.extend_from_slice(sender);
        let mut ikm = [0_u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .map_err(|_| "hkdf ikm")?;
        let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0_u8; 16];
        let mut nonce = [0_u8; 12];
        content
            .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .map_err(|_| "hkdf cek")?;
        content
            .expand(b"Content-Encoding: nonce\0", &mut nonce)
            .map_err(|_| "hkdf nonce")?;
        let mut record = Aes128Gcm::new_from_slice(&cek)
            .map_err(|_| "aes key")?
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| "aes-gcm authentication failed")?;
        // Strip padding back to the delimiter of the last record (0x02).
        while record.last() == Some(&0) {
            record.pop();
        }
        match record.pop() {
            Some(2) => Ok(record),
            _ => Err("missing last-record delimiter".into()),
        }
    }
}

/// What the mock received and decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path it was posted to.
    pub path: String,
    /// The decrypted body.
    pub plaintext: Vec<u8>,
    /// Its `TTL` header.
    pub ttl: Option<String>,
    /// Its `Urgency` header.
    pub urgency: Option<String>,
    /// Its `Topic` header.
    pub topic: Option<String>,
}

#[derive(Default)]
struct State {
    browsers: HashMap<String, Browser>,
    answers: HashMap<String, (u16, Option<String>)>,
    received: Vec<Received>,
    problems: Vec<String>,
    /// How long each accepted message waits before it is answered.
    delay: std::time::Duration,
}

/// A running mock push service on 127.0.0.1.
#[derive(Clone)]
pub struct PushService {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for PushService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushService")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl PushService {
    /// Starts a push service on 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let service = PushService { addr, state };
        let accepting = service.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = accepting.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.handle(request).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        service
    }

    /// Its origin, the `aud` of the VAPID tokens it expects.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new browser subscription at `/push/<name>`.
    pub fn subscribe(&self, name: &str) -> WebSubscription {
        let browser = Browser::generate();
        let subscription = WebSubscription::from_parts(
            &format!("{}/push/{name}", self.origin()),
            &URL_SAFE_NO_PAD.encode(browser.public_uncompressed()),
            &URL_SAFE_NO_PAD.encode(browser.auth),
            EndpointRules {
                allow_loopback: true,
            },
        )
        .expect("a valid subscription");
        self.state
            .lock()
            .expect("state")
            .browsers
            .insert(format!("/push/{name}"), browser);
        subscription
    }

    /// Answers `status` (with `Retry-After` when given) to messages for `name`.
    pub fn answer(&self, name: &str, status: u16, retry_after: Option<&str>) {
        self.state.lock().expect("state").answers.insert(
            format!("/push/{name}"),
            (status, retry_after.map(str::to_owned)),
        );
    }

    /// Answers every message `delay` after receiving it (it counts as received at once): a
    /// slow push service, so a sender can be stopped in the middle of a publish.
    pub fn answer_after(&self, delay: std::time::Duration) {
        self.state.lock().expect("state").delay = delay;
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// Every check that failed, as text; empty when all requests were right.
    pub fn problems(&self) -> Vec<String> {
        self.state.lock().expect("state").problems.clone()
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (authorization, encoding) = (header("authorization"), header("content-encoding"));
        let (ttl, urgency, topic) = (header("ttl"), header("urgency"), header("topic"));
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => return self.problem(format!("{path}: unreadable body: {err}")),
        };
        if let Err(problem) = self.check_vapid(authorization.as_deref()) {
            return self.problem(format!("{path}: {problem}"));
        }
        if encoding.as_deref() != Some("aes128gcm") || ttl.is_none() {
            return self.problem(format!("{path}: missing aes128gcm encoding or TTL"));
        }
        let (status, retry_after, delay) = match self.take(&path, &body, ttl, urgency, topic) {
            Ok(answer) => answer,
            Err(problem) => return self.problem(problem),
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut response = Response::builder().status(status);
        if let Some(retry_after) = retry_after {
            response = response.header("retry-after", retry_after);
        }
        response
            .body(Full::new(Bytes::from_static(b"scripted")))
            .expect("a valid response")
    }

    /// Decrypts and records a message for `path`; answers the scripted status, `Retry-After`
    /// and delay. A plain function, so no lock is held across an await.
    fn take(
        &self,
        path: &str,
        body: &[u8],
        ttl: Option<String>,
        urgency: Option<String>,
        topic: Option<String>,
    ) -> Result<(u16, Option<String>, std::time::Duration), String> {
        let mut state = self.state.lock().expect("state");
        let browser = state
            .browsers
            .get(path)
            .ok_or_else(|| format!("{path}: no such subscription"))?;
        let plaintext = browser
            .decrypt(body)
            .map_err(|problem| format!("{path}: {problem}"))?;
        state.received.push(Received {
            path: path.to_owned(),
            plaintext,
            ttl,
            urgency,
            topic,
        });
        let (status, retry_after) = state.answers.get(path).cloned().unwrap_or((201, None));
        Ok((status, retry_after, state.delay))
    }

    fn problem(&self, problem: String) -> Response<Full<Bytes>> {
        self.state
            .lock()
            .expect("state")
            .problems
            .push(problem.clone());
        let mut response = Response::new(Full::new(Bytes::from(problem)));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    }

    /// RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`, with `aud` our origin, `exp` within
    /// 24 hours, `sub` a contact — the signature checked with the key in `k`.
    fn check_vapid(&self, authorization: Option<&str>) -> Result<(), String> {
        let value = authorization.ok_or("no Authorization")?;
        let params = value.strip_prefix("vapid ").ok_or("not a vapid scheme")?;
        let mut token = None;
        let mut key = None;
        for part in params.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => token = Some(t),
                Some(("k", k)) => key = Some(k),
                _ => return Err(format!("unexpected parameter {part:?}")),
            }
        }
        let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
        let key = URL_SAFE_NO_PAD.decode(key).map_err(|_| "k not base64url")?;
        let verifier = VerifyingKey::from_sec1_bytes(&key).map_err(|_| "k not a P-256 key")?;
        let (signed, signature) = token.rsplit_once('.').ok_or("JWT without signature")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "signature not base64url")?;
        let signature = Signature::from_slice(&signature).map_err(|_| "signature not r||s")?;
        verifier
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| "VAPID signature does not verify")?;
        let (header, claims) = signed.split_once('.').ok_or("JWT without claims")?;
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| "header")?)
                .map_err(|_| "header JSON")?;
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).map_err(|_| "claims")?)
                .map_err(|_| "claims JSON")?;
        if header["alg"] != "ES256" {
            return Err("alg is not ES256".into());
        }
        if claims["aud"] != self.origin().as_str() {
            return Err(format!("aud {} is not {}", claims["aud"], self.origin()));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "clock")?
            .as_secs() as i64;
        let exp = claims["exp"].as_i64().ok_or("no exp")?;
        if exp <= now || exp > now + 24 * 60 * 60 {
            return Err(format!("exp {exp} not within 24 h of {now}"));
        }
        let sub = claims["sub"].as_str().ok_or("no sub")?;
        if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
            return Err("sub is not a contact".into());
        }
        Ok(())
    }
}
