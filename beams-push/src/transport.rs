//! How a gateway reaches its push service: TLS with public roots, with public roots and some
//! of your own, with given roots only, or plain text for loopback tests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;

use crate::reach::{Reach, ReachCheck, ReachResolver};

/// The pooled HTTP client FCM and Web Push send with: HTTP/2 or HTTP/1.1 by ALPN over TLS,
/// connecting only where its [`Reach`] allows.
pub(crate) type HttpClient =
    Client<ReachCheck<HttpsConnector<HttpConnector<ReachResolver>>>, Full<Bytes>>;

/// What a gateway needs of [`Transport::http_client`] beyond the transport itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpClientOptions {
    /// Over plain text, speak HTTP/2 with prior knowledge (otherwise HTTP/1.1).
    pub(crate) h2_prior_knowledge: bool,
    /// Over TLS, still send `http://` URIs in plain text (Web Push's loopback endpoints);
    /// otherwise only `https://` is reached.
    pub(crate) allow_http: bool,
    /// The addresses the client may connect to.
    pub(crate) reach: Reach,
}

/// How a gateway connects to its push service.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// TLS, trusting the Mozilla root store (webpki-roots): production.
    #[default]
    Tls,
    /// TLS, trusting only these root certificates (DER): a test server or a private CA.
    TlsWithRoots(Vec<CertificateDer<'static>>),
    /// TLS, trusting the Mozilla root store and these root certificates (DER) too: a relay
    /// or staging push service behind a private CA, while the public services stay reachable
    /// (a Web Push gateway sends to many hosts).
    TlsWithExtraRoots(Vec<CertificateDer<'static>>),
    /// Plain text (HTTP/2 with prior knowledge, or HTTP/1.1): loopback test servers only.
    PlainText,
}

/// Adds `certificates` to `roots`; one that does not parse is skipped and reported.
fn add_roots(roots: &mut rustls::RootCertStore, certificates: &[CertificateDer<'static>]) {
    let (_, rejected) = roots.add_parsable_certificates(certificates.iter().cloned());
    if rejected > 0 {
        tracing::warn!(rejected, "root certificates that do not parse were skipped");
    }
}

impl Transport {
    /// The root certificates this transport trusts, or `None` for plain text. A root
    /// certificate that does not parse is skipped and reported.
    fn root_store(&self) -> Option<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        match self {
            Transport::PlainText => return None,
            Transport::Tls => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Transport::TlsWithRoots(certificates) => add_roots(&mut roots, certificates),
            Transport::TlsWithExtraRoots(certificates) => {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                add_roots(&mut roots, certificates);
            }
        }
        Some(roots)
    }

    /// A client TLS configuration for this transport offering `alpn` protocols, or `None` for
    /// plain text (or, never in practice, a provider without safe protocol versions).
    pub(crate) fn tls_config(&self, alpn: &[&[u8]]) -> Option<Arc<rustls::ClientConfig>> {
        let roots = self.root_store()?;
        // Name the provider rather than rely on a process-wide default: one crypto stack,
        // aws-lc-rs, for TLS, JWTs and Web Push encryption.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Some(Arc::new(config))
    }

    /// A pooled client for this transport: TLS offering `h2` and `http/1.1` by ALPN, or plain
    /// text (HTTP/2 with prior knowledge when `options` asks, else HTTP/1.1). Idle connections
    /// close after 90 s, HTTP/2 connections are pinged every 30 s, and connecting gives up after
    /// 10 s. `None` only when TLS cannot be configured at all (a provider without safe protocol
    /// versions, which aws-lc-rs never is).
    pub(crate) fn http_client(&self, options: HttpClientOptions) -> Option<HttpClient> {
        let plain_text = matches!(self, Transport::PlainText);
        // hyper-rustls sets the ALPN protocols itself and refuses a config that already has
        // some. Plain text still needs a TLS config to build the connector.
        let tls = match self {
            Transport::PlainText => Transport::Tls.tls_config(&[]),
            _ => self.tls_config(&[]),
        }?;
        let mut tcp = HttpConnector::new_with_resolver(ReachResolver::new(options.reach));
        // HTTP/2 frames are small: without this, Nagle's algorithm meets delayed ACKs and each
        // round trip waits ~40 ms.
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config((*tls).clone());
        let h2_only = plain_text && options.h2_prior_knowledge;
        let connector = if h2_only {
            builder.https_or_http().enable_http2().wrap_connector(tcp)
        } else if plain_text || options.allow_http {
            builder
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(tcp)
        } else {
            builder
                .https_only()
                .enable_all_versions()
                .wrap_connector(tcp)
        };
        Some(
            Client::builder(TokioExecutor::new())
                .http2_only(h2_only)
                .timer(TokioTimer::new())
                // Without a pool timer, idle connections are never closed.
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .http2_keep_alive_interval(Duration::from_secs(30))
                .http2_keep_alive_timeout(Duration::from_secs(10))
                .build(ReachCheck::new(connector, options.reach)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated_root() -> CertificateDer<'static> {
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
        generated.cert.der().clone()
    }

    fn trusted(transport: &Transport) -> usize {
        transport.root_store().map_or(0, |roots| roots.len())
    }

    #[test]
    fn extra_roots_are_trusted_beside_the_public_ones() {
        let public = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(trusted(&Transport::Tls), public);
        let extra = Transport::TlsWithExtraRoots(vec![generated_root(), generated_root()]);
        assert_eq!(trusted(&extra), public + 2);
        assert!(extra.tls_config(&[b"h2"]).is_some());
    }

    #[test]
    fn given_roots_replace_the_public_ones() {
        let only = Transport::TlsWithRoots(vec![generated_root()]);
        assert_eq!(trusted(&only), 1);
    }

    #[test]
    fn a_root_that_does_not_parse_is_skipped() {
        let garbage = CertificateDer::from(b"not a certificate".to_vec());
        let extra = Transport::TlsWithExtraRoots(vec![garbage, generated_root()]);
        assert_eq!(trusted(&extra), webpki_roots::TLS_SERVER_ROOTS.len() + 1);
    }

    #[test]
    fn plain_text_has_no_tls() {
        assert!(Transport::PlainText.root_store().is_none());
        assert!(Transport::PlainText.tls_config(&[]).is_none());
    }
}
