//! The device API the official client SDKs call: register, set user, metadata, token
//! refresh, stop, and the VAPID public key (Device Interests are in
//! [`device_interests`](super::device_interests)).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use beams_core::{BeamsError, Platform};
use serde_json::{Value, json};

use crate::client_limits::RegistrationAllowed;
use crate::errors::ApiError;
use crate::extract::{
    DevicePath, DeviceToStop, Instance, PlatformPath, bearer_token, json_object, metadata,
    read_body,
};
use crate::state::AppState;

/// The largest device API body: a Web Push subscription (at most 8 KiB, base64) with
/// metadata (at most 32 entries of 64 + 512 characters).
pub const MAX_DEVICE_BODY_BYTES: usize = 64 * 1024;

const PREFIX: &str = "/device_api/v1/instances/{instance}";

/// The device API routes.
pub(crate) fn routes() -> Router<AppState> {
    let device = format!("{PREFIX}/devices/{{platform}}/{{device_id}}");
    Router::new()
        .route(
            &format!("{PREFIX}/web-vapid-public-key"),
            get(vapid_public_key),
        )
        .route(&format!("{PREFIX}/devices/{{platform}}"), post(register))
        .route(&device, get(get_device).delete(stop))
        .route(&format!("{device}/user"), put(set_user))
        .route(&format!("{device}/metadata"), put(update_metadata))
        .route(&format!("{device}/token"), put(refresh_token))
        .merge(super::device_interests::routes(&device))
}

/// `GET …/web-vapid-public-key` → `{"vapidPublicKey": "<base64url P-256 point>"}`.
async fn vapid_public_key(
    _: Instance,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let key = state
        .vapid_public_key()
        .ok_or_else(|| ApiError::not_found("Web Push is not configured on this instance"))?;
    Ok(Json(json!({ "vapidPublicKey": key })))
}

/// `POST …/devices/{platform}` `{"token", "metadata"}` → `{"id"}` (web) or
/// `{"id", "initialInterestSet": [...]}` (apns, fcm), as
/// [`Beams::initial_interest_set`](beams_core::Beams::initial_interest_set) answers it.
///
/// APNs clients also send `bundleIdentifier` and FCM clients may send
/// `knownPreviousClientIds`; both are accepted and not used.
async fn register(
    PlatformPath(platform): PlatformPath,
    _: RegistrationAllowed,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, MAX_DEVICE_BODY_BYTES).await?;
    let mut fields = json_object(&body)?;
    let token = required_string(&mut fields, "token")?;
    let metadata = metadata(fields.remove("metadata"))?;
    let device = state
        .beams()
        .register_device(platform, &token, metadata)
        .await
        .map_err(|error| ApiError::from_registration(platform, error))?;
    tracing::info!(device = %device.id, "device registered");
    Ok(Json(match platform {
        Platform::Web => json!({ "id": device.id }),
        Platform::Apns | Platform::Fcm => {
            let interests = state.beams().initial_interest_set(&device).await?;
            json!({ "id": device.id, "initialInterestSet": interests })
        }
    }))
}

/// `GET …/devices/{platform}/{device_id}` → `{"id", "userId", "metadata"}` (`userId` is
/// `null` until a user is set).
async fn get_device(
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let device = state.beams().device(&id).await?;
    Ok(Json(json!({
        "id": device.id,
        "userId": device.user,
        "metadata": device.metadata,
    })))
}

/// `DELETE …/devices/{platform}/{device_id}`: the client's `stop()`. Idempotent: an unknown
/// device (deleted with its user, or as a dead token, before the app stopped) answers the
/// same 200 `{}`. The Android SDK retries a failed delete forever, stalling every later job,
/// and the web SDK's `stop()` throws before clearing its state, so a 404 here would wedge
/// both; and one answer for known and unknown ids tells a guesser nothing.
async fn stop(
    DeviceToStop(id): DeviceToStop,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    match state.beams().stop_device(&id).await {
        Ok(_) => tracing::info!(device = %id, "device stopped"),
        Err(BeamsError::DeviceNotFound { .. }) => {
            tracing::debug!(device = %id, "stop of an unknown device");
        }
        Err(other) => return Err(other.into()),
    }
    Ok(Json(json!({})))
}

/// `PUT …/devices/{platform}/{device_id}/user`, no body, `Authorization: Bearer <Beams
/// Token>`: associates the device with the token's `sub`.
async fn set_user(
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized(
            "Missing or malformed Authorization header: expected `Bearer <Beams Token>`",
        )
    })?;
    let association = state.beams().associate_device(&id, token).await?;
    if !association.evicted.is_empty() {
        tracing::info!(
            device = %id,
            evicted = association.evicted.len(),
            "user at the device limit: oldest devices disassociated"
        );
    }
    Ok(Json(json!({})))
}

/// `PUT …/devices/{platform}/{device_id}/metadata` `{"sdkVersion": …}`: replaces the
/// device's metadata.
async fn update_metadata(
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, MAX_DEVICE_BODY_BYTES).await?;
    let metadata = metadata(Some(Value::Object(json_object(&body)?)))?;
    state.beams().update_metadata(&id, metadata).await?;
    Ok(Json(json!({})))
}

/// `PUT …/devices/{platform}/{device_id}/token` `{"token"}`: the client SDK's push token
/// changed (an FCM token refresh); the device keeps its id and user.
async fn refresh_token(
    DevicePath(id): DevicePath,
    _: RegistrationAllowed,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, MAX_DEVICE_BODY_BYTES).await?;
    let token = required_string(&mut json_object(&body)?, "token")?;
    state
        .beams()
        .refresh_token(&id, &token)
        .await
        .map_err(|error| ApiError::from_registration(id.platform(), error))?;
    tracing::info!(device = %id, "device token refreshed");
    Ok(Json(json!({})))
}

fn required_string(
    fields: &mut serde_json::Map<String, Value>,
    name: &str,
) -> Result<String, ApiError> {
    match fields.remove(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(ApiError::bad_request(format!("`{name}` must be a string"))),
        None => Err(ApiError::bad_request(format!("`{name}` is required"))),
    }
}
