//! Push gateways: APNs, FCM and Web Push, each a [`PushGateway`](beams_core::PushGateway).
//!
//! Each gateway sends a batch of deliveries to its push service and classifies every answer
//! for the engine: delivered, token dead, retry later, rejected, or a credential/config
//! failure. They run on hyper and rustls (aws-lc-rs), and every one can be pointed at a
//! loopback test server.
//!
//! ```
//! use std::sync::Arc;
//! use beams_core::{FakePushGateway, GatewayRouter, Platform, PushGateway};
//!
//! // In production each platform gets its real gateway; the fake stands in here.
//! let router = GatewayRouter::new().with(Platform::Web, Arc::new(FakePushGateway::new()));
//! let gateway: Arc<dyn PushGateway> = Arc::new(router);
//! # let _ = gateway;
//! ```

pub mod apns;
pub mod fcm;
mod retry_after;
mod transport;
pub mod web_push;

pub use transport::Transport;
