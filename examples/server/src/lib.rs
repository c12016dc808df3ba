//! A self-hosted server speaking the Pusher Beams HTTP API, on beams.
//!
//! The official Beams client SDKs (iOS, Android, Web) and server SDKs (Node, Python, Go, Ruby,
//! PHP, …) talk to it as they would to Beams: the device API (register, set user with a Beams
//! Token, metadata, token refresh, Device Interests, stop, the VAPID public key), the reporting
//! API (delivery and open events), the publish API (publish to users or to interests) and the
//! customer API (delete a user). Every error is a JSON `{"error", "description"}` with the
//! status the SDKs expect; see [`ApiError`].
//!
//! Run it as the `beams-server` binary (see [`Config`] for its flags), or mount
//! [`router`] in your own axum app:
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::Router;
//! use axum::routing::get;
//! use beams_core::{Beams, InstanceId, MemoryDeviceStore, SecretKey};
//! use beams_server::AppState;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let beams = Beams::builder(
//!     InstanceId::new("my-instance")?,
//!     SecretKey::new("my-secret")?,
//!     MemoryDeviceStore::new(), // or beams_store_sqlite::SqliteDeviceStore::open(…)
//! )
//! .build(); // add `.gateway(Platform::Web, …)` etc. to deliver for real
//! let state = AppState::new(beams);
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "my own app" }))
//!     .merge(beams_server::router(state.clone()));
//!
//! async fn serve(app: Router, state: AppState) -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app)
//!         .with_graceful_shutdown(beams_server::shutdown_signal())
//!         .await?;
//!     // Publishes are answered at once and delivered in the background: let them finish.
//!     state.publishes().drain_within(Duration::from_secs(30)).await;
//!     Ok(())
//! }
//! # let _ = serve(app, state);
//! # Ok(())
//! # }
//! ```
//!
//! The modules, one concept each: [`config`] (flags and environment), [`bootstrap`] (the
//! first run's files), [`engine`] (the store and the engine over it) with [`database`] (where
//! the store keeps its devices; PostgreSQL URLs shown without their password), [`state`], [`errors`] (the JSON errors and the status mapping),
//! [`routes`] (the device API and its interests, the reporting, publish and customer APIs),
//! [`publishes`] (delivering in the background), [`reports`] (reported events, counted in
//! the background), [`auth_example`] (how your login route issues Beams Tokens),
//! [`client_limits`] (per-client rate limits) with [`client_addr`] (who the client is, behind
//! trusted proxies), [`gateways`] with [`push_services`] (where the gateways send, and the
//! roots they trust), [`listeners`] (plain http and https side by side) with [`tls`],
//! [`connections`] (the bounds every connection is served within), [`server`] (serving and
//! graceful shutdown).

pub mod auth_example;
pub mod bootstrap;
pub mod client_addr;
pub mod client_limits;
pub mod config;
pub mod connections;
pub mod database;
pub mod engine;
pub mod errors;
mod extract;
pub mod gateways;
pub mod listeners;
pub mod publishes;
pub mod push_services;
mod rate_limit;
pub mod reports;
pub mod resumer;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod tls;

pub use config::Config;
pub use errors::{ApiError, ErrorBody};
pub use listeners::Listeners;
pub use publishes::Publishes;
pub use reports::Reports;
pub use routes::router;
pub use server::{Server, run, shutdown_signal};
pub use startup::StartupError;
pub use state::AppState;

/// The README's Rust snippets, compiled (not run) with this crate's doctests, so the front
/// page of the project never shows code that does not build.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeSnippets;
