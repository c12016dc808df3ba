//! The publish API: publish to users or to interests.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use beams_core::{BeamsError, PublishRequest};
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
    instance: Instance,
    auth: SecretKeyAuth,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    publish(instance, auth, state, headers, body, Target::Users).await
}

/// `POST …/publishes/interests` and `POST …/publishes`: the same, to every device subscribed
/// to any of the interests.
async fn publish_to_interests(
    instance: Instance,
    auth: SecretKeyAuth,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    publish(instance, auth, state, headers, body, Target::Interests).await
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Users,
    Interests,
}

async fn publish(
    _: Instance,
    _: SecretKeyAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    target: Target,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let (limit, parse): (usize, fn(&[u8]) -> _) = match target {
        Target::Users => (PublishRequest::MAX_BODY_BYTES, PublishRequest::from_json),
        Target::Interests => (
            PublishRequest::MAX_INTERESTS_BODY_BYTES,
            PublishRequest::from_interests_json,
        ),
    };
    let body = read_body(&headers, body, limit).await?;
    let request = parse(&body).map_err(|e| ApiError::from_publish(&e))?;
    let publication = state.beams().publication(request).map_err(|e| match e {
        BeamsError::Invalid(invalid) => ApiError::from_publish(&invalid),
        other => ApiError::from_beams(other),
    })?;
    let (users, interests) = (
        publication.request().users().len(),
        publication.request().interests().len(),
    );
    let id = state.publishes().start(publication);
    tracing::info!(publish_id = %id, users, interests, "publish accepted");
    Ok(Json(json!({ "publishId": id.as_str() })))
}
