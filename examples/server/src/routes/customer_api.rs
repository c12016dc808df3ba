//! The customer API: delete a user and every device of theirs.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::delete;

use crate::errors::ApiError;
use crate::extract::{Instance, Plus, SecretKeyAuth, user_id_from_path};
use crate::state::AppState;

/// The customer API routes: `customer_api` (Python, Go, Ruby, PHP SDKs) and `user_api`
/// (Node SDK, and the Swift server SDK, which puts the id in the path unescaped).
///
/// A `+` in the id is a space on `customer_api` unless the Go SDK sent it (see
/// [`Plus::on_customer_api`]), and always itself on `user_api`: no SDK calling `user_api`
/// writes a space as `+`.
pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for api in [Api::Customer, Api::User] {
        let users = format!("/{}/v1/instances/{{instance}}/users", api.path());
        let handler = move |instance: Instance,
                            auth: SecretKeyAuth,
                            state: State<AppState>,
                            headers: HeaderMap,
                            uri: Uri| {
            let plus = match api {
                Api::Customer => Plus::on_customer_api(&headers),
                Api::User => Plus::Literal,
            };
            delete_user(instance, auth, state, uri, plus)
        };
        router = router
            // A wildcard, so an id with a `/` left unencoded (the Python SDK) still matches.
            .route(&format!("{users}/{{*user_id}}"), delete(handler))
            // An empty id, which some SDKs let through: refused by the same handler.
            .route(&format!("{users}/"), delete(handler))
            .route(&users, delete(handler));
    }
    router
}

/// The two paths of the same call.
#[derive(Debug, Clone, Copy)]
enum Api {
    Customer,
    User,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Customer => "customer_api",
            Api::User => "user_api",
        }
    }
}

/// `DELETE …/users/{user_id}`: deletes every device of the user. 200 with an empty body,
/// also for a user with no devices.
async fn delete_user(
    _: Instance,
    _: SecretKeyAuth,
    State(state): State<AppState>,
    uri: Uri,
    plus: Plus,
) -> Result<(), ApiError> {
    let instance = state.beams().instance_id().as_str();
    let user = user_id_from_path(uri.path(), instance, plus)?;
    let removed = state.beams().delete_user(&user).await?;
    tracing::info!(devices = removed.len(), "user deleted");
    Ok(())
}
