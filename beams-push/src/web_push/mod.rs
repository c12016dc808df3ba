//! The Web Push gateway: RFC 8030 delivery, RFC 8291 message encryption, RFC 8292 VAPID.
//!
//! Browsers are the platform a user can try in five minutes with no Apple or Google account:
//! the server needs only a VAPID key pair, which [`VapidKey::generate`] makes. Each message is
//! encrypted for its browser with a fresh key and salt, carries the payload shape the official
//! Beams service worker displays (`data.pusher.instanceId` and `publishId`), and is signed with
//! a VAPID token cached per push-service origin.

mod builder;
pub(crate) mod classify;
mod encrypt;
mod gateway;
pub(crate) mod message;
mod vapid;

pub use builder::{WebPushGatewayBuilder, WebPushSettings};
pub use encrypt::{EncryptError, MAX_PLAINTEXT, encrypt};
pub use gateway::WebPushGateway;
pub use message::DEFAULT_TTL_SECONDS;
pub use vapid::{VapidContact, VapidError, VapidKey};

#[cfg(test)]
pub(crate) mod tests_support {
    use beams_core::{EndpointRules, WebSubscription};

    /// The RFC 8291 example subscription.
    pub(crate) fn subscription() -> WebSubscription {
        WebSubscription::from_parts(
            "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
            EndpointRules::default(),
        )
        .expect("the RFC's subscription is valid")
    }
}
