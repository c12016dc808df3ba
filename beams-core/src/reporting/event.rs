//! `ReportEvent`: what a client SDK says happened to one notification, read from the body of
//! `POST /reporting_api/v2/instances/{instance}/events`.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::{DeviceId, Platform, PublishId, Rule, Timestamp, UserId, ValidationError};

/// What happened to a notification on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The notification reached the device (the SDK saw it arrive).
    Delivery,
    /// The user opened it.
    Open,
}

impl EventKind {
    /// Both kinds.
    pub const ALL: [EventKind; 2] = [EventKind::Delivery, EventKind::Open];

    /// Reads the wire name: `delivery` / `open` from the web service worker, `Delivery` /
    /// `Open` from the iOS and Android SDKs. No other spelling.
    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "delivery" | "Delivery" => Some(EventKind::Delivery),
            "open" | "Open" => Some(EventKind::Open),
            _ => None,
        }
    }

    /// The name the mobile SDKs send.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Delivery => "Delivery",
            EventKind::Open => "Open",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One delivery or open event, as a client SDK reports it.
///
/// Read from JSON by [`ReportEvent::parse`], which holds every field to its rule and names
/// the wire field (`publishId`, `deviceId`, …) when one breaks it. Fields the SDKs add that
/// carry nothing this server needs (the iOS SDK's `instanceId`) are ignored.
///
/// ```
/// use beams_core::{EventKind, Platform, ReportEvent};
///
/// let body = br#"{"event":"Open","publishId":"pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df",
///     "deviceId":"apns-0190f3a2-7b1c-7d4e-8f00-0123456789ab","userId":"alice",
///     "timestampSecs":1700000000}"#;
/// let event = ReportEvent::parse(body)?;
/// assert_eq!(event.kind, EventKind::Open);
/// assert_eq!(event.platform(), Platform::Apns);
/// assert_eq!(event.user_id.as_ref().map(|u| u.as_str()), Some("alice"));
///
/// let refused = ReportEvent::parse(br#"{"event":"Clicked"}"#).unwrap_err();
/// assert_eq!(refused.field(), "event");
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportEvent {
    /// `event`: delivery or open.
    pub kind: EventKind,
    /// `publishId`: the publish that sent the notification, read from its `pusher` data.
    pub publish_id: PublishId,
    /// `deviceId`: the reporting device; its platform is the id's.
    pub device_id: DeviceId,
    /// `userId`: the device's user as the client knows it, if any. A claim of the client,
    /// not checked against the device.
    pub user_id: Option<UserId>,
    /// `timestampSecs`: when it happened, by the device's clock (whole seconds).
    pub timestamp: Timestamp,
    /// `appInBackground` (deliveries): whether the app was in the background.
    pub app_in_background: Option<bool>,
    /// `hasDisplayableContent` (deliveries): whether the notification had something to show.
    pub has_displayable_content: Option<bool>,
    /// `hasData` (deliveries): whether it carried customer data.
    pub has_data: Option<bool>,
}

impl ReportEvent {
    /// The largest body read: room for every field at its longest (a 164-character user id
    /// escaped as `\u` pairs is under 2 KiB), far below anything that costs memory.
    pub const MAX_BODY_BYTES: usize = 4096;

    /// The latest `timestampSecs` accepted: 9999-12-31T23:59:59Z.
    pub const MAX_TIMESTAMP_SECS: u64 = 253_402_300_799;

    /// Every field a refusal may name: `body` (too large, not a JSON object) and the wire
    /// fields.
    pub const FIELDS: [&'static str; 9] = [
        "body",
        "event",
        "publishId",
        "deviceId",
        "userId",
        "timestampSecs",
        "appInBackground",
        "hasDisplayableContent",
        "hasData",
    ];

