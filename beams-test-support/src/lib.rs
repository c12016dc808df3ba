//! What the beams crates' tests and benches share, in one crate that is never published.
//!
//! - Loopback push services that speak the real protocols on 127.0.0.1 only:
//!   [`apns_mock`] (HTTP/2, ES256 provider tokens, plain text or TLS) with
//!   [`apns_h2_proxy`] for stream limits and GOAWAY, [`fcm_mock`] (OAuth2 token endpoint and
//!   FCM HTTP v1) with [`fcm_fixtures`], and [`web_push_mock`] (VAPID checked, RFC 8291
//!   bodies decrypted by an independent implementation).
//! - [`bench`](mod@bench): the publishing benches' harness and the Device Interests benchmark that every
//!   store runs.
//! - [`hostile`]: generators of hostile input and the properties every parser of it keeps,
//!   run by the crates' property tests and by the `beams-fuzz` binary.
//! - [`postgres`]: an empty schema of its own for each test on the local PostgreSQL, or one
//!   line saying why the PostgreSQL tests were skipped.
//!
//! A dev-dependency only: `beams-test-support = { path = "../beams-test-support" }`.
//!
//! ```
//! use beams_test_support::apns_mock::{device_token, payload};
//!
//! let payload = payload(serde_json::json!({"aps": {"alert": "Hi"}}));
//! assert_eq!(payload.platform, beams_core::Platform::Apns);
//! assert_eq!(device_token(1).len(), 64);
//! ```

pub mod apns_h2_proxy;
pub mod apns_mock;
pub mod bench;
pub mod fcm_fixtures;
pub mod fcm_mock;
pub mod hostile;
pub mod pem;
pub mod postgres;
pub mod server_process;
pub mod web_push_mock;
