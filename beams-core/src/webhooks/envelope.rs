//! The body of a webhook request: the event's payload, its metadata and the webhook's
//! custom data.

use serde_json::{Map, Value, json};

use super::WebhookEvent;
use crate::Timestamp;

/// Builds the exact body bytes of one webhook request — the bytes the signature covers:
/// `{"payload": {…}, "metadata": {"created_at", "event_type", "event_id", "product":
/// "beams"}, "custom_data": {…}}`. `custom_data` is the webhook's own (an empty object when
/// it has none).
///
/// ```
/// use beams_core::webhooks::{UserNotification, WebhookEvent, webhook_body};
/// use beams_core::{InstanceId, PublishId, Timestamp, UserId};
///
/// let event = WebhookEvent::UserNotificationOpen(UserNotification {
///     instance_id: InstanceId::new("my-instance")?,
///     publish_id: PublishId::generate(),
///     user_id: UserId::new("alice")?,
/// });
/// let at = Timestamp::from_unix_secs(1_552_300_936);
/// let body = webhook_body(&event, "event-1", at, None);
/// let json: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(json["metadata"]["event_type"], "v1.UserNotificationOpen");
/// assert_eq!(json["metadata"]["created_at"], "2019-03-11T10:42:16+0000");
/// assert_eq!(json["payload"]["user_id"], "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn webhook_body(
    event: &WebhookEvent,
    event_id: &str,
    created_at: Timestamp,
    custom_data: Option<&Map<String, Value>>,
) -> Vec<u8> {
    let body = json!({
        "payload": event.payload(),
        "metadata": {
            "created_at": created_at.to_offset_seconds(),
            "event_type": event.event_type().as_str(),
            "event_id": event_id,
            "product": "beams",
        },
        "custom_data": custom_data.cloned().unwrap_or_default(),
    });
    // A `Value` of strings and arrays always serializes.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::webhook_body;
    use crate::webhooks::{PublishToUsersAttempt, WebhookEvent};
    use crate::{InstanceId, PublishId, Timestamp, UserId};

    fn users(names: &[&str]) -> Vec<UserId> {
        names
            .iter()
            .map(|n| UserId::new(*n).expect("a user id"))
            .collect()
    }

    #[test]
    fn the_attempt_envelope_has_every_field_beams_sends() {
        let publish_id = PublishId::generate();
        let event = WebhookEvent::PublishToUsersAttempt(PublishToUsersAttempt {
            instance_id: InstanceId::new("instance-1").expect("an instance id"),
            publish_id: publish_id.clone(),
            users_delivered_to_gateway: users(&["alice"]),
            users_no_devices: users(&["bob"]),
            users_gateway_failed: users(&["carol", "dave"]),
        });
        let custom = json!({"team": "growth", "n": 3});
        let body = webhook_body(
            &event,
            "0f8e6a4e-3d0b-4d44-9b36-2d5c1f0e9a11",
            Timestamp::from_unix_millis(1_552_300_936_999),
            custom.as_object(),
        );
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            parsed,
            json!({
                "payload": {
                    "instance_id": "instance-1",
                    "publish_id": publish_id.as_str(),
                    "users_delivered_to_gateway": ["alice"],
                    "users_no_devices": ["bob"],
                    "users_gateway_failed": ["carol", "dave"],
                },
                "metadata": {
                    "created_at": "2019-03-11T10:42:16+0000",
                    "event_type": "v1.PublishToUsersAttempt",
                    "event_id": "0f8e6a4e-3d0b-4d44-9b36-2d5c1f0e9a11",
                    "product": "beams",
                },
                "custom_data": {"team": "growth", "n": 3},
            })
        );
        let again = webhook_body(
            &event,
            "0f8e6a4e-3d0b-4d44-9b36-2d5c1f0e9a11",
            Timestamp::from_unix_millis(1_552_300_936_999),
            custom.as_object(),
        );
        assert_eq!(
            body, again,
            "the same event gives the same bytes, so retries sign alike"
        );
        let bare = webhook_body(&event, "e", Timestamp::UNIX_EPOCH, None);
        let bare: Value = serde_json::from_slice(&bare).expect("JSON");
        assert_eq!(bare["custom_data"], json!({}));
        assert_eq!(bare["metadata"]["created_at"], "1970-01-01T00:00:00+0000");
    }
}
