//! A browser's Web Push subscription.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::public_address::{Host, is_local_name, parse_host};
use crate::{Rule, ValidationError, base64url, is_loopback_address, is_public_address};

/// Where a push service may be reached for a subscription to be accepted.
///
/// An endpoint must be `https://` on a host of the public internet: an address that is not
/// loopback, private, link-local, shared, multicast or reserved, in any spelling
/// (`0x7f000001`, `127.1`, `[::ffff:127.0.0.1]`, a trailing dot…), or a name that is not
/// local-only (`localhost`, a single label, `.local`, `.internal`, `.lan`, `.home.arpa`…).
/// Otherwise anyone who can register a device could make the server send requests to its
/// own network (server-side request forgery). The Web Push gateway checks again, after DNS,
/// the address it connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointRules {
    /// Accept endpoints on a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`), over
    /// `http://` too. Off by default; tests that run a mock push service turn it on.
    pub allow_loopback: bool,
}

impl EndpointRules {
    /// The rules for reading back what a store saved: loopback allowed, since a subscription
    /// could only have been stored under rules that accepted it (and the gateway checks every
    /// address it connects to anyway).
    pub const STORED: EndpointRules = EndpointRules {
        allow_loopback: true,
    };
}

/// A Web Push subscription: the push service endpoint and the browser's keys.
///
/// Accepted as the JSON of a browser `PushSubscription`, or as base64 of that JSON (what the
/// official Beams web SDK sends as its token). The endpoint must be https; `p256dh` must be a
/// 65-byte uncompressed P-256 point and `auth` a 16-byte secret, both base64url.
///
/// ```
/// use beams_core::{EndpointRules, WebSubscription};
///
/// let json = r#"{"endpoint":"https://push.example.net/send/abc",
///   "keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
///           "auth":"BTBZMqHH6r4Tts7J_aSIgg"}}"#;
/// let subscription = WebSubscription::parse(json, EndpointRules::default())?;
/// assert_eq!(subscription.endpoint_origin(), "https://push.example.net");
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WebSubscription {
    endpoint: String,
    origin_len: usize,
    p256dh: [u8; 65],
    auth: [u8; 16],
}

/// The longest endpoint URL accepted, in bytes.
const MAX_ENDPOINT_BYTES: usize = 2048;
/// The largest raw subscription accepted (JSON or its base64), in bytes.
const MAX_RAW_BYTES: usize = 8192;

#[derive(Serialize, Deserialize)]
struct SubscriptionJson<'a> {
    #[serde(borrow)]
    endpoint: std::borrow::Cow<'a, str>,
    keys: KeysJson<'a>,
}

#[derive(Serialize, Deserialize)]
struct KeysJson<'a> {
    #[serde(borrow)]
    p256dh: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    auth: std::borrow::Cow<'a, str>,
}

