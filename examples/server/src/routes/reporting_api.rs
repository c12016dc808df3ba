//! The reporting API: the client SDKs' delivery and open events.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use beams_core::ReportEvent;
use serde_json::{Value, json};

use crate::client_limits::EventAllowed;
use crate::errors::ApiError;
use crate::extract::{Instance, read_body};
use crate::state::AppState;

/// The reporting API routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/reporting_api/v2/instances/{instance}/events",
        post(report_event),
    )
}

/// `POST /reporting_api/v2/instances/{instance}/events`, no authentication, a
/// [`ReportEvent`] body → 200 `{}`.
///
/// A well-formed event is answered 200 whatever becomes of it: also for a device that is
/// unknown (deleted while its report was in flight) or a publish not tracked, and when the
/// recording queue is full. The iOS SDK retries a report forever and registers its device
/// again on a 404, so a good event must never get one. A malformed event is 400 naming the
/// field (the SDKs give up on it), another instance 404 "Instance not found". The body is
/// read as JSON whatever its `Content-Type`: all the SDKs send JSON.
async fn report_event(
    _: Instance,
    _: EventAllowed,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&headers, body, ReportEvent::MAX_BODY_BYTES).await?;
    let event = ReportEvent::parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state.reports().submit(event);
    Ok(Json(json!({})))
}
