//! Web Push subscriptions and the endpoints they name.
//!
//! An endpoint is where the server will send requests, so its host must be on the public
//! internet in whatever spelling it comes. The endpoints here are built on [`hosts`], whose
//! hosts know the address they spell, so the checks hold the verdict to
//! [`is_public_address`] of the address meant, not of the text.

use std::net::{IpAddr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use beams_core::{EndpointRules, Rule, ValidationError, WebSubscription, is_public_address};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::json;

use super::hosts::{self, Host, HostMeaning};
use super::json::any_json;
use super::text::{any_bytes, any_text, mutated, text_of};

/// An endpoint URL built from known parts.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The scheme (`https`, `HTTPS`, `http`, `ftp`, or none).
    pub scheme: &'static str,
    /// A `user@` before the host, which no push service URL has.
    pub userinfo: bool,
    /// The host.
    pub host: Host,
    /// The port after a `:`, as written, when there is one.
    pub port: Option<String>,
    /// The path, query or fragment after the authority.
    pub rest: String,
}

impl Endpoint {
    /// The URL.
    pub fn url(&self) -> String {
        let userinfo = if self.userinfo { "user@" } else { "" };
        let port = self
            .port
            .as_ref()
            .map_or(String::new(), |port| format!(":{port}"));
        format!(
            "{}://{userinfo}{}{port}{}",
            self.scheme, self.host.spelled, self.rest
        )
    }

    /// The origin a subscription to this endpoint reports.
    pub fn origin(&self) -> String {
        let url = self.url();
        url[..url.len() - self.rest.len()].to_owned()
    }

    /// The rule the endpoint breaks under `rules`, or `None` when it must be accepted.
    pub fn broken_rule(&self, rules: EndpointRules) -> Option<Rule> {
        let port_ok = self
            .port
            .as_ref()
            .is_none_or(|port| port.parse::<u16>().is_ok());
        if self.userinfo || !port_ok {
            return Some(Rule::Format {
                expected: "an absolute URL with a host and no white space",
            });
        }
        let loopback = self.host.is_loopback() && rules.allow_loopback;
        let secure = self.scheme.eq_ignore_ascii_case("https");
        let loopback_http = self.scheme.eq_ignore_ascii_case("http") && loopback;
        if !(secure || loopback_http) {
            return Some(Rule::InsecureUrl);
        }
        (!(self.host.is_public() || loopback)).then_some(Rule::NonPublicHost)
    }
}

/// Endpoints of every host spelling, mostly https, with ports and paths.
pub fn endpoint() -> impl Strategy<Value = Endpoint> {
    let scheme =
        proptest::sample::select(&["https", "https", "https", "HTTPS", "http", "ftp", ""][..]);
    let port = prop_oneof![
        4 => Just(None),
        2 => any::<u16>().prop_map(|port| Some(port.to_string())),
        1 => proptest::sample::select(&["", "99999", "-1", "44 3", "0x1bb"][..])
            .prop_map(|port| Some(port.to_owned())),
    ];
    let rest = prop_oneof![
        Just(String::new()),
        Just("/".to_owned()),
        text_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-",
            0..=40
        )
        .prop_map(|token| format!("/fcm/send/{token}")),
        Just("?q=1".to_owned()),
        Just("#fragment".to_owned()),
    ];
    (
        scheme,
        proptest::bool::weighted(0.05),
        hosts::host(),
        port,
        rest,
    )
        .prop_map(|(scheme, userinfo, host, port, rest)| Endpoint {
            scheme,
            userinfo,
            host,
            port,
            rest,
        })
}

/// A browser's keys: a 65-byte uncompressed point (first byte 4) and a 16-byte secret.
pub fn keys() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec(any::<u8>(), 64),
        proptest::collection::vec(any::<u8>(), 16),
    )
        .prop_map(|(point, auth)| {
            let mut p256dh = vec![4];
            p256dh.extend(point);
            (p256dh, auth)
        })
}

/// Keys as bytes: mostly valid, sometimes of another length or a compressed point.
pub fn key_bytes() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    prop_oneof![
        4 => keys(),
        1 => (any_bytes(70), any_bytes(20)),
    ]
}

