//! The `pusher` data the official client SDKs read from a notification, added to each
//! platform's payload in one place so the three platforms stay consistent.
//!
//! | platform | where | shape |
//! |---|---|---|
//! | web | `data.pusher` | `{"instanceId", "publishId"}` |
//! | APNs | `data.pusher` | `{"instanceId", "publishId"}` |
//! | FCM | `data.pusher`, a JSON **string** (FCM data values are strings) | `{"instanceId", "publishId", "clickAction"?, "hasDisplayableContent", "hasData"}` |
//!
//! Without it the SDKs neither report delivery and open nor route the notification to the
//! app's handler; the web service worker does not even show it. `userShouldIgnore` is never
//! added: the iOS SDK drops a notification that carries it.

use serde_json::{Map, Value, json};

use crate::{InstanceId, Payload, Platform, PublishId, Rule, ValidationError};

/// The key of the `data` object that holds the SDKs' data. A customer may not use it.
pub(crate) const PUSHER_KEY: &str = "pusher";

impl Payload {
    /// The payload of `platform` for publish `publish_id` of `instance`: the publish request's
    /// `section` for that platform with the `pusher` data the official client SDKs read added
    /// to its `data` (created when absent; the customer's keys are kept beside it).
    ///
    /// Refused when the section's `data` is not a JSON object, or already has a `pusher` key.
    ///
    /// ```
    /// use beams_core::{InstanceId, Payload, Platform, PublishId};
    /// use serde_json::json;
    ///
    /// let section = json!({"aps": {"alert": "Hi"}, "data": {"order": 7}});
    /// let payload = Payload::for_publish(
    ///     Platform::Apns,
    ///     &InstanceId::new("my-instance")?,
    ///     &PublishId::generate(),
    ///     section.as_object().unwrap(),
    /// )?;
    /// assert_eq!(payload.body["data"]["order"], 7);
    /// assert_eq!(payload.body["data"]["pusher"]["instanceId"], "my-instance");
    ///
    /// let own_pusher = json!({"aps": {}, "data": {"pusher": 1}});
    /// let refused = Payload::for_publish(
    ///     Platform::Apns,
    ///     &InstanceId::new("my-instance")?,
    ///     &PublishId::generate(),
    ///     own_pusher.as_object().unwrap(),
    /// );
    /// assert_eq!(refused.unwrap_err().field(), "apns.data.pusher");
    /// # Ok::<(), beams_core::ValidationError>(())
    /// ```
    pub fn for_publish(
        platform: Platform,
        instance: &InstanceId,
        publish_id: &PublishId,
        section: &Map<String, Value>,
    ) -> Result<Payload, ValidationError> {
        let mut body = section.clone();
        let data = match body.remove("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(_) => {
                return Err(ValidationError::new(
                    data_field(platform),
                    Rule::Format {
                        expected: "a JSON object",
                    },
                ));
            }
        };
        if data.contains_key(PUSHER_KEY) {
            return Err(ValidationError::new(pusher_field(platform), Rule::Reserved));
        }
        let pusher = pusher_data(platform, instance, publish_id, section, &data);
        let mut data = data;
        data.insert(PUSHER_KEY.to_owned(), pusher);
        body.insert("data".to_owned(), Value::Object(data));
        Ok(Payload {
            publish_id: publish_id.clone(),
            instance: instance.clone(),
            platform,
            body: Value::Object(body),
        })
    }
}

/// The `pusher` value for `platform`, given the section and the customer's own `data`.
fn pusher_data(
    platform: Platform,
    instance: &InstanceId,
    publish_id: &PublishId,
    section: &Map<String, Value>,
    customer_data: &Map<String, Value>,
) -> Value {
    let mut ids = json!({
        "instanceId": instance.as_str(),
        "publishId": publish_id.as_str(),
    });
    match platform {
        Platform::Apns | Platform::Web => ids,
        Platform::Fcm => {
            let notification = section.get("notification").and_then(Value::as_object);
            if let Some(click_action) = notification
                .and_then(|n| n.get("click_action"))
                .and_then(Value::as_str)
            {
                ids["clickAction"] = Value::from(click_action);
            }
            // The Android SDK shows the notification itself only when there is something to
            // show, and hands `data` to the app's listener only when there is some.
            let displayable = notification.is_some_and(|n| {
                ["title", "body"].iter().any(|key| {
                    n.get(*key)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                })
            });
            ids["hasDisplayableContent"] = Value::Bool(displayable);
            ids["hasData"] = Value::Bool(!customer_data.is_empty());
            // FCM data values are strings: the SDK parses this one as JSON.
            Value::String(ids.to_string())
        }
    }
}

