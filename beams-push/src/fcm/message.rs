//! The Beams `fcm` publish section, translated into an FCM HTTP v1 message.
//!
//! Beams' section follows the legacy FCM format (`{"notification": {...}, "data": {...}}` with
//! options such as `time_to_live` beside them); v1 wants the Android options under `android`.
//! Anything v1 would refuse is refused here, naming the field, before a request is made.

use bytes::Bytes;
use serde_json::{Map, Value};

use beams_core::FcmToken;

/// The largest message FCM accepts, in bytes of JSON (the target excluded).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// The longest `time_to_live` FCM accepts: 28 days.
const MAX_TTL_SECONDS: u64 = 28 * 24 * 3600;

/// `notification` fields v1 keeps in `message.notification`.
const V1_NOTIFICATION_FIELDS: [&str; 3] = ["title", "body", "image"];

/// Legacy `notification` fields that v1 moved to `message.android.notification`.
const ANDROID_NOTIFICATION_FIELDS: [&str; 9] = [
    "icon",
    "sound",
    "tag",
    "color",
    "click_action",
    "body_loc_key",
    "body_loc_args",
    "title_loc_key",
    "title_loc_args",
];

/// One payload's v1 message, serialized once without its target and shared by every device.
#[derive(Debug)]
pub(crate) struct PreparedMessage {
    /// The message's fields after `"token":"…"`, each preceded by a comma; empty if none.
    rest: String,
}

impl PreparedMessage {
    /// Translates and checks `section`; the error is the reason to report as `Rejected`.
    pub(crate) fn from_section(section: &Value) -> Result<Self, String> {
        let message = translate(section)?;
        let json = Value::Object(message).to_string();
        if json.len() > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "fcm: the message FCM would receive is {} bytes (with the pusher data the \
                 Android SDK reads), more than the {MAX_PAYLOAD_BYTES} it accepts",
                json.len()
            ));
        }
        let inner = json
            .strip_prefix('{')
            .and_then(|j| j.strip_suffix('}'))
            .unwrap_or_default();
        let rest = if inner.is_empty() {
            String::new()
        } else {
            format!(",{inner}")
        };
        Ok(PreparedMessage { rest })
    }

    /// The request body sending this message to `token`: `{"message":{"token":…,…}}`.
    pub(crate) fn body_for(&self, token: &FcmToken) -> Bytes {
        // An FcmToken holds only `A-Z a-z 0-9 - _ : .`, so it needs no JSON escaping.
        let token = token.as_str();
        let mut body = String::with_capacity(32 + token.len() + self.rest.len());
        body.push_str(r#"{"message":{"token":""#);
        body.push_str(token);
        body.push('"');
        body.push_str(&self.rest);
        body.push_str("}}");
        Bytes::from(body)
    }
}

/// The v1 message (without `token`) for a Beams `fcm` section.
pub(crate) fn translate(section: &Value) -> Result<Map<String, Value>, String> {
    let section = object("fcm", section)?;
    let mut message = Map::new();
    let mut notification = Map::new();
    let mut android = Map::new();
    // Legacy options, applied under `android` unless the section sets them there itself.
    let mut legacy_android = Map::new();
    let mut legacy_android_notification = Map::new();
    for (key, value) in section {
        match key.as_str() {
            "notification" => {
                split_notification(value, &mut notification, &mut legacy_android_notification)?
            }
            "data" => {
                message.insert(key.clone(), string_map("fcm.data", value)?);
            }
            "android" => android = object("fcm.android", value)?.clone(),
            "apns" | "webpush" | "fcm_options" => {
                let field = format!("fcm.{key}");
                message.insert(key.clone(), Value::Object(object(&field, value)?.clone()));
            }
            "time_to_live" => {
                legacy_android.insert("ttl".to_owned(), ttl_from_seconds(value)?);
            }
            "priority" => {
                legacy_android.insert("priority".to_owned(), android_priority(value)?);
            }
            "collapse_key" | "restricted_package_name" => {
                let field = format!("fcm.{key}");
                legacy_android.insert(key.clone(), Value::String(string(&field, value)?));
            }
            "token" | "topic" | "condition" | "to" | "registration_ids" => {
                return Err(format!(
                    "fcm.{key}: beams addresses every message to its device itself; remove it"
                ));
            }
            other => return Err(format!("fcm.{other} is not a field of an FCM message")),
        }
    }
    for (key, value) in legacy_android {
        android.entry(key).or_insert(value);
    }
    if !legacy_android_notification.is_empty() {
        let entry = android
            .entry("notification")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(target) = entry else {
            return Err("fcm.android.notification must be a JSON object".to_owned());
        };
        for (key, value) in legacy_android_notification {
            target.entry(key).or_insert(value);
        }
    }
    check_android(&android)?;
    if !notification.is_empty() {
        message.insert("notification".to_owned(), Value::Object(notification));
    }
    if !android.is_empty() {
        message.insert("android".to_owned(), Value::Object(android));
    }
    Ok(message)
}

