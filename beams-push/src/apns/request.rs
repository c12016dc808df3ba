//! The APNs request: `POST /3/device/<token>` with the `apns-*` headers, built from the Beams
//! `apns` publish section.
//!
//! The section is Apple's payload (`{"aps": {...}, "data": {...}, ...}`) plus three top-level
//! keys the Beams server SDKs type beside `aps` and `data`, which are request headers, not
//! payload, and are removed from the body:
//!
//! | key | header | rule |
//! |---|---|---|
//! | `collapse_id` | `apns-collapse-id` | a string of at most 64 bytes |
//! | `expiration` | `apns-expiration` | Unix seconds; `0` = try once, do not store |
//! | `priority` | `apns-priority` | 10, 5 or 1; a background notification takes 5 |
//!
//! An optional `"apns-headers"` object (an extension) may also set `apns-push-type` and
//! `apns-id`, or any of the three above (not both ways at once). Defaults: the push type is
//! `alert` (`background` when `aps` has `content-available: 1` and no alert, sound or badge),
//! the priority 10 (5 for background), and the expiration four weeks after sending, so that
//! APNs stores the notification for a phone that is offline and delivers it when it is back.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderValue, Method, Request};
use http_body_util::Full;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::endpoint::Target;

/// The top-level key of the `apns` publish section whose object sets the request headers
/// (`apns-push-type`, `apns-priority`, `apns-expiration`, `apns-collapse-id`, `apns-id`,
/// each a string or an integer). It is removed from the body before sending.
pub const HEADERS_KEY: &str = "apns-headers";
/// The top-level keys of the Beams `apns` section that are headers, with the header each sets.
const BEAMS_HEADER_KEYS: [(&str, &str); 3] = [
    ("collapse_id", "apns-collapse-id"),
    ("expiration", "apns-expiration"),
    ("priority", "apns-priority"),
];
/// How long APNs keeps a notification for an offline device when the publish does not say:
/// four weeks, as long as a Web Push service keeps one by default.
pub(crate) const DEFAULT_EXPIRY: std::time::Duration =
    std::time::Duration::from_secs(4 * 7 * 24 * 60 * 60);
/// The largest payload APNs accepts, in bytes.
pub(crate) const MAX_PAYLOAD: usize = 4096;
/// The largest VoIP payload APNs accepts, in bytes.
pub(crate) const MAX_VOIP_PAYLOAD: usize = 5120;

const APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
const APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
const APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
const APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");
const APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static("apns-collapse-id");
const APNS_ID: HeaderName = HeaderName::from_static("apns-id");

/// One payload, serialized once and shared by every delivery of it.
#[derive(Debug, Clone)]
pub(crate) struct PreparedPayload {
    body: Bytes,
    topic: HeaderValue,
    push_type: HeaderValue,
    priority: HeaderValue,
    expiration: HeaderValue,
    collapse_id: Option<HeaderValue>,
    apns_id: Option<HeaderValue>,
}

/// The publish section without the keys that are headers, serialized without copying it.
struct BodyView<'a>(&'a Map<String, Value>);

impl BodyView<'_> {
    fn is_header_key(key: &str) -> bool {
        key == HEADERS_KEY || BEAMS_HEADER_KEYS.iter().any(|(beams, _)| *beams == key)
    }
}

impl Serialize for BodyView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0.iter().filter(|(key, _)| !Self::is_header_key(key)) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The header values a section asks for, each with the field that set it.
#[derive(Default)]
struct HeaderOptions {
    push_type: Option<String>,
    priority: Option<(String, String)>,
    expiration: Option<String>,
    collapse_id: Option<String>,
    apns_id: Option<String>,
}

impl HeaderOptions {
    /// Reads the Beams keys and the `apns-headers` object of `section`.
    fn of(section: &Map<String, Value>) -> Result<Self, String> {
        let mut options = HeaderOptions::default();
        for (key, header) in BEAMS_HEADER_KEYS {
            if let Some(value) = section.get(key) {
                options.set(header, &format!("apns.{key}"), value)?;
            }
        }
        match section.get(HEADERS_KEY) {
            None => {}
            Some(Value::Object(headers)) => {
                for (name, value) in headers {
                    options.set(name, &format!("apns.{HEADERS_KEY}.{name}"), value)?;
                }
            }
            Some(_) => return Err(format!("apns.{HEADERS_KEY} must be a JSON object")),
        }
        Ok(options)
    }

