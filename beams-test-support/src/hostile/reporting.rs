//! Reporting API bodies (delivery and open events, from anyone on the internet) and the
//! publish ids they name.

use beams_core::{EventKind, PublishId, ReportEvent};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Map, Value, json};

use super::ids::{device_id, device_id_text, user_id_text, uuid};
use super::json::{any_object, deeply_nested, json_bytes, number, scalar};
use super::text::{any_text, around, mutated};

/// Valid publish ids: generated ones, and `pubid-` with any lowercase UUID.
pub fn publish_id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just(()).prop_map(|()| PublishId::generate().as_str().to_owned()),
        uuid().prop_map(|uuid| format!("pubid-{uuid}")),
    ]
}

/// Text to read as a publish id.
pub fn publish_id_text() -> BoxedStrategy<String> {
    around(publish_id(), 60)
}

/// Whether `text` has the one spelling of a publish id: `pubid-` and a lowercase hyphenated
/// UUID.
pub fn is_publish_id(text: &str) -> bool {
    let Some(uuid) = text.strip_prefix("pubid-") else {
        return false;
    };
    let dashes = [8, 13, 18, 23];
    uuid.len() == 36
        && uuid.char_indices().all(|(at, c)| {
            if dashes.contains(&at) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        })
}

/// A publish id is accepted exactly in its one spelling, and reads back as itself.
pub fn check_publish_id(text: &str) -> TestCaseResult {
    match PublishId::parse(text) {
        Ok(id) => {
            prop_assert!(is_publish_id(text), "{text:?} accepted");
            prop_assert_eq!(id.as_str(), text);
        }
        Err(error) => {
            prop_assert!(!is_publish_id(text), "{text:?} refused: {error}");
            prop_assert_eq!(error.field(), "publish_id");
        }
    }
    Ok(())
}

/// An `event` value: each SDK's names, near ones, other JSON.
fn event_name() -> impl Strategy<Value = Value> {
    let names = || proptest::sample::select(&["delivery", "open", "Delivery", "Open"][..]);
    prop_oneof![
        12 => names().prop_map(|name| Value::String(name.to_owned())),
        2 => mutated(names().prop_map(str::to_owned)).prop_map(Value::String),
        1 => scalar(),
    ]
}

/// A `timestampSecs` value: whole seconds (as the SDKs send), fractions (older web service
/// workers), values around the range's ends, and other JSON.
fn timestamp_secs() -> impl Strategy<Value = Value> {
    let max = ReportEvent::MAX_TIMESTAMP_SECS;
    prop_oneof![
        4 => (0..=max).prop_map(Value::from),
        2 => (0..=max).prop_map(|secs| Value::from(secs as f64 + 0.25)),
        1 => (max - 1..=max + 1).prop_map(Value::from),
        1 => number(),
        1 => any::<f64>().prop_map(Value::from),
        1 => scalar(),
    ]
}

/// An optional boolean field's value.
fn flag() -> impl Strategy<Value = Value> {
    prop_oneof![4 => any::<bool>().prop_map(Value::Bool), 1 => Just(Value::Null), 1 => scalar()]
}

/// A field that holds mostly `valid` text, sometimes text `near` it, sometimes other JSON:
/// valid often enough that most shaped bodies get past their ids.
fn text_field(
    valid: impl Strategy<Value = String> + 'static,
    near: BoxedStrategy<String>,
) -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => valid.prop_map(Value::String),
        3 => near.prop_map(Value::String),
        1 => scalar(),
    ]
}

/// An event body shaped like the SDKs': each field present or not, valid or near, and
/// unknown fields (the iOS SDK adds `instanceId`).
pub fn shaped_event() -> BoxedStrategy<Value> {
    let user = prop_oneof![
        6 => user_id_text().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => Just(Value::String(String::new())),
        1 => scalar(),
    ];
    (
        proptest::option::weighted(0.95, event_name()),
        proptest::option::weighted(0.95, text_field(publish_id(), publish_id_text())),
        proptest::option::weighted(0.95, text_field(device_id(), device_id_text())),
        proptest::option::weighted(0.7, user),
        proptest::option::weighted(0.95, timestamp_secs()),
        [
            proptest::option::weighted(0.6, flag()),
            proptest::option::weighted(0.6, flag()),
            proptest::option::weighted(0.6, flag()),
        ],
        any_object(1),
    )
        .prop_map(
            |(event, publish, device, user, timestamp, flags, mut fields)| {
                let mut set = |name: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        fields.insert(name.to_owned(), value);
                    }
                };
                set("event", event);
                set("publishId", publish);
                set("deviceId", device);
                set("userId", user);
                set("timestampSecs", timestamp);
                for (name, flag) in ["appInBackground", "hasDisplayableContent", "hasData"]
                    .into_iter()
                    .zip(flags)
                {
                    set(name, flag);
                }
                Value::Object(fields)
            },
        )
        .boxed()
}

