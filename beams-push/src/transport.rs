//! How a gateway reaches its push service: TLS with public roots, TLS with given roots, or
//! plain text for loopback tests.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// How a gateway connects to its push service.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// TLS, trusting the Mozilla root store (webpki-roots): production.
    #[default]
    Tls,
    /// TLS, trusting only these root certificates (DER): a test server or a private CA.
    TlsWithRoots(Vec<CertificateDer<'static>>),
    /// Plain text (HTTP/2 with prior knowledge, or HTTP/1.1): loopback test servers only.
    PlainText,
}

impl Transport {
    /// A client TLS configuration for this transport offering `alpn` protocols, or `None` for
    /// plain text (or, never in practice, a provider without safe protocol versions). A root
    /// certificate that does not parse is skipped and reported.
    pub(crate) fn tls_config(&self, alpn: &[&[u8]]) -> Option<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        match self {
            Transport::PlainText => return None,
            Transport::Tls => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Transport::TlsWithRoots(certificates) => {
                let (_, rejected) = roots.add_parsable_certificates(certificates.iter().cloned());
                if rejected > 0 {
                    tracing::warn!(rejected, "root certificates that do not parse were skipped");
                }
            }
        }
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
}