    /// Sets `header` from the value of `field`, once.
    fn set(&mut self, header: &str, field: &str, value: &Value) -> Result<(), String> {
        let text = header_text(field, value)?;
        let slot = match header {
            "apns-push-type" => check_push_type(field, &text).map(|()| &mut self.push_type),
            "apns-priority" => {
                check_priority(field, &text)?;
                if self.priority.is_some() {
                    return Err(set_twice(field));
                }
                self.priority = Some((text, field.to_owned()));
                return Ok(());
            }
            "apns-expiration" => check_expiration(field, &text).map(|()| &mut self.expiration),
            "apns-collapse-id" => check_collapse_id(field, &text).map(|()| &mut self.collapse_id),
            "apns-id" => check_apns_id(field, &text).map(|()| &mut self.apns_id),
            other => Err(format!(
                "apns.{HEADERS_KEY} has unknown header `{other}` (apns-push-type, \
                 apns-priority, apns-expiration, apns-collapse-id, apns-id)"
            )),
        }?;
        if slot.is_some() {
            return Err(set_twice(field));
        }
        *slot = Some(text);
        Ok(())
    }
}

fn set_twice(field: &str) -> String {
    format!("{field}: this header is already set by another key of the apns section")
}

impl PreparedPayload {
    /// Builds the body and headers for `section` sent to `topic` (the configured bundle id),
    /// or says why APNs would refuse it, naming the field, so nothing is sent.
    pub(crate) fn new(section: &Value, topic: &str) -> Result<Self, String> {
        let Value::Object(section) = section else {
            return Err("apns must be a JSON object".into());
        };
        let options = HeaderOptions::of(section)?;
        let push_type = options
            .push_type
            .unwrap_or_else(|| default_push_type(section).to_owned());
        let push_type = push_type.as_str();
        let priority = match options.priority {
            // Apple refuses a background notification at any other priority.
            Some((priority, field)) if push_type == "background" && priority != "5" => {
                return Err(format!(
                    "{field} must be 5 for a background notification (aps with only \
                     content-available), found {priority}"
                ));
            }
            Some((priority, _)) => priority,
            None if push_type == "background" => "5".to_owned(),
            None => "10".to_owned(),
        };
        let body = serde_json::to_vec(&BodyView(section))
            .map_err(|e| format!("apns does not serialize: {e}"))?;
        let limit = if push_type == "voip" {
            MAX_VOIP_PAYLOAD
        } else {
            MAX_PAYLOAD
        };
        if body.len() > limit {
            return Err(format!(
                "apns: the payload APNs would receive is {} bytes (with the pusher data the \
                 SDKs read), more than the {limit} it accepts",
                body.len()
            ));
        }
        let expiration = options.expiration.unwrap_or_else(default_expiration);
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(|_| format!("`{text}` cannot be a header value"))
        };
        Ok(PreparedPayload {
            body: Bytes::from(body),
            topic: value(&format!("{topic}{}", topic_suffix(push_type)))?,
            push_type: value(push_type)?,
            priority: value(&priority)?,
            expiration: value(&expiration)?,
            collapse_id: options.collapse_id.as_deref().map(value).transpose()?,
            apns_id: options.apns_id.as_deref().map(value).transpose()?,
        })
    }

    /// The body as sent.
    #[cfg(test)]
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request for one device token (validated hex) with the provider token's
    /// `authorization` value.
    pub(crate) fn request(
        &self,
        target: &Target,
        device_token: &str,
        authorization: &HeaderValue,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let path =
            PathAndQuery::from_maybe_shared(Bytes::from(format!("/3/device/{device_token}")))?;
        let uri = Uri::builder()
            .scheme(target.scheme.clone())
            .authority(target.authority.clone())
            .path_and_query(path)
            .build()?;
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(9);
        // Not marked sensitive: HPACK then indexes it once per connection instead of sending
        // ~200 bytes with every request. It is never logged.
        headers.insert(AUTHORIZATION, authorization.clone());
        headers.insert(APNS_TOPIC, self.topic.clone());
        headers.insert(APNS_PUSH_TYPE, self.push_type.clone());
        headers.insert(APNS_PRIORITY, self.priority.clone());
        headers.insert(APNS_EXPIRATION, self.expiration.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(collapse_id) = &self.collapse_id {
            headers.insert(APNS_COLLAPSE_ID, collapse_id.clone());
        }
        if let Some(apns_id) = &self.apns_id {
            headers.insert(APNS_ID, apns_id.clone());
        }
        Ok(request)
    }
}