/// Sorts a legacy `notification` into v1's `notification` and `android.notification`.
fn split_notification(
    value: &Value,
    v1: &mut Map<String, Value>,
    android: &mut Map<String, Value>,
) -> Result<(), String> {
    for (key, value) in object("fcm.notification", value)? {
        let field = format!("fcm.notification.{key}");
        if V1_NOTIFICATION_FIELDS.contains(&key.as_str()) {
            v1.insert(key.clone(), Value::String(string(&field, value)?));
        } else if ANDROID_NOTIFICATION_FIELDS.contains(&key.as_str()) {
            android.insert(key.clone(), android_notification_value(&field, key, value)?);
        } else if key == "android_channel_id" {
            android.insert(
                "channel_id".to_owned(),
                Value::String(string(&field, value)?),
            );
        } else {
            return Err(format!(
                "{field} is not an FCM notification field (title, body, image; Android options \
                 go in fcm.android.notification)"
            ));
        }
    }
    Ok(())
}

/// A legacy Android notification option as v1 types it: `*_loc_args` a list of strings,
/// `color` `#rrggbb`, the others strings.
fn android_notification_value(field: &str, key: &str, value: &Value) -> Result<Value, String> {
    if key.ends_with("_loc_args") {
        let strings = value
            .as_array()
            .is_some_and(|args| args.iter().all(Value::is_string));
        return if strings {
            Ok(value.clone())
        } else {
            Err(format!(
                "{field} must be a list of strings, found {}",
                kind(value)
            ))
        };
    }
    let text = string(field, value)?;
    if key == "color" {
        let hex = text.strip_prefix('#').unwrap_or_default();
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{field} must be a colour in #rrggbb form, found `{text}`"
            ));
        }
    }
    Ok(Value::String(text))
}

