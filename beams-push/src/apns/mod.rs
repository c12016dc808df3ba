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
//! - **Payload**: the Beams `apns` publish section is the body. An optional top-level
//!   `"apns-headers"` object sets `apns-push-type`, `apns-priority`, `apns-expiration`,
//!   `apns-collapse-id` and `apns-id`, and is not sent. The body is checked against 4096
//!   bytes (5120 for VoIP) before anything is sent.
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
//! {"aps": {"content-available": 1},
//!  "apns-headers": {"apns-push-type": "background", "apns-collapse-id": "inbox"}}
//! ```

mod builder;
pub(crate) mod classify;
mod connection;
mod endpoint;
mod gateway;
mod pool;
mod provider_token;
mod request;
mod stats;

pub use builder::ApnsGatewayBuilder;
pub use endpoint::{APNS_PRODUCTION_URL, APNS_SANDBOX_URL, ApnsEndpoint};
pub use gateway::ApnsGateway;
pub use request::HEADERS_KEY;
pub use stats::ApnsStats;