/// [`DEFAULT_EXPIRY`] from now, in Unix seconds.
fn default_expiration() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now + DEFAULT_EXPIRY).as_secs().to_string()
}

/// A header option as text: a string as it is, or a non-negative integer printed.
fn header_text(field: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        _ => Err(format!(
            "{field} must be a string or a non-negative integer"
        )),
    }
}

fn check_push_type(field: &str, text: &str) -> Result<(), String> {
    if !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!("{field} `{text}` is not an APNs push type"))
    }
}

fn check_priority(field: &str, text: &str) -> Result<(), String> {
    match text {
        "10" | "5" | "1" => Ok(()),
        _ => Err(format!("{field} must be 10, 5 or 1, found `{text}`")),
    }
}

fn check_expiration(field: &str, text: &str) -> Result<(), String> {
    match text.parse::<u64>() {
        Ok(_) if text.len() <= 12 => Ok(()),
        _ => Err(format!(
            "{field} must be a Unix time in seconds, found `{text}`"
        )),
    }
}

fn check_collapse_id(field: &str, text: &str) -> Result<(), String> {
    if text.len() > 64 {
        Err(format!(
            "{field} is {} bytes, APNs accepts at most 64",
            text.len()
        ))
    } else if text.chars().any(char::is_control) {
        Err(format!("{field} must not hold control characters"))
    } else {
        Ok(())
    }
}

/// A canonical UUID, `8-4-4-4-12` hex digits.
fn check_apns_id(field: &str, text: &str) -> Result<(), String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if shaped {
        Ok(())
    } else {
        Err(format!("{field} `{text}` is not a canonical UUID"))
    }
}

/// `background` for a silent notification (`content-available: 1` and nothing to show),
/// otherwise `alert`.
fn default_push_type(section: &Map<String, Value>) -> &'static str {
    let Some(Value::Object(aps)) = section.get("aps") else {
        return "alert";
    };
    let silent = aps.get("content-available").and_then(Value::as_i64) == Some(1)
        && !["alert", "sound", "badge"]
            .iter()
            .any(|key| aps.contains_key(*key));
    if silent { "background" } else { "alert" }
}

