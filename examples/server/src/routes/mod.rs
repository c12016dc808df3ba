//! The Beams HTTP API as one axum [`Router`].

pub mod customer_api;
pub mod device_api;
pub mod device_interests;
pub mod publish_api;
pub mod reporting_api;

use std::time::Duration;

use axum::http::{Method, Uri, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::errors::ApiError;
use crate::state::AppState;

/// The Beams HTTP API over `state`: the device API, the reporting API, the publish API, the
/// customer API and `GET /health`, every error a JSON `{"error", "description"}`.
///
/// Mount it in your own axum app with [`Router::merge`]. It brings a JSON 404 for paths no
/// route matches and a log line per request, so merge it into a router without a fallback of
/// its own (axum refuses two). Browsers call the device and reporting APIs from other origins
/// (the web SDK's service worker reports its events), so those routes allow any origin (CORS,
/// no credentials); the publish and customer APIs do not, since their secret key must never be
/// in a browser.
pub fn router(state: AppState) -> Router {
    finish(api_routes().with_state(state))
}

/// Adds the JSON 404 for unknown paths and a request log line per request.
pub(crate) fn finish(routes: Router) -> Router {
    routes.fallback(unknown_path).layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}

/// The routes without the fallback and tracing, for [`router`] and the server binary.
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(with_json_405(device_api::routes()).layer(cors()))
        .merge(with_json_405(reporting_api::routes()).layer(cors()))
        .merge(with_json_405(publish_api::routes()))
        .merge(with_json_405(customer_api::routes()))
        .route("/health", get(health))
        .method_not_allowed_fallback(method_not_allowed)
}

/// Any origin may call these routes, as browsers do from the customer's site.
///
/// The request headers are named, not `*`: per the Fetch spec a wildcard
/// `Access-Control-Allow-Headers` never covers `Authorization`, which the web SDK sends
/// (`Bearer <Beams Token>`) to set the user.
pub(crate) fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

pub(crate) fn with_json_405(routes: Router<AppState>) -> Router<AppState> {
    routes.method_not_allowed_fallback(method_not_allowed)
}

/// `GET /health` → `{"status": "ok"}`.
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn unknown_path(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No such endpoint: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
