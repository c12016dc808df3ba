//! How a customer's own login route hands a Beams Token to its signed-in user.
//!
//! The official client SDKs fetch a token from *your* server — `GET <your url>?user_id=<id>`,
//! answered `{"token": "<jwt>"}` — and present it on "set user". Your route must issue a token
//! only for the user the request's session proves: a token is the key to that user's
//! notifications.
//!
//! **Stand-in.** This example has no sessions. It trusts the
//! [`X-Authenticated-User`](AUTHENTICATED_USER_HEADER) header, as if an authentication layer
//! in front of it had checked the caller and set it. Anyone who can reach the route can set
//! that header, so the server binary mounts it only on a loopback address unless told
//! otherwise (`--auth-example`). In your app, replace the header check with your session
//! check.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use beams_core::{IssuedToken, UserId};
use serde::Deserialize;

use crate::errors::ApiError;
use crate::state::AppState;

/// The path the example answers on.
pub const PATH: &str = "/pusher/beams-auth";

/// The header the stand-in trusts as "who is signed in" (your auth layer would set it).
pub const AUTHENTICATED_USER_HEADER: &str = "x-authenticated-user";

/// `GET /pusher/beams-auth?user_id=…` → `{"token": "<Beams Token>"}` for the signed-in user.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(PATH, get(beams_auth))
        .layer(crate::routes::cors())
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct AuthQuery {
    user_id: String,
}

async fn beams_auth(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AuthQuery>, QueryRejection>,
) -> Result<Json<IssuedToken>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("The `user_id` query parameter is required"))?;
    let requested =
        UserId::new(query.user_id).map_err(|invalid| ApiError::bad_request(invalid.to_string()))?;

    // STAND-IN for your session check: who is signed in on this request?
    let signed_in = headers
        .get(AUTHENTICATED_USER_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("Not signed in"))?;
    if signed_in != requested.as_str() {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "Forbidden",
            "Signed in as another user",
        ));
    }

    Ok(Json(state.beams().issue_token(&requested)?))
}
