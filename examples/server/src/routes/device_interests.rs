//! The device API's Device Interests: replace, subscribe, unsubscribe, list.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use beams_core::Interest;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client_limits::InterestChangeAllowed;
use crate::errors::ApiError;
use crate::extract::{DevicePath, InterestPath, json_object, read_body};
use crate::state::AppState;

/// The largest `PUT …/interests` body: room for 5000 interests of 164 characters.
pub const MAX_INTEREST_SET_BODY_BYTES: usize = 1024 * 1024;
/// The most interests one listing page holds, and the default.
pub const MAX_PAGE: usize = 100;

/// The Device Interests routes under `device` (`…/devices/{platform}/{device_id}`).
pub(crate) fn routes(device: &str) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{device}/interests"),
            get(list_interests).put(set_interests),
        )
        .route(
            &format!("{device}/interests/{{interest}}"),
            post(add_interest).delete(remove_interest),
        )
}

/// The `PUT …/interests` body. Unknown fields are ignored, as newer SDKs may send more.
#[derive(Debug, Deserialize)]
struct InterestSet {
    /// Each name validated as it is read.
    interests: Vec<Interest>,
}

/// `PUT …/interests` `{"interests": [...]}`: replaces the device's interests.
async fn set_interests(
    DevicePath(id): DevicePath,
    _: InterestChangeAllowed,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, MAX_INTEREST_SET_BODY_BYTES).await?;
    // Read as an object first, so a JSON array is refused rather than taken field by field.
    let fields = Value::Object(json_object(&body)?);
    let InterestSet { interests } = InterestSet::deserialize(fields).map_err(|e| {
        ApiError::bad_request(format!(
            "`interests` must be an array of interest names: {e}"
        ))
    })?;
    state.beams().set_device_interests(&id, interests).await?;
    Ok(Json(json!({})))
}

/// `POST …/interests/{interest}`: subscribes the device.
async fn add_interest(
    InterestPath(id, interest): InterestPath,
    _: InterestChangeAllowed,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    state.beams().add_device_interest(&id, &interest).await?;
    Ok(Json(json!({})))
}

/// `DELETE …/interests/{interest}`: unsubscribes the device (also when it was not subscribed).
async fn remove_interest(
    InterestPath(id, interest): InterestPath,
    _: InterestChangeAllowed,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    state.beams().remove_device_interest(&id, &interest).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET …/interests?limit=100&cursor=…` →
/// `{"interests": [...], "responseMetadata": {"nextCursor": "…"}}`, in name order; the cursor
/// is there only when more remain.
async fn list_interests(
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(page) = page.map_err(|_| {
        ApiError::bad_request("`limit` must be a number from 1 to 100 and `cursor` a string")
    })?;
    let limit = page.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let after = page
        .cursor
        .filter(|c| !c.is_empty())
        .map(interest)
        .transpose()?;
    // One more than asked tells whether another page follows.
    let mut interests = state
        .beams()
        .interests_of_device(&id, after.as_ref(), limit + 1)
        .await?;
    let more = interests.len() > limit;
    interests.truncate(limit);
    let metadata = match interests.last() {
        Some(last) if more => json!({ "nextCursor": last }),
        _ => json!({}),
    };
    Ok(Json(
        json!({ "interests": interests, "responseMetadata": metadata }),
    ))
}

fn interest(name: String) -> Result<Interest, ApiError> {
    Interest::new(name).map_err(|invalid| ApiError::bad_request(invalid.to_string()))
}