/// The topic suffix Apple requires for push types delivered to app extensions.
fn topic_suffix(push_type: &str) -> &'static str {
    match push_type {
        "voip" => ".voip",
        "complication" => ".complication",
        "fileprovider" => ".pushkit.fileprovider",
        "liveactivity" => ".push-type.liveactivity",
        "location" => ".location-query",
        "pushtotalk" => ".voip-ptt",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn header(prepared: &PreparedPayload, name: &str) -> String {
        let target = super::super::endpoint::tests_support::plain_target();
        let request = prepared
            .request(&target, "ab", &HeaderValue::from_static("bearer x"))
            .unwrap();
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn alerts_get_the_documented_defaults() {
        let prepared = PreparedPayload::new(&json!({"aps": {"alert": "Hi"}}), "com.x").unwrap();
        assert_eq!(header(&prepared, "apns-push-type"), "alert");
        assert_eq!(header(&prepared, "apns-priority"), "10");
        assert_eq!(header(&prepared, "apns-topic"), "com.x");
        assert_eq!(header(&prepared, "apns-collapse-id"), "");
    }

    #[test]
    fn without_an_expiration_apns_may_store_the_notification_for_weeks() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let prepared = PreparedPayload::new(&json!({"aps": {"alert": "Hi"}}), "com.x").unwrap();
        let expiration: u64 = header(&prepared, "apns-expiration").parse().unwrap();
        // Never 0 ("try once, do not store"): an offline iPhone would never get it.
        assert!(expiration >= now + DEFAULT_EXPIRY.as_secs(), "{expiration}");
        assert!(
            expiration <= now + DEFAULT_EXPIRY.as_secs() + 60,
            "{expiration}"
        );
    }

    #[test]
    fn the_beams_header_keys_become_headers_and_leave_the_body() {
        let section = json!({
            "aps": {"alert": "Hi"},
            "data": {"k": "v"},
            "collapse_id": "inbox",
            "expiration": 1_900_000_000u64,
            "priority": 5
        });
        let prepared = PreparedPayload::new(&section, "com.x").unwrap();
        assert_eq!(
            prepared.body(),
            br#"{"aps":{"alert":"Hi"},"data":{"k":"v"}}"#
        );
        assert_eq!(header(&prepared, "apns-collapse-id"), "inbox");
        assert_eq!(header(&prepared, "apns-expiration"), "1900000000");
        assert_eq!(header(&prepared, "apns-priority"), "5");
        assert_eq!(header(&prepared, "apns-push-type"), "alert");
    }

    #[test]
    fn bad_beams_header_keys_are_refused_naming_the_field() {
        for (section, field) in [
            (
                json!({"aps": {}, "collapse_id": "x".repeat(65)}),
                "apns.collapse_id",
            ),
            (json!({"aps": {}, "collapse_id": 7.5}), "apns.collapse_id"),
            (json!({"aps": {}, "expiration": -1}), "apns.expiration"),
            (
                json!({"aps": {}, "expiration": "tomorrow"}),
                "apns.expiration",
            ),
            (json!({"aps": {}, "priority": 7}), "apns.priority"),
            (
                json!({"aps": {"content-available": 1}, "priority": 10}),
                "apns.priority",
            ),
            (
                json!({"aps": {}, "priority": 5, "apns-headers": {"apns-priority": 10}}),
                "apns.apns-headers.apns-priority",
            ),
        ] {
            let refused = PreparedPayload::new(&section, "com.x").unwrap_err();
            assert!(refused.starts_with(field), "{section}: {refused}");
        }
    }

    #[test]
    fn silent_notifications_are_background_at_priority_5() {
        let section = json!({"aps": {"content-available": 1}, "data": {"k": "v"}});
        let prepared = PreparedPayload::new(&section, "com.x").unwrap();
        assert_eq!(header(&prepared, "apns-push-type"), "background");
        assert_eq!(header(&prepared, "apns-priority"), "5");
    }

    #[test]
    fn header_options_are_applied_and_removed_from_the_body() {
        let section = json!({
            "aps": {"alert": "Hi"},
            "apns-headers": {
                "apns-push-type": "voip",
                "apns-priority": "5",
                "apns-expiration": 1700000000,
                "apns-collapse-id": "group-1",
                "apns-id": "123e4567-e89b-12d3-a456-4266554400a0"
            }
        });
        let prepared = PreparedPayload::new(&section, "com.x").unwrap();
        assert_eq!(prepared.body(), br#"{"aps":{"alert":"Hi"}}"#);
        assert_eq!(header(&prepared, "apns-topic"), "com.x.voip");
        assert_eq!(header(&prepared, "apns-priority"), "5");
        assert_eq!(header(&prepared, "apns-expiration"), "1700000000");
        assert_eq!(header(&prepared, "apns-collapse-id"), "group-1");
        assert_eq!(
            header(&prepared, "apns-id"),
            "123e4567-e89b-12d3-a456-4266554400a0"
        );
    }

    #[test]
    fn bad_options_are_refused_before_sending() {
        for options in [
            json!({"apns-priority": "7"}),
            json!({"apns-collapse-id": "x".repeat(65)}),
            json!({"apns-id": "not-a-uuid"}),
            json!({"apns-expiration": "soon"}),
            json!({"apns-push-type": "Alert"}),
            json!({"apns-topic": "com.other"}),
            json!({"apns-priority": -1}),
        ] {
            let section = json!({"aps": {}, "apns-headers": options});
            assert!(
                PreparedPayload::new(&section, "com.x").is_err(),
                "{options}"
            );
        }
        assert!(PreparedPayload::new(&json!([1]), "com.x").is_err());
    }

    #[test]
    fn payload_size_is_checked_with_the_voip_allowance() {
        let padding = |n: usize| "x".repeat(n);
        // {"aps":{},"p":"…"} is 17 bytes around the padding.
        let fits = json!({"aps": {}, "p": padding(MAX_PAYLOAD - 17)});
        assert_eq!(
            PreparedPayload::new(&fits, "com.x").unwrap().body().len(),
            MAX_PAYLOAD
        );
        let too_big = json!({"aps": {}, "p": padding(MAX_PAYLOAD - 16)});
        let refused = PreparedPayload::new(&too_big, "com.x").unwrap_err();
        assert!(refused.contains("4097 bytes"), "{refused}");
        let voip = json!({
            "aps": {}, "p": padding(MAX_PAYLOAD),
            "apns-headers": {"apns-push-type": "voip"}
        });
        assert!(PreparedPayload::new(&voip, "com.x").is_ok());
    }
}
