//! The pooled HTTP/2 client FCM and the token endpoint are reached with, and one bounded
//! request–answer exchange.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::reach::Reach;
use crate::transport::HttpClientOptions;
use crate::{ConfigError, Transport};

pub(crate) use crate::transport::HttpClient;

/// The largest answer body read; FCM's and Google's token answers are far smaller.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Builds the client for `transport`: TLS offering `h2` and `http/1.1` by ALPN, or HTTP/2 with
/// prior knowledge over plain text.
pub(crate) fn build_client(transport: &Transport) -> Result<HttpClient, ConfigError> {
    transport
        .http_client(HttpClientOptions {
            h2_prior_knowledge: true,
            allow_http: false,
            // The operator configured FCM's and the token endpoint's URLs.
            reach: Reach::Anywhere,
        })
        .ok_or(ConfigError::Tls)
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
