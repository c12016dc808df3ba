//! Push gateways: APNs, FCM and Web Push, each a [`PushGateway`](beams_core::PushGateway).
//!
//! This crate will hold `ApnsGateway`, `FcmGateway`, `WebPushGateway` and a router that
//! dispatches by platform, on hyper and rustls. Until they land, the scriptable fake from
//! beams-core stands in through the same trait:
//!
//! ```
//! use std::sync::Arc;
//! use beams_core::{FakePushGateway, PushGateway};
//!
//! let gateway: Arc<dyn PushGateway> = Arc::new(FakePushGateway::new());
//! # let _ = gateway;
//! ```
