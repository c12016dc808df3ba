//! Webhooks: what Beams tells a customer's backend about publishes and notifications, and
//! how a receiver checks that a request came from its beams server.
//!
//! A webhook request is a `POST` of a JSON body built by [`webhook_body`], with these
//! headers:
//!
//! | header | value |
//! |---|---|
//! | `User-Agent` | `pusher-webhooks` |
//! | `Content-Type` | `application/json` |
//! | [`EVENT_TYPE_HEADER`] | the event type, e.g. `v1.PublishToUsersAttempt` |
//! | [`WEBHOOK_ID_HEADER`] | the configured webhook's id (a UUID) |
//! | [`REQUEST_ID_HEADER`] | this event's delivery id (a UUID), the same on every retry |
//! | [`SIGNATURE_HEADER`] | [`sign_webhook`]: hex HMAC-SHA1 of the body with the webhook's secret |
//!
//! A receiver written in Rust checks the signature on the body exactly as received, and
//! answers 2xx within 3 seconds (anything else is retried); a retry carries the same request
//! id, so a receiver can drop what it has seen:
//!
//! ```
//! use beams_core::webhooks::{SIGNATURE_HEADER, sign_webhook, verify_webhook_signature};
//!
//! /// What an HTTP handler does with a webhook request: 401 unless signed with our secret.
//! fn receive(secret: &[u8], signature: Option<&str>, body: &[u8]) -> u16 {
//!     match signature {
//!         Some(signature) if verify_webhook_signature(secret, body, signature) => 200,
//!         _ => 401,
//!     }
//! }
//!
//! let secret = b"the secret configured for this webhook";
//! let body = br#"{"payload":{"user_id":"alice"},"metadata":{},"custom_data":{}}"#;
//! let signed = sign_webhook(secret, body);
//! assert_eq!(SIGNATURE_HEADER, "Webhook-Signature");
//! assert_eq!(receive(secret, Some(&signed), body), 200);
//! assert_eq!(receive(secret, Some(&signed), b"{}"), 401);
//! assert_eq!(receive(secret, None, body), 401);
//! ```

mod envelope;
mod event;
mod signature;

pub use envelope::webhook_body;
pub use event::{PublishToUsersAttempt, UserNotification, WebhookEvent, WebhookEventType};
pub use signature::{sign_webhook, verify_webhook_signature};

/// The header naming the event type.
pub const EVENT_TYPE_HEADER: &str = "Webhook-Event-Type";
/// The header naming the configured webhook.
pub const WEBHOOK_ID_HEADER: &str = "Webhook-ID-UUID";
/// The header naming this event's delivery, unchanged across retries.
pub const REQUEST_ID_HEADER: &str = "Webhook-Request-ID-UUID";
/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "Webhook-Signature";
/// The `User-Agent` of webhook requests.
pub const USER_AGENT: &str = "pusher-webhooks";
