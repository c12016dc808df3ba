//! Where the gateways reach their push services, from the flags: `--apns-endpoint` and
//! `--fcm-endpoint` in place of Apple's and Google's hosts, and `--push-ca`, extra root
//! certificates every gateway trusts beside the public ones. Each value is checked when the
//! server starts; a bad one stops it with an error naming its flag.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use axum::http::Uri;
use beams_core::is_loopback_address;
use beams_push::Transport;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::startup::StartupError;

/// Whether a push service's base URL may carry a path after its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// Scheme, host and port only: APNs builds its own paths.
    NoPath,
    /// A path prefix may follow: FCM's requests go to `{base}/v1/projects/…`.
    PrefixAllowed,
}

/// A push service's base URL, checked: `https://`, or `http://` on a loopback address (plain
/// text, for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpoint {
    url: String,
    plain_text: bool,
}

impl PushEndpoint {
    /// Checks `url`, the value of `flag`: an absolute `https://` URL with a host and no user
    /// information, query or fragment (nor a path, unless `path` allows one); `http://` only
    /// when the host is a loopback address or `localhost`.
    pub fn parse(flag: &'static str, url: &str, path: PathRule) -> Result<Self, StartupError> {
        let refuse = |reason: &str| StartupError::flag(flag, format!("{url:?} {reason}"));
        let uri: Uri = url
            .parse()
            .map_err(|_| refuse("is not a URL such as https://push.example.com"))?;
        let plain_text = match uri.scheme_str() {
            Some("https") => false,
            Some("http") => true,
            _ => return Err(refuse("must start with https://")),
        };
        let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
            return Err(refuse("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(refuse("must not have user information"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(refuse("must not have a query or fragment"));
        }
        if path == PathRule::NoPath && !matches!(uri.path(), "" | "/") {
            return Err(refuse("must have no path: scheme, host and port only"));
        }
        if plain_text && !is_loopback_host(authority.host()) {
            return Err(refuse(
                "must be https:// (http:// only on a loopback address, for tests)",
            ));
        }
        Ok(PushEndpoint {
            url: url.trim_end_matches('/').to_owned(),
            plain_text,
        })
    }

    /// The base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether it is plain `http://` (a loopback test server).
    pub fn is_plain_text(&self) -> bool {
        self.plain_text
    }
}

/// Whether `host` (as a URL has it, IPv6 in brackets) is a loopback address or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().map_or_else(
        |_| bare.eq_ignore_ascii_case("localhost"),
        is_loopback_address,
    )
}

/// The roots the gateways trust: the public ones (webpki-roots), and those of `--push-ca`.
#[derive(Debug, Clone, Default)]
pub struct PushTrust {
    extra_roots: Vec<CertificateDer<'static>>,
}

impl PushTrust {
    /// The public roots, and the certificates of the PEM file `path` when one is given (the
    /// `--push-ca` flag).
    pub fn new(path: Option<&Path>) -> Result<Self, StartupError> {
        let extra_roots = match path {
            Some(path) => read_roots("--push-ca", path)?,
            None => Vec::new(),
        };
        Ok(PushTrust { extra_roots })
    }

    /// How many extra roots are trusted.
    pub fn extra_roots(&self) -> usize {
        self.extra_roots.len()
    }

    /// TLS with the public roots and the extra ones: how `https://` services are reached.
    pub fn tls(&self) -> Transport {
        if self.extra_roots.is_empty() {
            Transport::Tls
        } else {
            Transport::TlsWithExtraRoots(self.extra_roots.clone())
        }
    }

    /// How `endpoint` is reached: plain text for `http://`, otherwise [`tls`](Self::tls).
    pub fn transport_for(&self, endpoint: &PushEndpoint) -> Transport {
        if endpoint.is_plain_text() {
            Transport::PlainText
        } else {
            self.tls()
        }
    }
}

