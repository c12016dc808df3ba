//! The device API's Device Interests: replace, subscribe, unsubscribe, list.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use beams_core::Interest;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::extract::{DevicePath, Instance, json_object, read_body};
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

/// `PUT …/interests` `{"interests": [...]}`: replaces the device's interests.
async fn set_interests(
    _: Instance,
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, MAX_INTEREST_SET_BODY_BYTES).await?;
    let Some(Value::Array(entries)) = json_object(&body)?.remove("interests") else {
        return Err(ApiError::bad_request(
            "`interests` is required: an array of interest names",
        ));
    };
    let interests = entries
        .into_iter()
        .map(|entry| match entry {
            Value::String(name) => interest(name),
            _ => Err(ApiError::bad_request("`interests` entries must be strings")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.beams().set_device_interests(&id, interests).await?;
    Ok(Json(json!({})))
}

/// `POST …/interests/{interest}`: subscribes the device.
async fn add_interest(
    _: Instance,
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let interest = interest_param(params)?;
    state.beams().add_device_interest(&id, &interest).await?;
    Ok(Json(json!({})))
}

/// `DELETE …/interests/{interest}`: unsubscribes the device (also when it was not subscribed).
async fn remove_interest(
    _: Instance,
    DevicePath(id): DevicePath,
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let interest = interest_param(params)?;
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
    _: Instance,
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
        .device_interests(&id, after.as_ref(), limit + 1)
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

fn interest_param(params: Vec<(String, String)>) -> Result<Interest, ApiError> {
    let name = params
        .into_iter()
        .find_map(|(key, value)| (key == "interest").then_some(value))
        .unwrap_or_default();
    interest(name)
}
