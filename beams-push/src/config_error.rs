//! Why a gateway cannot be built: the one error every gateway builder returns.

/// A gateway configuration that cannot work, naming the setting or credential field at fault.
/// No variant quotes key material.
///
/// Building is the only place this appears: once built, a gateway answers every delivery
/// with a classified [`DeliveryOutcome`](beams_core::DeliveryOutcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting, or a field of a credential, breaks its rule.
    #[error("`{field}` {reason}")]
    Invalid {
        /// The setting as the builder names it, or the credential's field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No TLS client configuration could be made for the transport.
    #[error("TLS could not be configured for the transport")]
    Tls,
}

impl ConfigError {
    /// `field` breaks its rule: `reason` completes the sentence "`field` …".
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The setting must be `expected`.
    pub(crate) fn expected(field: &'static str, expected: &str) -> Self {
        Self::invalid(field, format!("must be {expected}"))
    }

    /// Refuses a zero timeout: every request would fail at once.
    pub(crate) fn check_timeout(
        field: &'static str,
        timeout: std::time::Duration,
    ) -> Result<(), Self> {
        if timeout.is_zero() {
            Err(Self::expected(field, "a duration above zero"))
        } else {
            Ok(())
        }
    }
}
