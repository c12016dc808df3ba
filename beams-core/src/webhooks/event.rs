//! The events Beams reports to a customer's backend, and their payloads.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::{InstanceId, PublishId, Rule, UserId, ValidationError};

/// The kinds of webhook event, by the names Beams sends in `Webhook-Event-Type` and
/// `metadata.event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEventType {
    /// A publish to users reached the push services: who was delivered to, who had no
    /// device, and whose push services all failed.
    PublishToUsersAttempt,
    /// A user's device acknowledged a notification (the reporting API's delivery event).
    UserNotificationAcknowledgement,
    /// A user opened a notification (the reporting API's open event).
    UserNotificationOpen,
}

impl WebhookEventType {
    /// Every event type.
    pub const ALL: [WebhookEventType; 3] = [
        WebhookEventType::PublishToUsersAttempt,
        WebhookEventType::UserNotificationAcknowledgement,
        WebhookEventType::UserNotificationOpen,
    ];

    /// The name on the wire, such as `v1.PublishToUsersAttempt`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::PublishToUsersAttempt => "v1.PublishToUsersAttempt",
            WebhookEventType::UserNotificationAcknowledgement => {
                "v1.UserNotificationAcknowledgement"
            }
            WebhookEventType::UserNotificationOpen => "v1.UserNotificationOpen",
        }
    }
}

impl fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the wire name (`v1.UserNotificationOpen`), as a webhook's configuration lists it.
impl FromStr for WebhookEventType {
    type Err = ValidationError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        WebhookEventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                ValidationError::new(
                    "event_type",
                    Rule::Format {
                        expected: "v1.PublishToUsersAttempt, v1.UserNotificationAcknowledgement \
                                   or v1.UserNotificationOpen",
                    },
                )
            })
    }
}

/// The payload of `v1.PublishToUsersAttempt`: every user of the publish in exactly one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishToUsersAttempt {
    /// The instance that published.
    pub instance_id: InstanceId,
    /// The publish.
    pub publish_id: PublishId,
    /// Users with at least one device a push service accepted the notification for.
    pub users_delivered_to_gateway: Vec<UserId>,
    /// Users with no device on a platform the publish had a section for.
    pub users_no_devices: Vec<UserId>,
    /// Users with devices, none of which a push service accepted the notification for.
    pub users_gateway_failed: Vec<UserId>,
}

/// The payload of `v1.UserNotificationAcknowledgement` and `v1.UserNotificationOpen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNotification {
    /// The instance that published.
    pub instance_id: InstanceId,
    /// The publish the notification came from.
    pub publish_id: PublishId,
    /// The user whose device reported it.
    pub user_id: UserId,
}

/// One webhook event and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// See [`WebhookEventType::PublishToUsersAttempt`].
    PublishToUsersAttempt(PublishToUsersAttempt),
    /// See [`WebhookEventType::UserNotificationAcknowledgement`].
    UserNotificationAcknowledgement(UserNotification),
    /// See [`WebhookEventType::UserNotificationOpen`].
    UserNotificationOpen(UserNotification),
}

impl WebhookEvent {
    /// The event's type.
    pub fn event_type(&self) -> WebhookEventType {
        match self {
            WebhookEvent::PublishToUsersAttempt(_) => WebhookEventType::PublishToUsersAttempt,
            WebhookEvent::UserNotificationAcknowledgement(_) => {
                WebhookEventType::UserNotificationAcknowledgement
            }
            WebhookEvent::UserNotificationOpen(_) => WebhookEventType::UserNotificationOpen,
        }
    }

    /// The payload as JSON, with the field names Beams sends.
    pub(crate) fn payload(&self) -> Value {
        match self {
            WebhookEvent::PublishToUsersAttempt(attempt) => json!({
                "instance_id": attempt.instance_id.as_str(),
                "publish_id": attempt.publish_id.as_str(),
                "users_delivered_to_gateway": user_names(&attempt.users_delivered_to_gateway),
                "users_no_devices": user_names(&attempt.users_no_devices),
                "users_gateway_failed": user_names(&attempt.users_gateway_failed),
            }),
            WebhookEvent::UserNotificationAcknowledgement(notification)
            | WebhookEvent::UserNotificationOpen(notification) => json!({
                "instance_id": notification.instance_id.as_str(),
                "publish_id": notification.publish_id.as_str(),
                "user_id": notification.user_id.as_str(),
            }),
        }
    }
}

fn user_names(users: &[UserId]) -> Vec<&str> {
    users.iter().map(UserId::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::WebhookEventType;

    #[test]
    fn event_types_parse_by_their_wire_names_only() {
        for kind in WebhookEventType::ALL {
            assert_eq!(kind.as_str().parse::<WebhookEventType>(), Ok(kind));
        }
        for unknown in [
            "PublishToUsersAttempt",
            "v1.publishtousersattempt",
            "",
            "v2.UserNotificationOpen",
        ] {
            let err = unknown.parse::<WebhookEventType>().unwrap_err();
            assert_eq!(err.field(), "event_type", "{unknown:?}");
        }
    }
}
