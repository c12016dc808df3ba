//! Push gateways: APNs, FCM and Web Push, each a [`PushGateway`](beams_core::PushGateway).
//!
//! Each gateway sends a [`Batch`](beams_core::Batch) — one payload to many devices of its
//! platform — to its push service and classifies every answer for the engine: delivered,
//! token dead, retry later, rejected, or a credential/config failure. They run on hyper and
//! rustls (aws-lc-rs), and every one can be pointed at a loopback test server.
//!
//! Every gateway is built the same way: `builder(credentials)`, optional settings, then
//! `build()`, which checks everything and fails with a [`ConfigError`] naming the setting:
//! [`ApnsGateway::builder`](apns::ApnsGateway::builder),
//! [`FcmGateway::builder`](fcm::FcmGateway::builder),
//! [`WebPushGateway::builder`](web_push::WebPushGateway::builder).
//!
//! ```
//! use std::sync::Arc;
//! use beams_core::{Gateways, Platform};
//! use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway};
//!
//! let web = WebPushGateway::builder(VapidKey::generate()?, VapidContact::new("mailto:ops@example.com")?)
//!     .max_in_flight(32)
//!     .build()?;
//! let gateways = Gateways::new().with(Platform::Web, Arc::new(web));
//! assert_eq!(gateways.platforms().collect::<Vec<_>>(), [Platform::Web]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod apns;
mod base_url;
mod config_error;
pub mod fcm;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http_builder;
mod reach;
pub(crate) mod retry_after;
mod transport;
pub mod web_push;

pub use config_error::ConfigError;
pub use http_builder::HttpGatewayBuilder;
pub use transport::Transport;