/// `bytes` in one of the four base64 forms clients use.
fn encode(bytes: &[u8], form: u8) -> String {
    match form % 4 {
        0 => URL_SAFE_NO_PAD.encode(bytes),
        1 => URL_SAFE.encode(bytes),
        2 => STANDARD.encode(bytes),
        _ => STANDARD_NO_PAD.encode(bytes),
    }
}

/// A subscription's JSON, as a browser's `PushSubscription` gives it.
pub fn subscription_json(endpoint: &str, p256dh: &str, auth: &str) -> String {
    json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {"p256dh": p256dh, "auth": auth},
    })
    .to_string()
}

/// Subscription text as clients register it: JSON of a generated endpoint and keys, the
/// base64 of such JSON, either edited, and arbitrary text or JSON.
pub fn subscription_text() -> BoxedStrategy<String> {
    let built = (
        endpoint(),
        key_bytes(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(endpoint, (p256dh, auth), key_form, outer_form, base64)| {
            let json = subscription_json(
                &endpoint.url(),
                &encode(&p256dh, key_form),
                &encode(&auth, key_form),
            );
            if base64 {
                encode(json.as_bytes(), outer_form)
            } else {
                json
            }
        })
        .boxed();
    prop_oneof![
        4 => built.clone(),
        2 => mutated(built),
        1 => any_text(200),
        1 => any_json(3).prop_map(|value| value.to_string()),
    ]
    .boxed()
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Whether `rule` is the same kind of rule as `expected` (their texts may differ).
fn same_rule(rule: &Rule, expected: &Rule) -> bool {
    std::mem::discriminant(rule) == std::mem::discriminant(expected)
}

/// An endpoint is accepted exactly when its host is public (loopback too, over http as well,
/// when the rules allow loopback), in whatever spelling; an accepted subscription reports the
/// endpoint, origin and host as written, and is the same from JSON, from base64 of JSON and
/// from its bytes.
pub fn check_endpoint(endpoint: &Endpoint, (p256dh, auth): &(Vec<u8>, Vec<u8>)) -> TestCaseResult {
    let url = endpoint.url();
    // The generator's own spellings are read by `std` as the address it meant.
    if let HostMeaning::Address { ip, .. } = endpoint.host.meaning {
        if let IpAddr::V6(v6) = ip {
            let inner = endpoint
                .host
                .spelled
                .trim_start_matches('[')
                .trim_end_matches(']');
            prop_assert_eq!(inner.parse::<Ipv6Addr>(), Ok(v6));
        } else {
            // Dotted decimal without leading zeros is the one spelling `std` reads too.
            let parts: Vec<&str> = endpoint.host.spelled.split('.').collect();
            let dotted_decimal = parts.len() == 4
                && parts.iter().all(|part| {
                    !part.is_empty()
                        && part.bytes().all(|b| b.is_ascii_digit())
                        && (part.len() == 1 || !part.starts_with('0'))
                });
            if dotted_decimal {
                prop_assert_eq!(endpoint.host.spelled.parse::<IpAddr>(), Ok(ip));
            }
        }
    }
    let (p256dh_text, auth_text) = (URL_SAFE_NO_PAD.encode(p256dh), URL_SAFE_NO_PAD.encode(auth));
    for rules in [
        EndpointRules::default(),
        EndpointRules {
            allow_loopback: true,
        },
    ] {
        let parsed = WebSubscription::from_parts(&url, &p256dh_text, &auth_text, rules);
        match (&parsed, endpoint.broken_rule(rules)) {
            (Ok(subscription), None) => {
                prop_assert_eq!(subscription.endpoint(), url.as_str());
                prop_assert_eq!(subscription.endpoint_origin(), endpoint.origin());
                prop_assert_eq!(subscription.endpoint_host(), endpoint.host.spelled.as_str());
                if let HostMeaning::Address {
                    embeds: Some(v4), ..
                } = endpoint.host.meaning
                {
                    prop_assert!(
                        is_public_address(IpAddr::V4(v4))
                            || (rules.allow_loopback && v4.is_loopback()),
                        "{url} carries {v4}, which is not public"
                    );
                }
            }
            (Err(error), Some(rule)) => {
                prop_assert_eq!(error.field(), "endpoint");
                prop_assert!(
                    same_rule(error.rule(), &rule),
                    "{url}: {error}, expected {rule}"
                );
            }
            (got, expected) => {
                return Err(fail(format!(
                    "{url} under {rules:?}: got {got:?}, expected rule {expected:?}"
                )));
            }
        }
        let json = subscription_json(&url, &p256dh_text, &auth_text);
        prop_assert_eq!(&WebSubscription::parse(&json, rules), &parsed);
        prop_assert_eq!(
            &WebSubscription::parse(&STANDARD.encode(&json), rules),
            &parsed
        );
        prop_assert_eq!(
            &WebSubscription::from_bytes(&url, p256dh, auth, rules),
            &parsed
        );
    }
    Ok(())
}

/// Keys as bytes are accepted exactly when base64 of them is: a 65-byte point starting with
/// 4 and a 16-byte secret, kept as given.
pub fn check_key_bytes(endpoint: &Endpoint, (p256dh, auth): &(Vec<u8>, Vec<u8>)) -> TestCaseResult {
    let rules = EndpointRules::default();
    let url = endpoint.url();
    let from_bytes = WebSubscription::from_bytes(&url, p256dh, auth, rules);
    let from_text = WebSubscription::from_parts(
        &url,
        &URL_SAFE_NO_PAD.encode(p256dh),
        &URL_SAFE_NO_PAD.encode(auth),
        rules,
    );
    prop_assert_eq!(
        from_bytes.is_ok(),
        from_text.is_ok(),
        "{:?} {:?}",
        from_bytes,
        from_text
    );
    if let Ok(subscription) = from_bytes {
        prop_assert_eq!(subscription.p256dh().as_slice(), p256dh.as_slice());
        prop_assert_eq!(subscription.auth().as_slice(), auth.as_slice());
        prop_assert_eq!(Ok(subscription), from_text.clone());
    }
    let valid_keys = p256dh.len() == 65 && p256dh.first() == Some(&4) && auth.len() == 16;
    if endpoint.broken_rule(rules).is_none() {
        prop_assert_eq!(from_text.is_ok(), valid_keys);
    }
    Ok(())
}

/// Any subscription text is accepted or refused with the field named; an accepted one is on
/// a public host (a host `std` reads as an address passes [`is_public_address`]), is no
/// longer refused when loopback is allowed, and is the same again from its JSON, from base64
/// of its JSON, from its bytes and through serde.
pub fn check_subscription(text: &str) -> TestCaseResult {
    let rules = EndpointRules::default();
    let subscription = match WebSubscription::parse(text, rules) {
        Ok(subscription) => subscription,
        Err(error) => {
            let fields = ["token", "endpoint", "keys.p256dh", "keys.auth"];
            prop_assert!(fields.contains(&error.field()), "{error}");
            return Ok(());
        }
    };
    let endpoint = subscription.endpoint();
    prop_assert!(
        endpoint
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    );
    prop_assert!(endpoint.starts_with(subscription.endpoint_origin()));
    let host = subscription.endpoint_host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.strip_suffix('.').unwrap_or(bare).parse::<IpAddr>() {
        prop_assert!(is_public_address(ip), "{host} accepted");
    }
    let again: Result<WebSubscription, ValidationError> =
        WebSubscription::parse(&subscription.to_json(), rules);
    prop_assert_eq!(again, Ok(subscription.clone()));
    prop_assert_eq!(
        WebSubscription::parse(&STANDARD.encode(subscription.to_json()), rules),
        Ok(subscription.clone())
    );
    prop_assert_eq!(
        WebSubscription::from_bytes(endpoint, subscription.p256dh(), subscription.auth(), rules),
        Ok(subscription.clone())
    );
    let allow_loopback = EndpointRules {
        allow_loopback: true,
    };
    prop_assert_eq!(
        WebSubscription::parse(text, allow_loopback),
        Ok(subscription.clone())
    );
    let json = serde_json::to_string(&subscription).map_err(fail)?;
    prop_assert_eq!(
        serde_json::from_str::<WebSubscription>(&json).map_err(fail)?,
        subscription
    );
    Ok(())
}