    /// Reads an event from a request body.
    ///
    /// The rules: at most [`MAX_BODY_BYTES`](Self::MAX_BODY_BYTES) of JSON object;
    /// `event` one of `delivery`, `open`, `Delivery`, `Open`; `publishId` as
    /// [`PublishId::parse`] and `deviceId` as [`DeviceId::parse`] read them; `timestampSecs`
    /// a number of seconds from 0 to [`MAX_TIMESTAMP_SECS`](Self::MAX_TIMESTAMP_SECS) (a
    /// fraction, which older web service workers send, is dropped); `userId` a
    /// [`UserId`], absent, `null` or empty (a device with no user); the three booleans
    /// `true`, `false`, `null` or absent.
    pub fn parse(body: &[u8]) -> Result<Self, ValidationError> {
        if body.len() > Self::MAX_BODY_BYTES {
            return Err(ValidationError::new(
                "body",
                Rule::TooLong {
                    max: Self::MAX_BODY_BYTES,
                    actual: body.len(),
                },
            ));
        }
        let mut fields: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
            ValidationError::new(
                "body",
                Rule::NotJson {
                    detail: e.to_string(),
                },
            )
        })?;
        let event = required_string(&mut fields, "event")?;
        let kind = EventKind::from_wire(&event).ok_or(ValidationError::new(
            "event",
            Rule::Format {
                expected: "one of delivery, open, Delivery, Open",
            },
        ))?;
        let publish_id = PublishId::parse(&required_string(&mut fields, "publishId")?)
            .map_err(|e| renamed("publishId", e))?;
        let device_id = DeviceId::parse(&required_string(&mut fields, "deviceId")?)
            .map_err(|e| renamed("deviceId", e))?;
        let user_id = match fields.remove("userId") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(UserId::new(text).map_err(|e| renamed("userId", e))?),
            Some(_) => return Err(format_error("userId", "a string or null")),
        };
        let timestamp = timestamp(fields.remove("timestampSecs"))?;
        Ok(ReportEvent {
            kind,
            publish_id,
            device_id,
            user_id,
            timestamp,
            app_in_background: optional_bool(&mut fields, "appInBackground")?,
            has_displayable_content: optional_bool(&mut fields, "hasDisplayableContent")?,
            has_data: optional_bool(&mut fields, "hasData")?,
        })
    }

    /// The reporting device's platform.
    pub fn platform(&self) -> Platform {
        self.device_id.platform()
    }

    /// The event as the mobile SDKs send it (absent fields left out); it reads back through
    /// [`parse`](Self::parse) as itself.
    pub fn to_json(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("event".into(), json!(self.kind.as_str()));
        fields.insert("publishId".into(), json!(self.publish_id.as_str()));
        fields.insert("deviceId".into(), json!(self.device_id.as_str()));
        if let Some(user) = &self.user_id {
            fields.insert("userId".into(), json!(user.as_str()));
        }
        fields.insert("timestampSecs".into(), json!(self.timestamp.as_unix_secs()));
        for (name, value) in [
            ("appInBackground", self.app_in_background),
            ("hasDisplayableContent", self.has_displayable_content),
            ("hasData", self.has_data),
        ] {
            if let Some(value) = value {
                fields.insert(name.into(), json!(value));
            }
        }
        Value::Object(fields)
    }
}

fn format_error(field: &'static str, expected: &'static str) -> ValidationError {
    ValidationError::new(field, Rule::Format { expected })
}

/// `error` with the wire name of the field it was read from.
fn renamed(field: &'static str, error: ValidationError) -> ValidationError {
    ValidationError::new(field, error.rule().clone())
}

fn required_string(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, ValidationError> {
    match fields.remove(field) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(ValidationError::new(field, Rule::Required)),
        Some(_) => Err(format_error(field, "a string")),
    }
}

fn optional_bool(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<bool>, ValidationError> {
    match fields.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(value)),
        Some(_) => Err(format_error(field, "true, false or null")),
    }
}

