//! Where an APNs gateway connects: Apple's two environments or a custom endpoint, resolved
//! to a scheme, host, port and TLS configuration.

use std::fmt;
use std::sync::Arc;

use http::uri::{Authority, Scheme};

use crate::base_url::{PathRule, check_url};
use crate::{ConfigError, Transport};

/// Apple's production APNs, for apps signed for distribution (App Store, TestFlight).
pub const APNS_PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's sandbox APNs, for development builds.
pub const APNS_SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";

/// Where the gateway sends notifications.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ApnsEndpoint {
    /// [`APNS_PRODUCTION_URL`]: apps signed for distribution (App Store, TestFlight).
    Production,
    /// [`APNS_SANDBOX_URL`]: development builds.
    Sandbox,
    /// Any base URL, for a test server or a relay: `http://127.0.0.1:8443` with
    /// [`Transport::PlainText`] (HTTP/2 with prior knowledge), or `https://…` with
    /// [`Transport::Tls`], [`Transport::TlsWithRoots`] or [`Transport::TlsWithExtraRoots`]
    /// (ALPN `h2`).
    Custom {
        /// `scheme://host[:port]`, without a path.
        base_url: String,
        /// How to connect; must agree with the URL's scheme.
        transport: Transport,
    },
}

impl ApnsEndpoint {
    /// A custom endpoint: `base_url` reached with `transport`.
    pub fn custom(base_url: impl Into<String>, transport: Transport) -> Self {
        ApnsEndpoint::Custom {
            base_url: base_url.into(),
            transport,
        }
    }
}

/// Where and how connections go, resolved from an [`ApnsEndpoint`].
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("scheme", &self.scheme.as_str())
            .field("authority", &self.authority.as_str())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Target {
    pub(crate) fn resolve(endpoint: &ApnsEndpoint) -> Result<Self, ConfigError> {
        let (url, transport) = match endpoint {
            ApnsEndpoint::Production => (APNS_PRODUCTION_URL, &Transport::Tls),
            ApnsEndpoint::Sandbox => (APNS_SANDBOX_URL, &Transport::Tls),
            ApnsEndpoint::Custom {
                base_url,
                transport,
            } => (base_url.as_str(), transport),
        };
        let uri = check_url("endpoint", url, transport, PathRule::None)?;
        let (scheme, tls, default_port) = if uri.scheme_str() == Some("https") {
            let tls = transport.tls_config(&[b"h2"]).ok_or(ConfigError::Tls)?;
            (Scheme::HTTPS, Some(tls), 443)
        } else {
            (Scheme::HTTP, None, 80)
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| ConfigError::invalid("endpoint", "has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Target {
            scheme,
            port: authority.port_u16().unwrap_or(default_port),
            authority,
            host,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: &str, transport: Transport) -> Result<Target, ConfigError> {
        Target::resolve(&ApnsEndpoint::custom(url, transport))
    }

    #[test]
    fn known_endpoints_resolve_to_apple_hosts_over_tls() {
        let target = Target::resolve(&ApnsEndpoint::Sandbox).unwrap();
        assert_eq!(target.host, "api.sandbox.push.apple.com");
        assert_eq!(target.port, 443);
        assert!(target.tls.is_some());
    }

    #[test]
    fn apples_hosts_behind_extra_roots_resolve_like_the_known_endpoints() {
        let extra = Transport::TlsWithExtraRoots(Vec::new());
        let target = resolve(APNS_PRODUCTION_URL, extra).unwrap();
        assert_eq!(
            (target.host.as_str(), target.port),
            ("api.push.apple.com", 443)
        );
        assert!(target.tls.is_some());
    }

    #[test]
    fn custom_endpoints_need_a_scheme_that_matches_the_transport() {
        let plain = resolve("http://127.0.0.1:8080", Transport::PlainText).unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 8080));
        assert!(plain.tls.is_none());
        assert!(resolve("https://127.0.0.1:1", Transport::PlainText).is_err());
        assert!(resolve("http://127.0.0.1:1", Transport::Tls).is_err());
        assert!(resolve("ftp://127.0.0.1:1", Transport::PlainText).is_err());
        assert!(resolve("http://127.0.0.1:1/3/device", Transport::PlainText).is_err());
        assert!(resolve("127.0.0.1", Transport::PlainText).is_err());
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A plain-text loopback target for unit tests that build requests.
    pub(crate) fn plain_target() -> Target {
        Target::resolve(&ApnsEndpoint::custom(
            "http://127.0.0.1:1",
            Transport::PlainText,
        ))
        .expect("a valid loopback URL")
    }
}
