//! The plaintext a browser receives: the Beams `web` publish section, shaped the way the
//! official Beams service worker reads it, and the Web Push headers the section asks for.

use beams_core::Payload;
use serde_json::{Map, Value};

use super::encrypt::MAX_PLAINTEXT;

/// Four weeks: how long a push service keeps a message for an offline browser by default.
pub const DEFAULT_TTL_SECONDS: u64 = 4 * 7 * 24 * 60 * 60;

/// The `Urgency` values RFC 8030 §5.3 defines.
const URGENCIES: [&str; 4] = ["very-low", "low", "normal", "high"];

/// One publish's message for every subscription: plaintext and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebMessage {
    pub(crate) plaintext: Vec<u8>,
    pub(crate) ttl: u64,
    pub(crate) urgency: Option<&'static str>,
    pub(crate) topic: Option<String>,
}

/// Builds the message from the `web` payload (see [`Payload::for_publish`], which has put
/// the `pusher` ids the service worker needs in its `data`):
/// `{"notification": {title, body, icon, deep_link, hide_notification_if_site_has_focus},
/// "data": {…, "pusher": {"instanceId", "publishId"}}, "time_to_live": seconds, "urgency": …,
/// "topic": …}` becomes `{"notification": {…}, "data": {…}}`, which the official service
/// worker displays, and the headers. An unusable section is refused with the reason, naming
/// the field.
pub(crate) fn web_message(payload: &Payload) -> Result<WebMessage, String> {
    let empty = Map::new();
    let section = payload.body.as_object().unwrap_or(&empty);

    let data = match section.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(data)) => Some(data),
        Some(_) => return Err("web.data must be a JSON object".into()),
    };
    let mut message = Map::new();
    match section.get("notification") {
        None | Some(Value::Null) => {}
        Some(Value::Object(notification)) => {
            message.insert("notification".into(), Value::Object(notification.clone()));
        }
        Some(_) => return Err("web.notification must be a JSON object".into()),
    }
    if let Some(data) = data {
        message.insert("data".into(), Value::Object(data.clone()));
    }

    let ttl = match section.get("time_to_live") {
        None | Some(Value::Null) => DEFAULT_TTL_SECONDS,
        Some(value) => value
            .as_u64()
            .ok_or("web.time_to_live must be a whole number of seconds")?,
    };
    let urgency = match section.get("urgency") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            URGENCIES
                .into_iter()
                .find(|u| value.as_str() == Some(u))
                .ok_or("web.urgency must be very-low, low, normal or high")?,
        ),
    };
    let topic = match section.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(topic))
            if !topic.is_empty()
                && topic.len() <= 32
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(topic.to_owned())
        }
        Some(_) => return Err("web.topic must be 1 to 32 base64url characters".into()),
    };
    let plaintext = serde_json::to_vec(&Value::Object(message))
        .map_err(|e| format!("web does not serialize: {e}"))?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(format!(
            "web: the message a browser would receive is {} bytes (with the pusher data the \
             service worker reads), more than the {MAX_PLAINTEXT} one Web Push record holds",
            plaintext.len()
        ));
    }
    Ok(WebMessage {
        plaintext,
        ttl,
        urgency,
        topic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use beams_core::{InstanceId, PublishId};
    use serde_json::json;

    fn payload(body: Value) -> Payload {
        Payload::for_publish(
            beams_core::Platform::Web,
            &InstanceId::new("instance-1").unwrap(),
            &PublishId::generate(),
            body.as_object().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_service_worker_gets_the_pusher_ids_and_the_customer_data() {
        let p = payload(json!({
            "notification": {"title": "Hi", "body": "there", "deep_link": "https://example.com",
                             "hide_notification_if_site_has_focus": true},
            "data": {"order": 42},
            "time_to_live": 60
        }));
        let message = web_message(&p).unwrap();
        let plaintext: Value = serde_json::from_slice(&message.plaintext).unwrap();
        assert_eq!(plaintext["notification"]["title"], "Hi");
        assert_eq!(plaintext["data"]["order"], 42);
        assert_eq!(plaintext["data"]["pusher"]["instanceId"], "instance-1");
        assert_eq!(
            plaintext["data"]["pusher"]["publishId"],
            p.publish_id.as_str()
        );
        assert!(plaintext.get("time_to_live").is_none());
        assert_eq!(message.ttl, 60);
    }

    #[test]
    fn defaults_and_options() {
        let message = web_message(&payload(json!({"notification": {"title": "x"}}))).unwrap();
        assert_eq!(
            (message.ttl, message.urgency, message.topic),
            (DEFAULT_TTL_SECONDS, None, None)
        );
        let message = web_message(&payload(json!({"urgency": "high", "topic": "news-1"}))).unwrap();
        assert_eq!(
            (message.urgency, message.topic.as_deref()),
            (Some("high"), Some("news-1"))
        );
    }

    #[test]
    fn unusable_sections_are_refused_with_a_reason() {
        let no_object_data = Payload {
            body: json!({"data": [1]}),
            ..payload(json!({}))
        };
        assert!(web_message(&no_object_data).is_err());
        for body in [
            json!({"notification": "hi"}),
            json!({"topic": 7}),
            json!({"time_to_live": -1}),
            json!({"urgency": "now"}),
            json!({"topic": "has space"}),
            json!({"topic": "x".repeat(33)}),
        ] {
            assert!(web_message(&payload(body.clone())).is_err(), "{body}");
        }
    }

    #[test]
    fn messages_too_large_for_one_record_are_refused() {
        let padding = |n: usize| "x".repeat(n);
        let fits = payload(json!({"notification": {"title": "Hi"}}));
        let size = web_message(&fits).unwrap().plaintext.len();
        let at_limit = payload(json!({"notification": {"title": "Hi"},
                                      "data": {"p": padding(MAX_PLAINTEXT - size - 7)}}));
        assert_eq!(
            web_message(&at_limit).unwrap().plaintext.len(),
            MAX_PLAINTEXT
        );
        let over = payload(json!({"notification": {"title": "Hi"},
                                  "data": {"p": padding(MAX_PLAINTEXT - size - 6)}}));
        let refused = web_message(&over).unwrap_err();
        assert!(refused.starts_with("web:"), "{refused}");
    }
}
