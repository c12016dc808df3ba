//! The publish API: publish to users or to interests.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use beams_core::{BeamsError, PublishTargetKind};
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::extract::{Instance, SecretKeyAuth, read_body, require_json};
use crate::state::AppState;

const PREFIX: &str = "/publish_api/v1/instances/{instance}";

/// The publish API routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/publishes/users"), post(publish_to_users))
        // The Go and Ruby SDKs publish to interests on `/publishes`, the others on
        // `/publishes/interests`.
        .route(
            &format!("{PREFIX}/publishes/interests"),
            post(publish_to_interests),
        )
        .route(&format!("{PREFIX}/publishes"), post(publish_to_interests))
}

/// `POST …/publishes/users`: answers `{"publishId"}` at once and delivers in the background.
async fn publish_to_users(
    _: Instance,
    _: SecretKeyAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    publish(&state, &headers, body, PublishTargetKind::Users).await
}

/// `POST …/publishes/interests` and `POST …/publishes`: the same, to every device subscribed
/// to any of the interests.
async fn publish_to_interests(
    _: Instance,
    _: SecretKeyAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    publish(&state, &headers, body, PublishTargetKind::Interests).await
}

/// Reads and checks a publish of `kind` (the instance and secret key already checked), and
/// starts delivering it.
async fn publish(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    kind: PublishTargetKind,
) -> Result<Json<Value>, ApiError> {
    require_json(headers)?;
    let body = read_body(headers, body, kind.max_body_bytes()).await?;
    // Journaled before the answer: from here on the publish is delivered even if this
    // process dies.
    let publication = state
        .beams()
        .accept(kind, &body)
        .await
        .map_err(|e| match e {
            BeamsError::Invalid(invalid) => ApiError::from_publish(&invalid),
            other => ApiError::from_beams(other),
        })?;
    let targets = publication.request().target().count();
    // Tracked before delivery starts, so no device can report on it before it counts.
    state.reports().ledger().track(publication.id());
    let id = state.publishes().start(publication);
    tracing::info!(publish_id = %id, to = kind.field(), targets, "publish accepted");
    Ok(Json(json!({ "publishId": id.as_str() })))
}
