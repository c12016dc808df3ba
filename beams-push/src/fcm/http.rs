//! The pooled HTTP/2 client FCM and the token endpoint are reached with, and one bounded
//! request–answer exchange.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::config::FcmConfigError;
use crate::Transport;

/// The client: HTTP/2 (with HTTP/1.1 as TLS fallback), one pooled connection per origin.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The largest answer body read; FCM's and Google's token answers are far smaller.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Builds the client for `transport`: TLS offering `h2` and `http/1.1` by ALPN, or HTTP/2 with
/// prior knowledge over plain text.
pub(crate) fn build_client(transport: &Transport) -> Result<HttpClient, FcmConfigError> {
    let plain_text = matches!(transport, Transport::PlainText);
    // hyper-rustls sets the ALPN protocols itself and refuses a config that already has some.
    // Plain text still needs a TLS config to build the connector; it is never used.
    let tls = transport
        .tls_config(&[])
        .or_else(|| plain_text.then(|| Transport::Tls.tls_config(&[])).flatten())
        .ok_or(FcmConfigError::Tls)?;
    let mut tcp = HttpConnector::new();
    // HTTP/2 frames are small: without this, Nagle's algorithm meets delayed ACKs and each
    // round trip waits ~40 ms.
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config((*tls).clone());
    let connector = if plain_text {
        builder.https_or_http().enable_http2().wrap_connector(tcp)
    } else {
        builder
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp)
    };
    Ok(Client::builder(TokioExecutor::new())
        .http2_only(plain_text)
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .build(connector))
}

/// An answer read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Sends `request` and reads the answer within `timeout`; the error is a reason fit for logs
/// (it never includes the request, whose headers carry credentials).
pub(crate) async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Answer, String> {
    let round_trip = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, round_trip)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// An error and its sources, `outer: inner: innermost`: hyper's own message alone ("client
/// error (Connect)") does not say what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
