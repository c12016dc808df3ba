//! How an [`FcmGateway`] is built: credentials, where FCM is, how to reach it, how much to
//! send at once, each checked before anything is sent.

use std::sync::Arc;

use http::Uri;

use super::access_token::AccessTokenSource;
use super::gateway::{FcmGateway, Settings};
use super::http::build_client;
use super::oauth::ServiceAccountTokenSource;
use super::service_account::{ServiceAccountKey, check_project_id};
use crate::ConfigError;
use crate::base_url::{PathRule, check_scheme, check_url};
use crate::http_builder::HttpGatewayBuilder;

/// Where FCM's HTTP v1 API is.
pub const FCM_BASE_URL: &str = "https://fcm.googleapis.com";

/// Credentials: a service-account key, or someone else's token source.
#[derive(Debug, Clone)]
enum Credentials {
    ServiceAccount(ServiceAccountKey),
    Source {
        project_id: String,
        source: Arc<dyn AccessTokenSource>,
    },
}

impl FcmGateway {
    /// Starts configuring a gateway that sends for the key's project, authenticating with
    /// access tokens the key obtains.
    pub fn builder(key: ServiceAccountKey) -> FcmGatewayBuilder {
        FcmGatewayBuilder::for_fcm(Credentials::ServiceAccount(key))
    }

    /// Starts configuring a gateway that sends for `project_id`, authenticating with tokens
    /// from `source` (workload identity, a metadata server, a sidecar…).
    pub fn builder_with_token_source(
        project_id: impl Into<String>,
        source: Arc<dyn AccessTokenSource>,
    ) -> FcmGatewayBuilder {
        FcmGatewayBuilder::for_fcm(Credentials::Source {
            project_id: project_id.into(),
            source,
        })
    }
}

/// What an [`FcmGatewayBuilder`] holds beside the shared settings: the credentials and where
/// FCM is.
#[derive(Debug, Clone)]
pub struct FcmSettings {
    credentials: Credentials,
    base_url: String,
}

/// Configures an [`FcmGateway`]: start with [`FcmGateway::builder`]; the shared settings are
/// [`HttpGatewayBuilder`]'s; [`build`](Self::build) checks every setting.
///
/// ```
/// use std::time::Duration;
/// use beams_push::ConfigError;
/// use beams_push::fcm::{FcmGateway, ServiceAccountKey};
///
/// # fn gateway(json: &str) -> Result<FcmGateway, ConfigError> {
/// let gateway = FcmGateway::builder(ServiceAccountKey::from_json(json)?)
///     .max_in_flight(200)
///     .request_timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok(gateway) }
/// ```
pub type FcmGatewayBuilder = HttpGatewayBuilder<FcmSettings>;

impl HttpGatewayBuilder<FcmSettings> {
    /// The default number of requests in flight at once.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 100;

    fn for_fcm(credentials: Credentials) -> Self {
        let own = FcmSettings {
            credentials,
            base_url: FCM_BASE_URL.to_owned(),
        };
        HttpGatewayBuilder::new(own, Self::DEFAULT_MAX_IN_FLIGHT)
    }

    /// Where FCM is (default [`FCM_BASE_URL`]): scheme, host, optional port and path prefix.
    /// Messages go to `{base_url}/v1/projects/{project_id}/messages:send`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.own.base_url = url.into();
        self
    }

    /// Checks every setting and builds the gateway. Needs no runtime and makes no request:
    /// the first access token is fetched by the first send.
    pub fn build(self) -> Result<FcmGateway, ConfigError> {
        ConfigError::check_timeout("request_timeout", self.request_timeout)?;
        let base_url = self.own.base_url.trim_end_matches('/');
        check_url("base_url", base_url, &self.transport, PathRule::Allowed)?;
        let project_id = match &self.own.credentials {
            Credentials::ServiceAccount(key) => key.project_id(),
            Credentials::Source { project_id, .. } => project_id,
        };
        check_project_id(project_id)?;
        let send_uri: Uri = format!("{base_url}/v1/projects/{project_id}/messages:send")
            .parse()
            .map_err(|_| ConfigError::invalid("base_url", "does not make a valid request URL"))?;
        let client = build_client(&self.transport)?;
        let (project_id, source): (String, Arc<dyn AccessTokenSource>) = match self.own.credentials
        {
            Credentials::ServiceAccount(key) => {
                let token_uri: Uri = key
                    .token_uri()
                    .parse()
                    .map_err(|_| ConfigError::invalid("token_uri", "is not an absolute URL"))?;
                check_scheme("token_uri", &token_uri, &self.transport)?;
                let project_id = key.project_id().to_owned();
                let source = ServiceAccountTokenSource::new(
                    key,
                    client.clone(),
                    self.clock.clone(),
                    self.request_timeout,
                );
                (project_id, Arc::new(source))
            }
            Credentials::Source { project_id, source } => (project_id, source),
        };
        Ok(FcmGateway::new(Settings {
            project_id,
            send_uri,
            client,
            source,
            max_in_flight: self.max_in_flight,
            request_timeout: self.request_timeout,
            clock: self.clock,
        }))
    }
}
