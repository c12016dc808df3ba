//! Reading requests: path segments, the `Authorization` header and bodies, each refusal an
//! [`ApiError`] (axum's own rejections answer plain text, which the SDKs cannot read).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use beams_core::{DeviceId, DeviceMetadata, Interest, Platform, UserId, ValidationError};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::errors::{ApiError, too_large};
use crate::state::AppState;

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The path's named segments, once the path's `{instance}` is checked to be the instance
/// served (else 404 "Instance not found").
async fn instance_path_params(
    parts: &mut Parts,
    state: &AppState,
) -> Result<HashMap<String, String>, ApiError> {
    let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Path(params)| params)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    if param(&params, "instance") != state.beams().instance_id().as_str() {
        return Err(ApiError::instance_not_found());
    }
    Ok(params)
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

/// A path whose `{instance}` is the instance served (else 404 "Instance not found").
#[derive(Debug)]
pub(crate) struct Instance;

impl FromRequestParts<AppState> for Instance {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        instance_path_params(parts, state).await?;
        Ok(Instance)
    }
}

/// A call authenticated with the instance secret key (else 401 "Incorrect Secret Key").
#[derive(Debug)]
pub(crate) struct SecretKeyAuth;

impl FromRequestParts<AppState> for SecretKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer_token(&parts.headers) {
            Some(presented) if state.beams().secret_key().matches(presented) => Ok(SecretKeyAuth),
            _ => Err(ApiError::incorrect_secret_key()),
        }
    }
}

/// The `{platform}` of a registration path, under the instance served (checked as
/// [`Instance`] does).
#[derive(Debug)]
pub(crate) struct PlatformPath(pub(crate) Platform);

impl FromRequestParts<AppState> for PlatformPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = instance_path_params(parts, state).await?;
        let platform = param(&params, "platform");
        platform.parse().map(PlatformPath).map_err(|_| {
            ApiError::not_found(format!(
                "Unknown platform `{platform}`: expected apns, fcm or web"
            ))
        })
    }
}

/// The device of a `…/devices/{platform}/{device_id}` path, under the instance served
/// (checked first, as [`Instance`] does). An id of another shape, or of another platform than
/// the path's, names no device: 404, so the client registers again.
#[derive(Debug)]
pub(crate) struct DevicePath(pub(crate) DeviceId);

impl FromRequestParts<AppState> for DevicePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = instance_path_params(parts, state).await?;
        device_id(&params).map(DevicePath)
    }
}

fn device_id(params: &HashMap<String, String>) -> Result<DeviceId, ApiError> {
    let platform: Platform = param(params, "platform")
        .parse()
        .map_err(|_| ApiError::device_not_found())?;
    let id =
        DeviceId::parse(param(params, "device_id")).map_err(|_| ApiError::device_not_found())?;
    if id.platform() != platform {
        return Err(ApiError::device_not_found());
    }
    Ok(id)
}

/// The device of a `DELETE …/devices/{platform}/{device_id}` (the client's `stop()`), under
/// the instance served. Unlike [`DevicePath`], an id that cannot name a device of the path's
/// platform is bad input, 400 naming the field: the delete of a well-formed unknown id
/// succeeds (it is idempotent), so a 404 here would only tell a client to register again
/// for a request no official SDK sends.
#[derive(Debug)]
pub(crate) struct DeviceToStop(pub(crate) DeviceId);

impl FromRequestParts<AppState> for DeviceToStop {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = instance_path_params(parts, state).await?;
        let platform: Platform = param(&params, "platform")
            .parse()
            .map_err(|invalid: ValidationError| ApiError::bad_request(invalid.to_string()))?;
        let id = DeviceId::parse(param(&params, "device_id"))
            .map_err(|invalid| ApiError::bad_request(invalid.to_string()))?;
        if id.platform() != platform {
            return Err(ApiError::bad_request(format!(
                "invalid device_id: must be a device of the path's platform ({platform}), got \
                 one of {}",
                id.platform()
            )));
        }
        Ok(DeviceToStop(id))
    }
}

/// The device and interest of a `…/devices/{platform}/{device_id}/interests/{interest}` path,
/// checked as [`DevicePath`] does, then the interest name (else 400).
#[derive(Debug)]
pub(crate) struct InterestPath(pub(crate) DeviceId, pub(crate) Interest);

impl FromRequestParts<AppState> for InterestPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = instance_path_params(parts, state).await?;
        let id = device_id(&params)?;
        let interest = Interest::new(param(&params, "interest"))
            .map_err(|invalid| ApiError::bad_request(invalid.to_string()))?;
        Ok(InterestPath(id, interest))
    }
}

/// How `+` reads in a user id path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// `+` is a space, as the Ruby and PHP SDKs encode one (form encoding).
    Space,
    /// `+` is itself, as RFC 3986 reads a path (Go's `url.PathEscape` leaves it as is).
    Literal,
}

/// The `X-Pusher-Library` prefix of the Go server SDK.
const GO_LIBRARY: &str = "pusher-push-notifications-go";