/// The certificates of the PEM file `path`, each checked as a trust anchor; an unreadable
/// file, one with no certificate, or one that does not parse is refused naming `flag`. Also
/// how `--database-ca` is read.
pub(crate) fn read_roots(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, StartupError> {
    let refuse = |reason: String| StartupError::flag(flag, format!("{}: {reason}", path.display()));
    let pem = fs::read(path).map_err(|e| refuse(e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refuse(format!("not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(refuse(
            "holds no certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    for (n, certificate) in certificates.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|e| refuse(format!("certificate {} is not a usable root: {e}", n + 1)))?;
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, path: PathRule) -> Result<PushEndpoint, StartupError> {
        PushEndpoint::parse("--apns-endpoint", url, path)
    }

    fn refusal(url: &str, path: PathRule) -> String {
        let error = parse(url, path).unwrap_err();
        assert!(
            matches!(
                error,
                StartupError::InvalidFlag {
                    flag: "--apns-endpoint",
                    ..
                }
            ),
            "{error:?}"
        );
        error.to_string()
    }

    #[test]
    fn https_endpoints_are_reached_over_tls() {
        let endpoint = parse("https://apns.staging.example:8443/", PathRule::NoPath).unwrap();
        assert_eq!(endpoint.url(), "https://apns.staging.example:8443");
        assert!(!endpoint.is_plain_text());
        let fcm = parse("https://relay.example/fcm/", PathRule::PrefixAllowed).unwrap();
        assert_eq!(fcm.url(), "https://relay.example/fcm");
    }

    #[test]
    fn plain_http_is_for_loopback_addresses_only() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.5.0.1",
            "http://[::1]:9000",
            "http://localhost:1",
        ] {
            let endpoint = parse(url, PathRule::NoPath).unwrap();
            assert!(endpoint.is_plain_text(), "{url}");
        }
        for url in [
            "http://api.push.apple.com",
            "http://10.0.0.1",
            "http://[::ffff:10.0.0.1]",
        ] {
            let reason = refusal(url, PathRule::NoPath);
            assert!(reason.contains("must be https://"), "{reason}");
        }
    }

    #[test]
    fn unusable_urls_are_refused_naming_the_flag() {
        for (url, rule) in [
            ("", "not a URL"),
            ("api.push.apple.com", "must start with https://"),
            ("ftp://127.0.0.1", "must start with https://"),
            ("https://", "not a URL"),
            ("https://user@relay.example", "user information"),
            ("https://relay.example/?x=1", "query or fragment"),
            ("https://relay.example/#x", "query or fragment"),
            ("https://relay.example/3/device", "no path"),
            ("https://exa mple.com", "not a URL"),
        ] {
            let reason = refusal(url, PathRule::NoPath);
            assert!(reason.starts_with("--apns-endpoint: "), "{reason}");
            assert!(reason.contains(rule), "{url}: {reason}");
        }
    }

    fn generated_pem() -> String {
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .cert
            .pem()
    }

    fn trust_from(contents: &[u8]) -> Result<PushTrust, StartupError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("push-ca.pem");
        fs::write(&path, contents).unwrap();
        PushTrust::new(Some(&path))
    }

    #[test]
    fn extra_roots_are_read_from_a_pem_bundle() {
        let bundle = format!("{}{}", generated_pem(), generated_pem());
        let trust = trust_from(bundle.as_bytes()).unwrap();
        assert_eq!(trust.extra_roots(), 2);
        assert!(matches!(trust.tls(), Transport::TlsWithExtraRoots(roots) if roots.len() == 2));
        let plain =
            PushEndpoint::parse("--fcm-endpoint", "http://127.0.0.1:1", PathRule::NoPath).unwrap();
        assert!(matches!(trust.transport_for(&plain), Transport::PlainText));
    }

    #[test]
    fn without_push_ca_the_public_roots_alone_are_trusted() {
        let trust = PushTrust::new(None).unwrap();
        assert_eq!(trust.extra_roots(), 0);
        assert!(matches!(trust.tls(), Transport::Tls));
    }

    #[test]
    fn unusable_ca_files_are_refused_naming_the_flag() {
        let missing = PushTrust::new(Some(Path::new("/nonexistent/push-ca.pem"))).unwrap_err();
        let not_a_root = beams_test_support::pem::certificate_pem(b"not a certificate at all");
        for (error, rule) in [
            (missing, "/nonexistent/push-ca.pem"),
            (trust_from(b"").unwrap_err(), "holds no certificate"),
            (
                trust_from(b"just some text\n").unwrap_err(),
                "holds no certificate",
            ),
            (
                trust_from(not_a_root.as_bytes()).unwrap_err(),
                "certificate 1 is not a usable root",
            ),
            (
                trust_from(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                    .unwrap_err(),
                "not PEM",
            ),
        ] {
            assert!(
                matches!(
                    error,
                    StartupError::InvalidFlag {
                        flag: "--push-ca",
                        ..
                    }
                ),
                "{error:?}"
            );
            let reason = error.to_string();
            assert!(reason.starts_with("--push-ca: "), "{reason}");
            assert!(reason.contains(rule), "{reason}");
        }
    }
}