impl WebSubscription {
    /// Parses a subscription given as JSON or as base64 of JSON.
    pub fn parse(raw: &str, rules: EndpointRules) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ValidationError::new("token", Rule::Empty));
        }
        if raw.len() > MAX_RAW_BYTES {
            return Err(ValidationError::new(
                "token",
                Rule::TooLong {
                    max: MAX_RAW_BYTES,
                    actual: raw.len(),
                },
            ));
        }
        if raw.starts_with('{') {
            return Self::from_json(raw.as_bytes(), rules);
        }
        let json = base64url::decode_any(raw)
            .ok_or_else(|| ValidationError::new("token", Rule::NotBase64))?;
        Self::from_json(&json, rules)
    }

    fn from_json(json: &[u8], rules: EndpointRules) -> Result<Self, ValidationError> {
        let parsed: SubscriptionJson<'_> = serde_json::from_slice(json).map_err(|e| {
            ValidationError::new(
                "token",
                Rule::NotJson {
                    detail: e.to_string(),
                },
            )
        })?;
        Self::from_parts(
            &parsed.endpoint,
            &parsed.keys.p256dh,
            &parsed.keys.auth,
            rules,
        )
    }

    /// Builds a subscription from its three parts, keys in base64url.
    pub fn from_parts(
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        rules: EndpointRules,
    ) -> Result<Self, ValidationError> {
        // Fields are checked in the order they appear in the JSON, endpoint first.
        let origin_len = check_endpoint(endpoint, rules)?;
        let p256dh: [u8; 65] = decode_key("keys.p256dh", p256dh)?;
        let auth: [u8; 16] = decode_key("keys.auth", auth)?;
        Self::assemble(endpoint, origin_len, p256dh, auth)
    }

    /// Builds a subscription from its endpoint and raw key bytes, as a store keeps them.
    pub fn from_bytes(
        endpoint: &str,
        p256dh: &[u8],
        auth: &[u8],
        rules: EndpointRules,
    ) -> Result<Self, ValidationError> {
        let origin_len = check_endpoint(endpoint, rules)?;
        Self::assemble(
            endpoint,
            origin_len,
            exact_length("keys.p256dh", p256dh)?,
            exact_length("keys.auth", auth)?,
        )
    }

    /// The last check both constructors share (the point's form), then the value.
    fn assemble(
        endpoint: &str,
        origin_len: usize,
        p256dh: [u8; 65],
        auth: [u8; 16],
    ) -> Result<Self, ValidationError> {
        if p256dh[0] != 0x04 {
            return Err(ValidationError::new(
                "keys.p256dh",
                Rule::Format {
                    expected: "an uncompressed P-256 point (first byte 0x04)",
                },
            ));
        }
        Ok(WebSubscription {
            endpoint: endpoint.to_owned(),
            origin_len,
            p256dh,
            auth,
        })
    }

    /// The push service URL to POST messages to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint's origin (`scheme://host[:port]`), the `aud` of a VAPID token.
    pub fn endpoint_origin(&self) -> &str {
        &self.endpoint[..self.origin_len]
    }

    /// The endpoint's host, as written (a name, an IPv4 address or `[v6]`), without its port.
    pub fn endpoint_host(&self) -> &str {
        let authority = self
            .endpoint_origin()
            .split_once("://")
            .map_or("", |(_, authority)| authority);
        match authority.rfind(':') {
            // A colon after a `]` (or with none) starts the port.
            Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
            _ => authority,
        }
    }

    /// The browser's P-256 public key, uncompressed (65 bytes).
    pub fn p256dh(&self) -> &[u8; 65] {
        &self.p256dh
    }

    /// The browser's authentication secret (16 bytes).
    pub fn auth(&self) -> &[u8; 16] {
        &self.auth
    }

    /// The subscription as browser `PushSubscription` JSON, keys in unpadded base64url.
    pub fn to_json(&self) -> String {
        let p256dh = base64url::encode(&self.p256dh);
        let auth = base64url::encode(&self.auth);
        let json = SubscriptionJson {
            endpoint: self.endpoint.as_str().into(),
            keys: KeysJson {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        };
        serde_json::to_string(&json).unwrap_or_default()
    }
}

impl fmt::Debug for WebSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The auth secret is the browser's: keep it out of logs.
        f.debug_struct("WebSubscription")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Serialize for WebSubscription {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p256dh = base64url::encode(&self.p256dh);
        let auth = base64url::encode(&self.auth);
        SubscriptionJson {
            endpoint: self.endpoint.as_str().into(),
            keys: KeysJson {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }
        .serialize(serializer)
    }
}

/// Deserializing validates like [`WebSubscription::from_parts`] with loopback http allowed,
/// so subscriptions a store saved under that rule load again.
impl<'de> Deserialize<'de> for WebSubscription {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = SubscriptionJson::deserialize(deserializer)?;
        let rules = EndpointRules::STORED;
        WebSubscription::from_parts(&json.endpoint, &json.keys.p256dh, &json.keys.auth, rules)
            .map_err(serde::de::Error::custom)
    }
}

fn decode_key<const N: usize>(
    field: &'static str,
    value: &str,
) -> Result<[u8; N], ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, Rule::Empty));
    }
    let bytes =
        base64url::decode_any(value).ok_or_else(|| ValidationError::new(field, Rule::NotBase64))?;
    exact_length(field, &bytes)
}

/// `bytes` as an array of exactly `N`, or a `WrongLength` error naming `field`.
fn exact_length<const N: usize>(
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], ValidationError> {
    bytes.try_into().map_err(|_| {
        ValidationError::new(
            field,
            Rule::WrongLength {
                expected: N,
                actual: bytes.len(),
            },
        )
    })
}

/// Checks the endpoint and returns the byte length of its origin.
fn check_endpoint(endpoint: &str, rules: EndpointRules) -> Result<usize, ValidationError> {
    const FIELD: &str = "endpoint";
    let bad_shape = || {
        ValidationError::new(
            FIELD,
            Rule::Format {
                expected: "an absolute URL with a host and no white space",
            },
        )
    };
    if endpoint.is_empty() {
        return Err(ValidationError::new(FIELD, Rule::Empty));
    }
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(ValidationError::new(
            FIELD,
            Rule::TooLong {
                max: MAX_ENDPOINT_BYTES,
                actual: endpoint.len(),
            },
        ));
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad_shape());
    }
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(bad_shape)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if authority.is_empty() || authority.contains('@') {
        return Err(bad_shape());
    }
    let host = host_of(authority)
        .and_then(parse_host)
        .ok_or_else(bad_shape)?;
    let loopback = is_loopback(&host);
    let secure = scheme.eq_ignore_ascii_case("https");
    let loopback_http = scheme.eq_ignore_ascii_case("http") && rules.allow_loopback && loopback;
    if !(secure || loopback_http) {
        return Err(ValidationError::new(FIELD, Rule::InsecureUrl));
    }
    let public = match host {
        Host::Ip(ip) => is_public_address(ip),
        Host::Name(name) => !is_local_name(name),
    };
    let allowed_loopback = loopback && rules.allow_loopback;
    if !(public || allowed_loopback) {
        return Err(ValidationError::new(FIELD, Rule::NonPublicHost));
    }
    Ok(scheme.len() + "://".len() + authority_len)
}

