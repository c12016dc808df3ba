//! https when given a certificate and key (some official SDKs only speak https): on `--listen`
//! in place of plain http, or on `--tls-listen` beside it.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use beams_test_support::server_process::ServerProcess;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};

use crate::support::{FCM_TOKEN, LIMIT, TestServer};

/// A certificate for 127.0.0.1 and its key, written as PEM files in a temporary directory.
struct Certificate {
    der: CertificateDer<'static>,
    cert_path: String,
    key_path: String,
    _dir: tempfile::TempDir,
}

impl Certificate {
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, generated.cert.pem()).unwrap();
        std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
        Certificate {
            der: generated.cert.der().clone(),
            cert_path: cert_path.to_str().unwrap().to_owned(),
            key_path: key_path.to_str().unwrap().to_owned(),
            _dir: dir,
        }
    }

    fn flags(&self) -> [&str; 4] {
        ["--tls-cert", &self.cert_path, "--tls-key", &self.key_path]
    }

    /// An https-only client that trusts this certificate alone, speaking HTTP/2 or HTTP/1.1.
    fn client(&self, http2: bool) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if http2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        Client::builder(TokioExecutor::new())
            .http2_only(http2)
            .build(connector)
    }

    /// GET `url` over https with HTTP/2 and with HTTP/1.1: `/health` answers each, in the
    /// version asked for.
    async fn assert_healthy(&self, url: &str) {
        for http2 in [true, false] {
            let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
            let response = tokio::time::timeout(LIMIT, self.client(http2).request(request))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let expected = if http2 {
                hyper::Version::HTTP_2
            } else {
                hyper::Version::HTTP_11
            };
            assert_eq!(response.version(), expected);
            assert_eq!(json_body(response).await, json!({"status": "ok"}));
        }
    }
}

async fn json_body(response: hyper::Response<hyper::body::Incoming>) -> Value {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// GET `url` over plain http/1.1: `/health` answers.
async fn assert_healthy_over_plain_http(url: &str) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    let response = tokio::time::timeout(LIMIT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(json_body(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn without_tls_listen_the_api_is_served_over_tls_on_listen() {
    let certificate = Certificate::generate();
    let server = TestServer::start(&certificate.flags()).await;
    assert!(server.tls_base.is_none());
    let url = format!("{}/health", server.base.replace("http://", "https://"));

    certificate.assert_healthy(&url).await;

    server.stop().await;
}

#[tokio::test]
async fn with_tls_listen_one_server_answers_plain_http_and_https_at_once() {
    let certificate = Certificate::generate();
    let mut flags = certificate.flags().to_vec();
    flags.extend(["--tls-listen", "127.0.0.1:0"]);
    let server = TestServer::start(&flags).await;
    let tls_base = server.tls_base.clone().expect("a --tls-listen address");
    assert_ne!(
        tls_base.replace("https://", ""),
        server.base.replace("http://", "")
    );

    assert_healthy_over_plain_http(&format!("{}/health", server.base)).await;
    certificate
        .assert_healthy(&format!("{tls_base}/health"))
        .await;
    // One router behind both: a device registered over http is read over https too.
    let device = server.register("fcm", FCM_TOKEN).await;
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let url = format!(
        "{}{}",
        server.base,
        server.device_api(&format!("/devices/fcm/{device}"))
    );
    let request = Request::get(&url).body(Full::new(Bytes::new())).unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let tls_url = url.replace(&server.base, &tls_base);
    let request = Request::get(&tls_url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = certificate.client(true).request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["id"], json!(device));

    server.stop().await;
}

#[tokio::test]
async fn plain_and_tls_connections_share_one_connection_cap() {
    let certificate = Certificate::generate();
    let mut flags = certificate.flags().to_vec();
    flags.extend(["--tls-listen", "127.0.0.1:0", "--max-connections", "1"]);
    let server = TestServer::start(&flags).await;
    let plain = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    // Served in turn: give the server time to take the plain one.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let url = format!("{}/health", server.tls_base.clone().unwrap());
    let client = certificate.client(false);
    let mut over_tls = tokio::spawn(async move {
        let request = Request::get(&url).body(Full::new(Bytes::new())).unwrap();
        client.request(request).await
    });
    let early = tokio::time::timeout(Duration::from_millis(500), &mut over_tls).await;
    assert!(
        early.is_err(),
        "no https answer while a plain connection holds the only slot"
    );

    drop(plain);
    let response = tokio::time::timeout(LIMIT, over_tls)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn the_binary_names_both_listeners_and_serves_each() {
    let certificate = Certificate::generate();
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("beams-data");
    let mut flags = vec!["--data-dir", data_dir.to_str().unwrap()];
    flags.extend(certificate.flags());
    flags.extend(["--tls-listen", "127.0.0.1:0"]);
    let running = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_beams-server")),
        &flags,
        Stdio::null(),
    )
    .unwrap();
    let tls_addr = running.tls_addr.clone().expect("a second listening line");
    assert_ne!(tls_addr, running.addr);

    assert_healthy_over_plain_http(&format!("http://{}/health", running.addr)).await;
    certificate
        .assert_healthy(&format!("https://{tls_addr}/health"))
        .await;
}

#[tokio::test]
async fn tls_listen_without_a_certificate_is_refused_before_starting() {
    use beams_server::Config;
    use clap::Parser;

    let refused = Config::try_parse_from(["beams-server", "--tls-listen", "127.0.0.1:0"])
        .expect_err("--tls-listen needs --tls-cert and --tls-key");
    let message = refused.to_string();
    assert!(message.contains("--tls-cert"), "{message}");
    assert!(message.contains("--tls-key"), "{message}");
}
