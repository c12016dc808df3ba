//! How an APNs gateway is built: the signing key and its ids, the topic, the endpoint, the
//! pool and the clock, each checked before anything is sent.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, SystemClock};

use super::endpoint::{ApnsEndpoint, Target};
use super::gateway::{ApnsGateway, Settings};
use super::provider_token::Signer;
use crate::ConfigError;

impl ApnsGateway {
    /// Starts configuring a gateway from the token-auth credential: the `.p8` key's PEM text,
    /// its 10-character key id, the team id, and the topic (the app's bundle id).
    pub fn builder(
        key_pem: &str,
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        topic: impl Into<String>,
    ) -> ApnsGatewayBuilder {
        ApnsGatewayBuilder {
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
}

/// The key text while it waits to be parsed: never printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Configures an [`ApnsGateway`]: start with [`ApnsGateway::builder`]; [`build`](Self::build)
/// checks every setting and parses the key.
///
/// Defaults: [`ApnsEndpoint::Production`], one connection, the system clock, 30 s per
/// request, 10 s to connect, up to 3 resends of a request a connection did not process.
#[derive(Debug, Clone)]
pub struct ApnsGatewayBuilder {
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

impl ApnsGatewayBuilder {
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

    /// Checks every setting, parses the key, and builds the gateway. Connections open lazily,
    /// on the first send, so no runtime is needed yet.
    pub fn build(self) -> Result<ApnsGateway, ConfigError> {
        check_id("key_id", &self.key_id)?;
        check_id("team_id", &self.team_id)?;
        check_topic(&self.topic)?;
        let pool_size = NonZeroUsize::new(self.pool_size)
            .filter(|n| n.get() <= 64)
            .ok_or(ConfigError::expected("pool_size", "1 to 64 connections"))?;
        ConfigError::check_timeout("request_timeout", self.request_timeout)?;
        ConfigError::check_timeout("connect_timeout", self.connect_timeout)?;
        if self.max_resends > 10 {
            return Err(ConfigError::expected("max_resends", "0 to 10"));
        }
        let target = Target::resolve(&self.endpoint)?;
        let signer = Signer::new(&self.key_pem.0, &self.key_id, self.team_id)?;
        Ok(ApnsGateway::new(Settings {
            signer: Arc::new(signer),
            topic: self.topic,
            target,
            pool_size,
            clock: self.clock,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            max_resends: self.max_resends,
        }))
    }
}

/// Key and team ids are short ASCII letters and digits (Apple's are 10 characters).
fn check_id(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ConfigError::expected(
            field,
            "1 to 64 ASCII letters and digits",
        ))
    }
}

/// A bundle id: letters, digits, `.`, `-` and `_`, as it travels in the `apns-topic` header.
fn check_topic(topic: &str) -> Result<(), ConfigError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
    if (1..=255).contains(&topic.len()) && topic.bytes().all(allowed) {
        Ok(())
    } else {
        Err(ConfigError::expected(
            "topic",
            "a bundle id: 1 to 255 of A-Z a-z 0-9 . - _",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
