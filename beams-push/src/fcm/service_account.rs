//! The service-account key file Google issues (`project_id`, `client_email`, `private_key`,
//! `token_uri`), parsed and checked once.

use std::fmt;
use std::path::Path;

use jsonwebtoken::EncodingKey;
use serde_json::{Map, Value};

use crate::ConfigError;
use crate::base_url::{PathRule, check_shape};

/// Where Google's service-account keys exchange assertions, when a key file does not say.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service-account key: who signs, with what, and where to exchange the signature for an
/// access token.
///
/// The private key never shows in `Debug` and has no accessor.
#[derive(Clone)]
pub struct ServiceAccountKey {
    project_id: String,
    client_email: String,
    private_key_id: Option<String>,
    private_key: EncodingKey,
    token_uri: String,
}

impl ServiceAccountKey {
    /// Parses a service-account key file's JSON.
    ///
    /// `project_id`, `client_email` and `private_key` (an RSA key in PEM, PKCS#8 or PKCS#1) are
    /// required; `token_uri` defaults to Google's; `type`, when present, must be
    /// `service_account`. Errors name the field and never quote its value.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        // Parsed as a map, not a typed struct, so no error message can echo a field's value.
        let mut fields: Map<String, Value> = serde_json::from_str(json).map_err(|e| {
            ConfigError::invalid(
                "service_account_key",
                format!(
                    "is not a JSON object (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if let Some(kind) = optional_string(&mut fields, "type")?
            && kind != "service_account"
        {
            return Err(invalid("type", "must be \"service_account\""));
        }
        let project_id = required_string(&mut fields, "project_id")?;
        check_project_id(&project_id)?;
        let client_email = required_string(&mut fields, "client_email")?;
        if !client_email.contains('@') || client_email.chars().any(char::is_whitespace) {
            return Err(invalid("client_email", "must be an email address"));
        }
        let private_key_id = optional_string(&mut fields, "private_key_id")?;
        let pem = required_string(&mut fields, "private_key")?;
        let private_key = parse_private_key(&pem)?;
        let token_uri = optional_string(&mut fields, "token_uri")?
            .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
        check_shape("token_uri", &token_uri, PathRule::Allowed)?;
        Ok(ServiceAccountKey {
            project_id,
            client_email,
            private_key_id,
            private_key,
            token_uri,
        })
    }

    /// Reads and parses a service-account key file (see [`from_json`](Self::from_json)).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// The Firebase project messages are sent for.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The service account's email, the `iss` of its assertions.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Where assertions are exchanged for access tokens.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    pub(crate) fn private_key_id(&self) -> Option<&str> {
        self.private_key_id.as_deref()
    }

    pub(crate) fn signing_key(&self) -> &EncodingKey {
        &self.private_key
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key", &"[redacted]")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

/// Reads the PEM and proves it is a usable RSA private key now rather than at the first send.
fn parse_private_key(pem: &str) -> Result<EncodingKey, ConfigError> {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| invalid("private_key", "must be an RSA private key in PEM"))?;
    aws_lc_rs::rsa::KeyPair::from_der(key.as_bytes())
        .map_err(|_| invalid("private_key", "is not a usable RSA private key"))?;
    Ok(key)
}

fn required_string(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, ConfigError> {
    match optional_string(fields, field)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ConfigError::invalid(field, "is missing")),
    }
}

fn optional_string(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ConfigError> {
    match fields.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn invalid(field: &'static str, reason: &str) -> ConfigError {
    ConfigError::invalid(field, reason)
}

/// A project id goes into the request path: 1 to 100 of `a-z A-Z 0-9 - . :` (domain-scoped
/// projects look like `example.com:project`).
pub(crate) fn check_project_id(project_id: &str) -> Result<(), ConfigError> {
    let fits = (1..=100).contains(&project_id.len())
        && project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if fits {
        Ok(())
    } else {
        Err(ConfigError::expected(
            "project_id",
            "1 to 100 of a-z A-Z 0-9 - . :",
        ))
    }
}
