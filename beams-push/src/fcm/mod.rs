//! The FCM HTTP v1 gateway: Android devices, authenticated with a service-account key.
//!
//! [`FcmGateway`] sends one v1 message per device (`POST /v1/projects/{project}/messages:send`)
//! over pooled HTTP/2 connections with bounded concurrency. It signs an RS256 assertion with
//! the service-account key, exchanges it at the key's `token_uri` for an access token, and
//! shares that one token among all senders: refreshed ahead of expiry by a single task while
//! the others keep using it, and replaced once (then the message sent once more) when FCM
//! answers a plain 401. Users of workload identity or a metadata server plug in their own
//! [`AccessTokenSource`] instead of a key.
//!
//! The Beams `fcm` publish section (`{"notification": {...}, "data": {...}}`, in the legacy
//! FCM format, with options such as `time_to_live`) becomes a v1 message; what v1 would refuse
//! (non-string `data` values, unknown fields, an Android option of the wrong type, more than
//! [`MAX_PAYLOAD_BYTES`]) is refused, naming the field, by
//! [`PushGateway::check`](beams_core::PushGateway::check) when the publish arrives, and
//! reported as [`Rejected`](beams_core::DeliveryOutcome::Rejected) and never sent if it
//! reaches `send` anyway. The `pusher` data the Android SDK reads is a JSON string in `data`,
//! added by the engine.
//!
//! The private key and access tokens never appear in `Debug` output or logs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use beams_core::{Gateways, Platform};
//! use beams_push::fcm::{FcmGateway, ServiceAccountKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The key file from the Firebase console (Project settings → Service accounts).
//! let key = ServiceAccountKey::from_file("service-account.json")?;
//! let gateway = FcmGateway::builder(key).max_in_flight(200).build()?;
//! println!("sending for project {}", gateway.project_id());
//! let gateways = Gateways::new().with(Platform::Fcm, Arc::new(gateway));
//! # let _ = gateways;
//! # Ok(())
//! # }
//! ```

mod access_token;
mod builder;
pub(crate) mod classify;
mod gateway;
mod http;
pub(crate) mod message;
mod oauth;
mod service_account;
mod stats;
mod token_cache;

pub use access_token::{AccessToken, AccessTokenError, AccessTokenSource};
pub use builder::{FCM_BASE_URL, FcmGatewayBuilder, FcmSettings};
pub use gateway::FcmGateway;
pub use message::MAX_PAYLOAD_BYTES;
pub use oauth::FCM_SCOPE;
pub use service_account::{GOOGLE_TOKEN_URI, ServiceAccountKey};
pub use stats::FcmStats;