/// The checks v1 makes on `android` that are cheap to make first: string-only `data`, and a
/// duration-string `ttl`.
fn check_android(android: &Map<String, Value>) -> Result<(), String> {
    if let Some(data) = android.get("data") {
        string_map("fcm.android.data", data)?;
    }
    if let Some(ttl) = android.get("ttl") {
        let ok = ttl.as_str().is_some_and(is_duration);
        if !ok {
            return Err(
                "fcm.android.ttl must be a duration string such as \"3600s\" (or use \
                 fcm.time_to_live in seconds)"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

/// A protobuf JSON duration: seconds with up to nine decimals, then `s`.
fn is_duration(text: &str) -> bool {
    let Some(number) = text.strip_suffix('s') else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |part: &str, max: usize| {
        (1..=max).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    digits(whole, 12) && digits(fraction, 9)
}

/// `data`: an object whose values are all strings, with no key FCM reserves.
fn string_map(field: &str, value: &Value) -> Result<Value, String> {
    let map = object(field, value)?;
    for (key, value) in map {
        if !value.is_string() {
            return Err(format!(
                "{field}.{key} must be a string (FCM data values are strings only), found {}",
                kind(value)
            ));
        }
        let reserved = key == "from"
            || key == "message_type"
            || key.starts_with("google")
            || key.starts_with("gcm");
        if reserved {
            return Err(format!(
                "{field}.{key}: FCM reserves this key (from, message_type, google…, gcm…)"
            ));
        }
    }
    Ok(Value::Object(map.clone()))
}

fn ttl_from_seconds(value: &Value) -> Result<Value, String> {
    match value.as_u64() {
        Some(seconds) if seconds <= MAX_TTL_SECONDS => Ok(Value::String(format!("{seconds}s"))),
        _ => Err(format!(
            "fcm.time_to_live must be whole seconds from 0 to {MAX_TTL_SECONDS}, found {}",
            kind(value)
        )),
    }
}

fn android_priority(value: &Value) -> Result<Value, String> {
    match value.as_str() {
        Some("high") => Ok(Value::from("HIGH")),
        Some("normal") => Ok(Value::from("NORMAL")),
        _ => Err("fcm.priority must be \"high\" or \"normal\"".to_owned()),
    }
}

fn object<'a>(field: &str, value: &'a Value) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{field} must be a JSON object, found {}", kind(value)))
}

fn string(field: &str, value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{field} must be a string, found {}", kind(value)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> FcmToken {
        FcmToken::new("fcm:APA91b-test").unwrap()
    }

    #[test]
    fn the_beams_section_becomes_a_v1_message_with_one_target() {
        let section = json!({
            "notification": {"title": "Hi", "body": "There", "icon": "ic", "android_channel_id": "news"},
            "data": {"k": "v"},
            "time_to_live": 3600,
            "priority": "high",
            "collapse_key": "c",
        });
        let body = PreparedMessage::from_section(&section)
            .unwrap()
            .body_for(&token());
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            sent,
            json!({"message": {
                "token": "fcm:APA91b-test",
                "notification": {"title": "Hi", "body": "There"},
                "data": {"k": "v"},
                "android": {
                    "ttl": "3600s",
                    "priority": "HIGH",
                    "collapse_key": "c",
                    "notification": {"icon": "ic", "channel_id": "news"},
                },
            }})
        );
    }

    #[test]
    fn an_empty_section_is_a_message_with_only_its_target() {
        let body = PreparedMessage::from_section(&json!({}))
            .unwrap()
            .body_for(&token());
        assert_eq!(&body[..], br#"{"message":{"token":"fcm:APA91b-test"}}"#);
    }

    #[test]
    fn explicit_android_options_win_over_legacy_ones() {
        let message = translate(&json!({
            "time_to_live": 60,
            "notification": {"sound": "legacy"},
            "android": {"ttl": "120s", "notification": {"sound": "explicit"}},
        }))
        .unwrap();
        assert_eq!(message["android"]["ttl"], "120s");
        assert_eq!(message["android"]["notification"]["sound"], "explicit");
    }

    #[test]
    fn data_values_that_are_not_strings_are_refused_by_name() {
        for (data, found) in [
            (json!({"count": 3}), "a number"),
            (json!({"count": {"n": 3}}), "an object"),
            (json!({"count": null}), "null"),
        ] {
            let err = translate(&json!({"data": data})).unwrap_err();
            assert!(err.contains("fcm.data.count must be a string"), "{err}");
            assert!(err.contains(found), "{err}");
        }
        let err = translate(&json!({"android": {"data": {"n": true}}})).unwrap_err();
        assert!(err.contains("fcm.android.data.n"), "{err}");
    }

    #[test]
    fn reserved_data_keys_are_refused() {
        for key in [
            "from",
            "message_type",
            "google.sent_time",
            "gcm.notification.x",
        ] {
            let err = translate(&json!({"data": {key: "x"}})).unwrap_err();
            assert!(err.contains("reserves"), "{key}: {err}");
        }
    }

    #[test]
    fn ttls_must_be_duration_strings_or_legacy_seconds() {
        assert!(is_duration("3600s") && is_duration("0.5s") && is_duration("0s"));
        for bad in ["3600", "s", "1.s", "-1s", "1.1234567890s", "1m"] {
            assert!(!is_duration(bad), "{bad}");
        }
        assert!(translate(&json!({"android": {"ttl": 3600}})).is_err());
        for bad in [
            json!(-1),
            json!(1.5),
            json!("3600"),
            json!(MAX_TTL_SECONDS + 1),
        ] {
            assert!(translate(&json!({"time_to_live": bad})).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_and_targets_are_refused_by_name() {
        let err = translate(&json!({"notification": {"badge": 1}})).unwrap_err();
        assert!(err.contains("fcm.notification.badge"), "{err}");
        let err = translate(&json!({"dry_run": true})).unwrap_err();
        assert!(err.contains("fcm.dry_run"), "{err}");
        let err = translate(&json!({"topic": "news"})).unwrap_err();
        assert!(err.contains("fcm.topic"), "{err}");
        let err = translate(&json!(["not", "an", "object"])).unwrap_err();
        assert!(err.contains("fcm must be a JSON object"), "{err}");
    }

    #[test]
    fn every_documented_notification_key_reaches_its_v1_place() {
        let message = translate(&json!({
            "notification": {
                "title": "T", "body": "B", "android_channel_id": "ch", "icon": "ic",
                "sound": "ding", "tag": "t", "color": "#ff0000", "click_action": "OPEN",
                "body_loc_key": "bk", "body_loc_args": ["1"], "title_loc_key": "tk",
                "title_loc_args": ["2", "3"]
            },
            "time_to_live": 60, "collapse_key": "ck", "priority": "normal"
        }))
        .unwrap();
        assert_eq!(
            Value::Object(message),
            json!({
                "notification": {"title": "T", "body": "B"},
                "android": {
                    "ttl": "60s", "collapse_key": "ck", "priority": "NORMAL",
                    "notification": {
                        "channel_id": "ch", "icon": "ic", "sound": "ding", "tag": "t",
                        "color": "#ff0000", "click_action": "OPEN", "body_loc_key": "bk",
                        "body_loc_args": ["1"], "title_loc_key": "tk",
                        "title_loc_args": ["2", "3"]
                    }
                }
            })
        );
    }

    #[test]
    fn android_notification_options_of_the_wrong_type_are_refused_by_name() {
        for (notification, field) in [
            (json!({"icon": 1}), "fcm.notification.icon"),
            (json!({"color": "red"}), "fcm.notification.color"),
            (
                json!({"body_loc_args": "1"}),
                "fcm.notification.body_loc_args",
            ),
            (
                json!({"title_loc_args": [1]}),
                "fcm.notification.title_loc_args",
            ),
            (
                json!({"click_action": true}),
                "fcm.notification.click_action",
            ),
        ] {
            let err = translate(&json!({"notification": notification})).unwrap_err();
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn payloads_over_4096_bytes_are_refused() {
        let fits = "x".repeat(MAX_PAYLOAD_BYTES - r#"{"data":{"k":""}}"#.len());
        assert!(PreparedMessage::from_section(&json!({"data": {"k": fits}})).is_ok());
        let over = format!("{fits}y");
        let err = PreparedMessage::from_section(&json!({"data": {"k": over}})).unwrap_err();
        assert!(err.contains("4097 bytes"), "{err}");
    }
}