fn data_field(platform: Platform) -> &'static str {
    match platform {
        Platform::Apns => "apns.data",
        Platform::Fcm => "fcm.data",
        Platform::Web => "web.data",
    }
}

fn pusher_field(platform: Platform) -> &'static str {
    match platform {
        Platform::Apns => "apns.data.pusher",
        Platform::Fcm => "fcm.data.pusher",
        Platform::Web => "web.data.pusher",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(platform: Platform, section: Value) -> Result<Payload, ValidationError> {
        Payload::for_publish(
            platform,
            &InstanceId::new("instance-1").expect("valid"),
            &PublishId::generate(),
            section.as_object().expect("an object"),
        )
    }

    #[test]
    fn apns_and_web_get_the_ids_as_an_object_beside_the_customer_data() {
        for platform in [Platform::Apns, Platform::Web] {
            let built = payload(platform, json!({"aps": {}, "data": {"k": "v"}})).expect("ok");
            assert_eq!(built.body["data"]["k"], "v");
            assert_eq!(
                built.body["data"]["pusher"],
                json!({"instanceId": "instance-1", "publishId": built.publish_id.as_str()})
            );
        }
    }

    #[test]
    fn no_user_should_ignore_key_ever() {
        let built = payload(Platform::Apns, json!({"aps": {"alert": "Hi"}})).expect("ok");
        assert!(!built.body.to_string().contains("userShouldIgnore"));
    }

    #[test]
    fn fcm_gets_a_json_string_with_what_the_android_sdk_reads() {
        let section = json!({
            "notification": {"title": "Hi", "click_action": "OPEN_ORDER"},
            "data": {"order": "7"}
        });
        let built = payload(Platform::Fcm, section).expect("ok");
        let text = built.body["data"]["pusher"].as_str().expect("a string");
        let pusher: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(
            pusher,
            json!({"instanceId": "instance-1",
                   "publishId": built.publish_id.as_str(),
                   "clickAction": "OPEN_ORDER",
                   "hasDisplayableContent": true,
                   "hasData": true})
        );
        assert_eq!(built.body["data"]["order"], "7");
    }

    #[test]
    fn fcm_data_only_messages_say_so() {
        let built = payload(Platform::Fcm, json!({"data": {"k": "v"}})).expect("ok");
        let pusher: Value =
            serde_json::from_str(built.body["data"]["pusher"].as_str().expect("a string"))
                .expect("JSON");
        assert_eq!(pusher["hasDisplayableContent"], false);
        assert_eq!(pusher["hasData"], true);
        assert!(pusher.get("clickAction").is_none());

        let built = payload(Platform::Fcm, json!({"notification": {"body": "x"}})).expect("ok");
        let pusher: Value =
            serde_json::from_str(built.body["data"]["pusher"].as_str().expect("a string"))
                .expect("JSON");
        assert_eq!(pusher["hasDisplayableContent"], true);
        assert_eq!(pusher["hasData"], false);
    }

    #[test]
    fn a_customer_pusher_key_or_a_non_object_data_is_refused() {
        let refused = payload(Platform::Fcm, json!({"data": {"pusher": "mine"}})).unwrap_err();
        assert_eq!(refused.field(), "fcm.data.pusher");
        assert_eq!(refused.rule(), &Rule::Reserved);
        let refused = payload(Platform::Web, json!({"data": [1]})).unwrap_err();
        assert_eq!(refused.field(), "web.data");
    }
}
