//! The APNs gateway: Apple's HTTP/2 provider API with token auth.
//!
//! [`ApnsGateway`] sends each delivery as `POST /3/device/<token>` and classifies the answer
//! (SPEC §4): `410` and `400 BadDeviceToken`/`DeviceTokenNotForTopic` are dead tokens (a 410
//! carries when APNs last knew the token invalid), other `400`s, `404`, `405` and `413` are
//! rejected notifications, `403` is a credential failure, and `429`, `5xx` and lost
//! connections are retried later. Unknown reasons fall back by status.
//!
//! - **Auth**: one ES256 provider token signed with the `.p8` key, shared by every
//!   connection, re-signed at 50 minutes and never within 20 minutes of the last signing. On
//!   `403 ExpiredProviderToken` it is re-signed once (if the floor allows) and the request
//!   retried.
//! - **Connections**: a pool of N HTTP/2 connections (TLS with ALPN `h2`). Each lends one
//!   stream until its first success, then as many as the server's current
//!   SETTINGS_MAX_CONCURRENT_STREAMS; requests beyond that queue. A connection that gets a
//!   GOAWAY or dies is replaced, and requests it did not process go out again on another.
//! - **Payload**: the Beams `apns` publish section is the body (with the `pusher` ids the iOS
//!   SDK reads in its `data`, added by the engine). Its top-level `collapse_id`, `expiration`
//!   and `priority`, which the Beams server SDKs type beside `aps`, are the headers
//!   `apns-collapse-id`, `apns-expiration` and `apns-priority`, and are not sent in the body;
//!   an optional `"apns-headers"` object may also set `apns-push-type` and `apns-id`. With no
//!   `expiration`, APNs may store the notification for four weeks for a phone that is offline.
//!   The push type follows the payload (`background` for `content-available` alone, else
//!   `alert`). The body is checked against 4096 bytes (5120 for VoIP) before anything is
//!   sent, and [`PushGateway::check`](beams_core::PushGateway::check) refuses at publish time
//!   what APNs would refuse.
//!
//! ```no_run
//! use std::sync::Arc;
//! use beams_core::{Gateways, Platform};
//! use beams_push::apns::{ApnsEndpoint, ApnsGateway};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key_pem = std::fs::read_to_string("AuthKey_ABC123DEFG.p8")?;
//! let gateway = ApnsGateway::builder(&key_pem, "ABC123DEFG", "DEF123GHIJ", "com.example.app")
//!     .endpoint(ApnsEndpoint::Sandbox)
//!     .pool_size(2)
//!     .build()?;
//! let gateways = Gateways::new().with(Platform::Apns, Arc::new(gateway));
//! # let _ = gateways;
//! # Ok(())
//! # }
//! ```
//!
//! A publish section with header options:
//!
//! ```json
//! {"aps": {"alert": {"title": "New message"}}, "data": {"thread": "42"},
//!  "collapse_id": "inbox", "expiration": 1900000000, "priority": 10}
//! ```

mod builder;
pub(crate) mod classify;
mod connection;
mod endpoint;
mod gateway;
mod pool;
mod provider_token;
pub(crate) mod request;
mod stats;

pub use builder::ApnsGatewayBuilder;
pub use endpoint::{APNS_PRODUCTION_URL, APNS_SANDBOX_URL, ApnsEndpoint};
pub use gateway::ApnsGateway;
pub use request::HEADERS_KEY;
pub use stats::ApnsStats;
