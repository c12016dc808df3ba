//! What can go wrong when configuring the APNs gateway.

/// A reason the APNs gateway cannot be built. Sending never fails with this type: every
/// delivery gets a classified [`DeliveryOutcome`](beams_core::DeliveryOutcome) instead.
///
/// No variant carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApnsError {
    /// The signing key is not a PEM-encoded PKCS#8 P-256 private key (an App Store Connect
    /// `.p8` file), or it cannot sign ES256.
    #[error("the APNs signing key is not a PEM-encoded PKCS#8 P-256 private key")]
    InvalidKey,
    /// A setting breaks its rule.
    #[error("invalid APNs setting `{field}`: expected {expected}")]
    InvalidSetting {
        /// The setting, as the builder names it.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The endpoint's base URL cannot be used.
    #[error("invalid APNs endpoint {url:?}: {reason}")]
    InvalidEndpoint {
        /// The base URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No TLS client configuration could be made for the endpoint.
    #[error("no TLS configuration could be built for the APNs endpoint")]
    Tls,
}
