//! How the APNs gateway is configured: the signing key and its ids, the topic, the endpoint,
//! the pool and the clock.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, SystemClock};
use http::uri::{Authority, Scheme};

use super::error::ApnsError;
use super::provider_token::Signer;
use crate::Transport;

/// Where the gateway sends notifications.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ApnsEndpoint {
    /// `https://api.push.apple.com`: apps signed for distribution (App Store, TestFlight).
    Production,
    /// `https://api.sandbox.push.apple.com`: development builds.
    Sandbox,
    /// Any base URL, for a test server or a relay: `http://127.0.0.1:8443` with
    /// [`Transport::PlainText`] (HTTP/2 with prior knowledge), or `https://…` with
    /// [`Transport::Tls`] or [`Transport::TlsWithRoots`] (ALPN `h2`).
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
    fn resolve(endpoint: &ApnsEndpoint) -> Result<Self, ApnsError> {
        let (url, transport) = match endpoint {
            ApnsEndpoint::Production => ("https://api.push.apple.com", &Transport::Tls),
            ApnsEndpoint::Sandbox => ("https://api.sandbox.push.apple.com", &Transport::Tls),
            ApnsEndpoint::Custom {
                base_url,
                transport,
            } => (base_url.as_str(), transport),
        };
        let invalid = |reason| ApnsError::InvalidEndpoint {
            url: url.to_owned(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|_| invalid("not an absolute URL"))?;
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(invalid("a base URL has no path"));
        }
        if uri.query().is_some() {
            return Err(invalid("a base URL has no query"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("no user information allowed"));
        }
        let (scheme, tls, default_port) = match uri.scheme_str() {
            Some("https") => {
                let tls = transport.tls_config(&[b"h2"]);
                match (transport, tls) {
                    (Transport::PlainText, _) => {
                        return Err(invalid("https needs a TLS transport"));
                    }
                    (_, None) => return Err(ApnsError::Tls),
                    (_, Some(tls)) => (Scheme::HTTPS, Some(tls), 443),
                }
            }
            Some("http") => {
                if !matches!(transport, Transport::PlainText) {
                    return Err(invalid("http needs the plain-text transport"));
                }
                (Scheme::HTTP, None, 80)
            }
            _ => return Err(invalid("the scheme must be https or http")),
        };
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

/// Everything the APNs gateway needs, validated. Build it with [`ApnsConfig::builder`].
///
/// Its `Debug` output never shows the signing key.
#[derive(Clone)]
pub struct ApnsConfig {
    pub(crate) signer: Arc<Signer>,
    pub(crate) topic: String,
    pub(crate) target: Target,
    pub(crate) pool_size: NonZeroUsize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_resends: u32,
}

impl fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("signer", &self.signer)
            .field("topic", &self.topic)
            .field("target", &self.target)
            .field("pool_size", &self.pool_size)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_resends", &self.max_resends)
            .finish_non_exhaustive()
    }
}

impl ApnsConfig {
    /// Starts a configuration from the token-auth credential: the `.p8` key's PEM text, its
    /// 10-character key id, the team id, and the topic (the app's bundle id).
    ///
    /// Defaults: [`ApnsEndpoint::Production`], one connection, the system clock, 30 s per
    /// request, 10 s to connect, up to 3 resends of a request a connection did not process.
    pub fn builder(
        key_pem: &str,
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        topic: impl Into<String>,
    ) -> ApnsConfigBuilder {
        ApnsConfigBuilder {
            key_pem: Secret(key_pem.to_owned()),
            key_id: key_id.into(),
            team_id: team_id.into(),
            topic: topic.into(),
            endpoint: ApnsEndpoint::Production,
            pool_size: 1,
            clock: Arc::new(SystemClock),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_resends: 3,
        }
    }

    /// The topic notifications are sent to (the bundle id).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Connections kept open.
    pub fn pool_size(&self) -> usize {
        self.pool_size.get()
    }
}

/// The key text while it waits to be parsed: never printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Builds an [`ApnsConfig`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone)]
pub struct ApnsConfigBuilder {
    key_pem: Secret,
    key_id: String,
    team_id: String,
    topic: String,
    endpoint: ApnsEndpoint,
    pool_size: usize,
    clock: Arc<dyn Clock>,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_resends: u32,
}

impl ApnsConfigBuilder {
    /// Where to send (default [`ApnsEndpoint::Production`]).
    pub fn endpoint(mut self, endpoint: ApnsEndpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Connections to keep open, 1 to 64 (default 1). All share one provider token.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections;
        self
    }

    /// The clock that dates provider tokens (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long one request may take once it holds a stream: sending it and reading the
    /// answer, queueing for a stream excluded (default 30 s). A resend gets a timeout of its
    /// own. Past it the delivery is `RetryLater`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long opening a connection (TCP, TLS, HTTP/2) may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often one delivery is sent again when a connection closes before processing it
    /// (GOAWAY, refused stream), 0 to 10 (default 3). Past it the delivery is `RetryLater`.
    pub fn max_resends(mut self, resends: u32) -> Self {
        self.max_resends = resends;
        self
    }

    /// Checks every setting and parses the key.
    pub fn build(self) -> Result<ApnsConfig, ApnsError> {
        check_id("key_id", &self.key_id)?;
        check_id("team_id", &self.team_id)?;
        check_topic(&self.topic)?;
        let pool_size = NonZeroUsize::new(self.pool_size)
            .filter(|n| n.get() <= 64)
            .ok_or(ApnsError::InvalidSetting {
                field: "pool_size",
                expected: "1 to 64 connections",
            })?;
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ApnsError::InvalidSetting {
                field: "timeout",
                expected: "a duration above zero",
            });
        }
        if self.max_resends > 10 {
            return Err(ApnsError::InvalidSetting {
                field: "max_resends",
                expected: "0 to 10",
            });
        }
        let target = Target::resolve(&self.endpoint)?;
        let signer = Signer::new(&self.key_pem.0, &self.key_id, self.team_id)?;
        Ok(ApnsConfig {
            signer: Arc::new(signer),
            topic: self.topic,
            target,
            pool_size,
            clock: self.clock,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            max_resends: self.max_resends,
        })
    }
}

/// Key and team ids are short ASCII letters and digits (Apple's are 10 characters).
fn check_id(field: &'static str, value: &str) -> Result<(), ApnsError> {
    if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ApnsError::InvalidSetting {
            field,
            expected: "1 to 64 ASCII letters and digits",
        })
    }
}

/// A bundle id: letters, digits, `.`, `-` and `_`, as it travels in the `apns-topic` header.
fn check_topic(topic: &str) -> Result<(), ApnsError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
    if (1..=255).contains(&topic.len()) && topic.bytes().all(allowed) {
        Ok(())
    } else {
        Err(ApnsError::InvalidSetting {
            field: "topic",
            expected: "a bundle id: 1 to 255 of A-Z a-z 0-9 . - _",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: &str, transport: Transport) -> Result<Target, ApnsError> {
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

    #[test]
    fn ids_and_topics_are_checked() {
        assert!(check_id("key_id", "ABC123DEFG").is_ok());
        assert!(check_id("key_id", "").is_err());
        assert!(check_id("team_id", "has space").is_err());
        assert!(check_topic("com.example.app").is_ok());
        assert!(check_topic("com.example app").is_err());
        assert!(check_topic("").is_err());
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