/// An event body as bytes: shaped bodies, edits of them, any JSON, any bytes, deep nesting,
/// and bodies around the size limit.
pub fn body() -> BoxedStrategy<Vec<u8>> {
    let shaped = shaped_event().prop_map(|body| body.to_string());
    let max = ReportEvent::MAX_BODY_BYTES;
    prop_oneof![
        6 => shaped.clone().prop_map(String::into_bytes),
        2 => mutated(shaped.clone()).prop_map(String::into_bytes),
        2 => json_bytes(),
        1 => deeply_nested(),
        1 => any_text(80).prop_map(String::into_bytes),
        1 => (shaped, max - 8..=max + 8).prop_map(|(body, len)| {
            // Trailing spaces keep the JSON as valid as it was.
            let mut bytes = body.into_bytes();
            bytes.resize(len.max(bytes.len()), b' ');
            bytes
        }),
    ]
    .boxed()
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Any body is an event or a refusal naming one of [`ReportEvent::FIELDS`]; a body over the
/// limit is refused as such. An accepted event says what its body said (the kind by any SDK
/// spelling, the ids as sent, the platform of the device id, the user unless absent, null or
/// empty, whole seconds), and reads back from its own JSON unchanged.
pub fn check_event(body: &[u8]) -> TestCaseResult {
    let max = ReportEvent::MAX_BODY_BYTES;
    let event = match ReportEvent::parse(body) {
        Ok(event) => event,
        Err(error) => {
            super::check_body_refusal(&error, &ReportEvent::FIELDS, body, max)?;
            if body.len() <= max && serde_json::from_slice::<Map<String, Value>>(body).is_err() {
                prop_assert_eq!(error.field(), "body", "{}", error);
            }
            return Ok(());
        }
    };
    prop_assert!(body.len() <= max);
    let fields: Map<String, Value> = serde_json::from_slice(body).map_err(fail)?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or("");
    prop_assert_eq!(Some(event.kind), EventKind::from_wire(text("event")));
    prop_assert_eq!(event.publish_id.as_str(), text("publishId"));
    prop_assert_eq!(event.device_id.as_str(), text("deviceId"));
    prop_assert!(text("deviceId").starts_with(event.platform().as_str()));
    prop_assert_eq!(
        event.user_id.as_ref().map(|user| user.as_str()),
        Some(text("userId")).filter(|user| !user.is_empty())
    );
    let secs = fields
        .get("timestampSecs")
        .and_then(Value::as_f64)
        .ok_or_else(|| fail("accepted without a numeric timestampSecs"))?;
    prop_assert!(secs >= 0.0 && secs <= ReportEvent::MAX_TIMESTAMP_SECS as f64 + 1.0);
    let whole = event.timestamp.as_unix_secs();
    prop_assert!(
        (whole as f64 - secs.floor()).abs() < 1.0,
        "{whole} from {secs}"
    );
    let flag = |name: &str| fields.get(name).and_then(Value::as_bool);
    prop_assert_eq!(event.app_in_background, flag("appInBackground"));
    prop_assert_eq!(event.has_displayable_content, flag("hasDisplayableContent"));
    prop_assert_eq!(event.has_data, flag("hasData"));
    let json = event.to_json().to_string();
    prop_assert_eq!(ReportEvent::parse(json.as_bytes()), Ok(event));
    Ok(())
}

/// A body the official SDKs would send (valid by construction) is always accepted.
pub fn sdk_event() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(&["delivery", "open", "Delivery", "Open"][..]),
        publish_id(),
        device_id(),
        proptest::option::of(super::ids::user_id()),
        0..=ReportEvent::MAX_TIMESTAMP_SECS,
        proptest::option::of(any::<[bool; 3]>()),
    )
        .prop_map(|(event, publish, device, user, secs, flags)| {
            let mut body = json!({"event": event, "publishId": publish, "deviceId": device,
                "userId": user, "timestampSecs": secs});
            if let Some([background, displayable, data]) = flags {
                body["appInBackground"] = json!(background);
                body["hasDisplayableContent"] = json!(displayable);
                body["hasData"] = json!(data);
            }
            body
        })
}

/// What an SDK sends is an event.
pub fn check_sdk_event(body: &Value) -> TestCaseResult {
    let bytes = body.to_string().into_bytes();
    prop_assert!(ReportEvent::parse(&bytes).is_ok(), "{body} refused");
    check_event(&bytes)
}
