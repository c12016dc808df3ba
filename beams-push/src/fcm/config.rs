//! How an [`FcmGateway`](super::FcmGateway) is set up: credentials, where FCM is, how to reach
//! it, how much to send at once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{Clock, SystemClock};

use super::access_token::AccessTokenSource;
use super::service_account::ServiceAccountKey;
use crate::Transport;

/// Where FCM's HTTP v1 API is.
pub const FCM_BASE_URL: &str = "https://fcm.googleapis.com";

/// A configuration that cannot work, naming the field at fault (never quoting a secret).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FcmConfigError {
    /// The service-account key file could not be read.
    #[error("cannot read the service-account key file {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The service-account key is not a JSON object.
    #[error("the service-account key is not a JSON object ({detail})")]
    NotJson {
        /// Where parsing stopped.
        detail: String,
    },
    /// A required field is missing or empty.
    #[error("`{field}` is missing")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field is present but unusable.
    #[error("`{field}` {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No TLS client configuration could be made for the transport.
    #[error("TLS could not be configured for the transport")]
    Tls,
}

/// Credentials: a service-account key, or someone else's token source.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    ServiceAccount(ServiceAccountKey),
    Source(Arc<dyn AccessTokenSource>),
}

/// The configuration of an [`FcmGateway`](super::FcmGateway).
///
/// ```
/// use std::time::Duration;
/// use beams_push::fcm::FcmConfig;
///
/// # fn config(json: &str) -> Result<FcmConfig, beams_push::fcm::FcmConfigError> {
/// let config = FcmConfig::from_service_account_json(json)?
///     .max_in_flight(200)
///     .request_timeout(Duration::from_secs(10));
/// # Ok(config) }
/// ```
#[derive(Debug, Clone)]
pub struct FcmConfig {
    pub(crate) project_id: String,
    pub(crate) credentials: Credentials,
    pub(crate) base_url: String,
    pub(crate) transport: Transport,
    pub(crate) max_in_flight: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl FcmConfig {
    /// The default number of requests in flight at once.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 100;
    /// The default time one request may take.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// Sends for the key's project, authenticating with access tokens the key obtains.
    pub fn from_service_account(key: ServiceAccountKey) -> Self {
        let project_id = key.project_id().to_owned();
        Self::with_credentials(project_id, Credentials::ServiceAccount(key))
    }

    /// Parses a service-account key file's JSON (see [`ServiceAccountKey::from_json`]).
    pub fn from_service_account_json(json: &str) -> Result<Self, FcmConfigError> {
        ServiceAccountKey::from_json(json).map(Self::from_service_account)
    }

    /// Reads and parses a service-account key file.
    pub fn from_service_account_file(path: impl AsRef<Path>) -> Result<Self, FcmConfigError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| FcmConfigError::ReadFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_service_account_json(&json)
    }

    /// Sends for `project_id`, authenticating with tokens from `source` (workload identity,
    /// a metadata server, a sidecar…).
    pub fn with_token_source(
        project_id: &str,
        source: Arc<dyn AccessTokenSource>,
    ) -> Result<Self, FcmConfigError> {
        check_project_id(project_id)?;
        Ok(Self::with_credentials(
            project_id.to_owned(),
            Credentials::Source(source),
        ))
    }

    fn with_credentials(project_id: String, credentials: Credentials) -> Self {
        FcmConfig {
            project_id,
            credentials,
            base_url: FCM_BASE_URL.to_owned(),
            transport: Transport::default(),
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    /// Where FCM is (default [`FCM_BASE_URL`]): scheme, host, optional port and path prefix.
    /// Messages go to `{base_url}/v1/projects/{project_id}/messages:send`.
    pub fn base_url(mut self, url: &str) -> Result<Self, FcmConfigError> {
        check_url("base_url", url)?;
        self.base_url = url.trim_end_matches('/').to_owned();
        Ok(self)
    }

    /// How FCM and the token endpoint are reached (default: TLS with public roots).
    /// [`Transport::PlainText`] speaks HTTP/2 with prior knowledge to `http://` URLs, for
    /// loopback tests.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// How many requests may be in flight at once across all batches (default 100, at least 1).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How long one request may take before it counts as a transient failure (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Where "now" comes from for token expiry and `Retry-After` dates (default: system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The Firebase project messages are sent for.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// A project id goes into the request path: 1 to 100 of `a-z A-Z 0-9 - . :` (domain-scoped
/// projects look like `example.com:project`).
pub(crate) fn check_project_id(project_id: &str) -> Result<(), FcmConfigError> {
    let fits = (1..=100).contains(&project_id.len())
        && project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if fits {
        Ok(())
    } else {
        Err(FcmConfigError::InvalidField {
            field: "project_id",
            reason: "must be 1 to 100 of a-z A-Z 0-9 - . :".to_owned(),
        })
    }
}

/// An `http` or `https` URL with a host, and no query or fragment.
pub(crate) fn check_url(field: &'static str, url: &str) -> Result<(), FcmConfigError> {
    let bad = |reason: &str| FcmConfigError::InvalidField {
        field,
        reason: reason.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad(
            "must start with https:// (or http:// for a loopback test)",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(())
}