fn timestamp(value: Option<Value>) -> Result<Timestamp, ValidationError> {
    let out_of_range = || {
        format_error(
            "timestampSecs",
            "a number of seconds since 1970 from 0 to 253402300799 (year 9999)",
        )
    };
    let secs = match value {
        None | Some(Value::Null) => {
            return Err(ValidationError::new("timestampSecs", Rule::Required));
        }
        Some(Value::Number(number)) => match (number.as_u64(), number.as_f64()) {
            (Some(whole), _) => whole,
            // Only a finite, non-negative fraction gets here: serde_json reads no NaN or
            // infinity, and a negative integer fails the range check below.
            (None, Some(fraction)) if fraction >= 0.0 => {
                if fraction > ReportEvent::MAX_TIMESTAMP_SECS as f64 {
                    return Err(out_of_range());
                }
                fraction.floor() as u64
            }
            _ => return Err(out_of_range()),
        },
        Some(_) => return Err(out_of_range()),
    };
    if secs > ReportEvent::MAX_TIMESTAMP_SECS {
        return Err(out_of_range());
    }
    // Within range, so the conversion cannot fail; the fallback only keeps this total.
    Ok(Timestamp::from_unix_secs(i64::try_from(secs).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISH: &str = "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df";
    const DEVICE: &str = "fcm-0190f3a2-7b1c-7d4e-8f00-0123456789ab";

    fn parse(value: Value) -> Result<ReportEvent, ValidationError> {
        ReportEvent::parse(value.to_string().as_bytes())
    }

    fn field_of(value: Value) -> &'static str {
        parse(value).unwrap_err().field()
    }

    #[test]
    fn each_sdk_spelling_of_the_event_is_read() {
        for (name, kind) in [
            ("delivery", EventKind::Delivery),
            ("Delivery", EventKind::Delivery),
            ("open", EventKind::Open),
            ("Open", EventKind::Open),
        ] {
            let event = parse(
                json!({"event": name, "publishId": PUBLISH, "deviceId": DEVICE,
                "timestampSecs": 1_700_000_000}),
            )
            .unwrap();
            assert_eq!(event.kind, kind);
        }
        for name in ["DELIVERY", "opened", "", " open"] {
            assert_eq!(
                field_of(
                    json!({"event": name, "publishId": PUBLISH, "deviceId": DEVICE,
                    "timestampSecs": 1})
                ),
                "event"
            );
        }
    }

    #[test]
    fn a_delivery_as_the_android_sdk_sends_it() {
        let body = format!(
            r#"{{"event":"Delivery","deviceId":"{DEVICE}","userId":"alice","publishId":"{PUBLISH}","timestampSecs":1700000000,"appInBackground":true,"hasDisplayableContent":true,"hasData":false}}"#
        );
        let event = ReportEvent::parse(body.as_bytes()).unwrap();
        assert_eq!(event.kind, EventKind::Delivery);
        assert_eq!(event.publish_id.as_str(), PUBLISH);
        assert_eq!(event.device_id.as_str(), DEVICE);
        assert_eq!(event.platform(), Platform::Fcm);
        assert_eq!(event.user_id.as_ref().unwrap().as_str(), "alice");
        assert_eq!(event.timestamp.as_unix_secs(), 1_700_000_000);
        assert_eq!(event.app_in_background, Some(true));
        assert_eq!(event.has_displayable_content, Some(true));
        assert_eq!(event.has_data, Some(false));
        assert_eq!(
            ReportEvent::parse(event.to_json().to_string().as_bytes()),
            Ok(event)
        );
    }

    #[test]
    fn the_web_service_workers_nulls_and_fractions_are_read() {
        // `userId: null` with no user; older service workers send `Date.now() / 1000`, and
        // omit the booleans the notification did not carry. The iOS SDK adds `instanceId`.
        let event = parse(
            json!({"event": "delivery", "publishId": PUBLISH, "deviceId": DEVICE,
            "userId": null, "timestampSecs": 1_700_000_000.789, "appInBackground": false,
            "hasDisplayableContent": null, "instanceId": "anything"}),
        )
        .unwrap();
        assert_eq!(event.user_id, None);
        assert_eq!(event.timestamp.as_unix_secs(), 1_700_000_000);
        assert_eq!(event.app_in_background, Some(false));
        assert_eq!(event.has_displayable_content, None);
        assert_eq!(event.has_data, None);
        let empty_user = parse(
            json!({"event": "open", "publishId": PUBLISH, "deviceId": DEVICE,
            "userId": "", "timestampSecs": 0}),
        )
        .unwrap();
        assert_eq!(empty_user.user_id, None);
    }

    #[test]
    fn every_refusal_names_its_wire_field() {
        let good = json!({"event": "Open", "publishId": PUBLISH, "deviceId": DEVICE,
            "userId": "alice", "timestampSecs": 1, "appInBackground": true,
            "hasDisplayableContent": true, "hasData": true});
        let with = |field: &str, value: Value| {
            let mut body = good.clone();
            body[field] = value;
            body
        };
        let without = |field: &str| {
            let mut body = good.clone();
            body.as_object_mut().unwrap().remove(field);
            body
        };
        let cases = [
            (with("event", json!(1)), "event"),
            (without("event"), "event"),
            (with("publishId", json!("pubid-1")), "publishId"),
            (with("publishId", json!(null)), "publishId"),
            (without("publishId"), "publishId"),
            (with("deviceId", json!("web-1")), "deviceId"),
            (with("deviceId", json!(["x"])), "deviceId"),
            (without("deviceId"), "deviceId"),
            (with("userId", json!("x".repeat(165))), "userId"),
            (with("userId", json!(7)), "userId"),
            (with("timestampSecs", json!("1700000000")), "timestampSecs"),
            (with("timestampSecs", json!(-1)), "timestampSecs"),
            (with("timestampSecs", json!(-0.5)), "timestampSecs"),
            (with("timestampSecs", json!(1e300)), "timestampSecs"),
            (
                with("timestampSecs", json!(ReportEvent::MAX_TIMESTAMP_SECS + 1)),
                "timestampSecs",
            ),
            (without("timestampSecs"), "timestampSecs"),
            (with("appInBackground", json!("true")), "appInBackground"),
            (
                with("hasDisplayableContent", json!(1)),
                "hasDisplayableContent",
            ),
            (with("hasData", json!({})), "hasData"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body.clone()), field, "{body}");
        }
        assert!(parse(good).is_ok());
    }

    #[test]
    fn a_body_that_is_no_json_object_or_too_large_is_refused_as_the_body() {
        for body in [&b"not json"[..], b"[]", b"\"x\"", b"", b"{\"event\":"] {
            assert_eq!(ReportEvent::parse(body).unwrap_err().field(), "body");
        }
        let huge = vec![b' '; ReportEvent::MAX_BODY_BYTES + 1];
        assert_eq!(
            ReportEvent::parse(&huge).unwrap_err().rule(),
            &Rule::TooLong {
                max: ReportEvent::MAX_BODY_BYTES,
                actual: ReportEvent::MAX_BODY_BYTES + 1
            }
        );
        let nested = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
        assert_eq!(
            ReportEvent::parse(nested.as_bytes()).unwrap_err().field(),
            "body"
        );
    }

    #[test]
    fn the_longest_valid_event_fits_the_body_limit() {
        // A user id of 164 characters outside the BMP, each escaped as a surrogate pair.
        let user = "\u{1F600}".repeat(164);
        let event = json!({"event": "Delivery", "publishId": PUBLISH, "deviceId": DEVICE,
            "userId": user, "timestampSecs": ReportEvent::MAX_TIMESTAMP_SECS,
            "appInBackground": false, "hasDisplayableContent": false, "hasData": false,
            "instanceId": "8f9a6e2c-0d1b-4c3a-9e8f-7a6b5c4d3e2f"});
        let escaped: String = event
            .to_string()
            .chars()
            .map(|c| {
                if c == '\u{1F600}' {
                    "\\ud83d\\ude00".to_owned()
                } else {
                    c.to_string()
                }
            })
            .collect();
        assert!(
            escaped.len() <= ReportEvent::MAX_BODY_BYTES,
            "{}",
            escaped.len()
        );
        assert!(ReportEvent::parse(escaped.as_bytes()).is_ok());
    }
}