impl Plus {
    /// How `+` reads on `DELETE /customer_api/…/users/{user_id}`: the Go SDK escapes the id
    /// with `url.PathEscape`, which leaves a `+` literal, while Ruby and PHP send `+` for a
    /// space (Python and Node send `%2B` and `%20`, read the same either way). The server
    /// SDKs name themselves in `X-Pusher-Library` (`pusher-push-notifications-go 1.2.0`).
    pub(crate) fn on_customer_api(headers: &HeaderMap) -> Self {
        let library = headers
            .get("x-pusher-library")
            .and_then(|value| value.to_str().ok())
            .map(str::trim_start)
            .unwrap_or("");
        let is_go = library
            .get(..GO_LIBRARY.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(GO_LIBRARY));
        if is_go { Plus::Literal } else { Plus::Space }
    }
}

/// The user id of a customer API path, `…/instances/{instance}/users/{user_id}`, decoded
/// from the raw path: axum's own path captures are already percent-decoded, which would make
/// a `+` and a `%2B` the same.
pub(crate) fn user_id_from_path(
    path: &str,
    instance: &str,
    plus: Plus,
) -> Result<UserId, ApiError> {
    let marker = format!("/instances/{instance}/users/");
    let raw = path.split_once(&marker).map_or("", |(_, rest)| rest);
    let raw = match plus {
        Plus::Space => raw.replace('+', " "),
        Plus::Literal => raw.to_owned(),
    };
    let decoded = percent_decode_str(&raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("invalid user_id: not UTF-8 once percent-decoded"))?;
    UserId::new(decoded).map_err(|invalid| ApiError::bad_request(invalid.to_string()))
}

/// Reads a body of at most `limit` bytes (else 400: the official clients give up on a 400,
/// where they would retry a 413 forever).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))
}

/// Refuses a body that is not declared as JSON (`application/json`, `…+json`, any parameters).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media_type {
        Some(t)
            if t == "application/json"
                || (t.starts_with("application/") && t.ends_with("+json")) =>
        {
            Ok(())
        }
        _ => Err(ApiError::bad_request(
            "Request body must be JSON: send `Content-Type: application/json`",
        )),
    }
}

/// Parses a body as a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body must be a JSON object: {e}")))
}

/// Device metadata from a client's JSON object. Clients send strings; numbers and booleans
/// are kept as their text and `null`s dropped, so a newer SDK's extra field is no failure.
pub(crate) fn metadata(value: Option<Value>) -> Result<DeviceMetadata, ApiError> {
    let fields = match value {
        None | Some(Value::Null) => return Ok(DeviceMetadata::default()),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(ApiError::bad_request("`metadata` must be a JSON object")),
    };
    let pairs = fields.into_iter().filter_map(|(key, value)| match value {
        Value::Null => None,
        Value::String(text) => Some((key, text)),
        other => Some((key, other.to_string())),
    });
    DeviceMetadata::new(pairs).map_err(|invalid| ApiError::bad_request(invalid.to_string()))
}

#[cfg(test)]
#[path = "extract_properties.rs"]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_in_any_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_token(&headers), expected, "{value:?}");
        }
    }

    #[test]
    fn user_ids_decode_from_the_raw_path() {
        let decode = |path: &str, plus| {
            user_id_from_path(path, "i-1", plus).map(|user| user.as_str().to_owned())
        };
        let base = "/customer_api/v1/instances/i-1/users/";
        assert_eq!(decode(&format!("{base}a+b"), Plus::Space).unwrap(), "a b");
        assert_eq!(decode(&format!("{base}a+b"), Plus::Literal).unwrap(), "a+b");
        assert_eq!(decode(&format!("{base}a%2Bb"), Plus::Space).unwrap(), "a+b");
        assert_eq!(
            decode(&format!("{base}a/users/b"), Plus::Space).unwrap(),
            "a/users/b"
        );
        assert!(decode(base, Plus::Space).is_err());
        assert!(decode("/customer_api/v1/instances/i-1/users", Plus::Space).is_err());
        assert!(decode(&format!("{base}%FF"), Plus::Space).is_err());
    }

    #[test]
    fn only_the_go_sdk_sends_a_literal_plus_on_the_customer_api() {
        let mut headers = HeaderMap::new();
        assert_eq!(Plus::on_customer_api(&headers), Plus::Space);
        for (library, plus) in [
            ("pusher-push-notifications-go 1.2.0", Plus::Literal),
            ("Pusher-Push-Notifications-Go", Plus::Literal),
            ("pusher-push-notifications-ruby 2.0.2", Plus::Space),
            ("pusher-push-notifications-php 2.0.0", Plus::Space),
            ("pusher-push-notifications-python 2.0.1", Plus::Space),
            ("pusher-push-notifications-node 1.2.4", Plus::Space),
            ("pusher-push-notifications-g", Plus::Space),
            ("", Plus::Space),
        ] {
            headers.insert("x-pusher-library", HeaderValue::from_static(library));
            assert_eq!(Plus::on_customer_api(&headers), plus, "{library:?}");
        }
    }

    #[test]
    fn json_content_types_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(require_json(&headers).is_err());
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(require_json(&headers).is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn metadata_keeps_text_and_drops_nulls() {
        let value = serde_json::json!({"sdkVersion": "1.0", "build": 7, "beta": true, "x": null});
        let metadata = metadata(Some(value)).unwrap();
        assert_eq!(metadata.get("sdkVersion"), Some("1.0"));
        assert_eq!(metadata.get("build"), Some("7"));
        assert_eq!(metadata.get("beta"), Some("true"));
        assert_eq!(metadata.get("x"), None);
        assert!(super::metadata(Some(serde_json::json!([1]))).is_err());
    }
}