/// The host of `host[:port]` or `[v6][:port]`, if the port (when present) is a number.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&authority[..end + 2], port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        port.parse::<u16>().ok()?;
    }
    let valid_host = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    valid_host.then_some(host)
}

fn is_loopback(host: &Host<'_>) -> bool {
    match host {
        Host::Ip(ip) => is_loopback_address(*ip),
        Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn json(endpoint: &str) -> String {
        format!(
            r#"{{"endpoint":"{endpoint}","expirationTime":null,"keys":{{"p256dh":"{P256DH}","auth":"{AUTH}"}}}}"#
        )
    }

    #[test]
    fn json_and_base64_of_json_give_the_same_subscription() {
        let raw = json("https://fcm.googleapis.com/fcm/send/abc:def");
        let from_json = WebSubscription::parse(&raw, EndpointRules::default()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let from_b64 = WebSubscription::parse(&b64, EndpointRules::default()).unwrap();
        assert_eq!(from_json, from_b64);
        assert_eq!(from_json.endpoint_origin(), "https://fcm.googleapis.com");
        assert_eq!(from_json.auth().len(), 16);
    }

    #[test]
    fn serde_round_trips() {
        let sub = WebSubscription::parse(
            &json("https://push.example:8443/x"),
            EndpointRules::default(),
        )
        .unwrap();
        let again: WebSubscription = serde_json::from_str(&sub.to_json()).unwrap();
        assert_eq!(again, sub);
        assert_eq!(again.endpoint_origin(), "https://push.example:8443");
    }

    #[test]
    fn plain_http_only_for_loopback_when_allowed() {
        let allow = EndpointRules {
            allow_loopback: true,
        };
        for endpoint in [
            "http://127.0.0.1:9000/p",
            "http://localhost/p",
            "http://[::1]:80/p",
        ] {
            assert!(
                WebSubscription::parse(&json(endpoint), allow).is_ok(),
                "{endpoint}"
            );
            let err =
                WebSubscription::parse(&json(endpoint), EndpointRules::default()).unwrap_err();
            assert_eq!(err.rule(), &Rule::InsecureUrl, "{endpoint}");
        }
        let err = WebSubscription::parse(&json("http://10.0.0.1/p"), allow).unwrap_err();
        assert_eq!(err.rule(), &Rule::InsecureUrl);
    }

    #[test]
    fn bad_endpoints_are_refused_with_the_field_named() {
        for endpoint in [
            "",
            "push.example/x",
            "https://",
            "https://user@host/x",
            "https://h:99999/",
            "ftp://h/x",
        ] {
            let err =
                WebSubscription::parse(&json(endpoint), EndpointRules::default()).unwrap_err();
            assert_eq!(err.field(), "endpoint", "{endpoint}");
        }
    }

    #[test]
    fn keys_must_have_their_lengths() {
        let short_key = json("https://push.example.net/x").replace(AUTH, "AAAA");
        let err = WebSubscription::parse(&short_key, EndpointRules::default()).unwrap_err();
        assert_eq!(err.field(), "keys.auth");
        assert_eq!(
            err.rule(),
            &Rule::WrongLength {
                expected: 16,
                actual: 3
            }
        );
        let compressed = json("https://push.example.net/x").replace("BCVx", "AiVx");
        let err = WebSubscription::parse(&compressed, EndpointRules::default()).unwrap_err();
        assert_eq!(err.field(), "keys.p256dh");
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for raw in ["", "{", "!!!!", "e30=", "[1,2]", "{\"endpoint\":1}"] {
            assert!(
                WebSubscription::parse(raw, EndpointRules::default()).is_err(),
                "{raw}"
            );
        }
    }

    #[test]
    fn debug_hides_the_auth_secret() {
        let sub = WebSubscription::parse(
            &json("https://push.example.net/x"),
            EndpointRules::default(),
        )
        .unwrap();
        let shown = format!("{sub:?}");
        assert!(!shown.contains(AUTH), "{shown}");
        // Nor as the bytes a derived `Debug` would print.
        assert!(!shown.contains(&format!("{:?}", sub.auth())), "{shown}");
    }
}
