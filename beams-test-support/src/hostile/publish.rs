//! Publish bodies, to users and to interests, as the publish API receives them.

use std::collections::HashSet;

use beams_core::{
    InstanceId, Interest, Payload, Platform, PublishId, PublishRequest, PublishTarget,
    PublishTargetKind, Rule, UserId,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Value, json};

use super::ids::{interest_text, user_id, user_id_text};
use super::json::{any_json, any_object, deeply_nested, json_bytes, scalar};
use super::text::{any_text, mutated, text_of};

/// Either kind of publish.
pub fn kind() -> impl Strategy<Value = PublishTargetKind> {
    prop_oneof![
        Just(PublishTargetKind::Users),
        Just(PublishTargetKind::Interests)
    ]
}

/// A webhook URL field: valid URLs, near ones, other JSON.
fn webhook_url() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => text_of("abcdefghijklmnopqrstuvwxyz0123456789/.-", 1..=40)
            .prop_map(|path| Value::String(format!("https://hooks.example.com/{path}"))),
        1 => Just(Value::String(format!("http://{}", "h".repeat(PublishRequest::MAX_WEBHOOK_URL_BYTES)))),
        2 => any_text(30).prop_map(Value::String),
        1 => scalar(),
    ]
}

/// A list of targets: entries valid or not, strings or not, sometimes more than allowed.
fn target_list(kind: PublishTargetKind) -> BoxedStrategy<Value> {
    let entry = match kind {
        PublishTargetKind::Users => user_id_text(),
        PublishTargetKind::Interests => interest_text(),
    };
    let entry = prop_oneof![8 => entry.prop_map(Value::String), 1 => scalar()];
    let max = kind.max_targets();
    prop_oneof![
        6 => proptest::collection::vec(entry.clone(), 0..=8).prop_map(Value::Array),
        1 => (max - 1..=max + 1).prop_map(move |len| {
            Value::Array((0..len).map(|i| Value::String(format!("t{}", i % (max / 2)))).collect())
        }),
        1 => scalar(),
    ]
    .boxed()
}

/// The keys the platform sections know, and a few near them.
const SECTION_KEYS: [&str; 16] = [
    "aps",
    "data",
    "notification",
    "collapse_id",
    "expiration",
    "priority",
    "time_to_live",
    "collapse_key",
    "apns-headers",
    "urgency",
    "topic",
    "android",
    "pusher",
    "token",
    "Data",
    "priority ",
];

/// A `data` object: string values or not, sometimes the reserved `pusher` key.
fn data_object() -> impl Strategy<Value = Value> {
    let value = prop_oneof![3 => any_text(20).prop_map(Value::String), 1 => any_json(1)];
    let key = prop_oneof![4 => any_text(8), 1 => Just("pusher".to_owned())];
    proptest::collection::btree_map(key, value, 0..4)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// A platform section made of the keys the sections know, with values of any type (`data`
/// mostly an object, `notification` mostly one of short strings).
fn platform_section() -> BoxedStrategy<Value> {
    let value = prop_oneof![
        2 => data_object(),
        1 => any_text(70).prop_map(Value::String),
        1 => (0_u64..2_000_000_000).prop_map(Value::from),
        1 => any_json(2),
    ];
    proptest::collection::btree_map(proptest::sample::select(&SECTION_KEYS[..]), value, 0..6)
        .prop_map(|entries| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), value))
                    .collect(),
            )
        })
        .boxed()
}

/// A publish body shaped like the real ones: the target list (or not), the other kind's list
/// (rarely), sections that are objects or not, a webhook URL, and unknown fields.
pub fn shaped_body(kind: PublishTargetKind) -> BoxedStrategy<Value> {
    let other = match kind {
        PublishTargetKind::Users => PublishTargetKind::Interests,
        PublishTargetKind::Interests => PublishTargetKind::Users,
    };
    let section = prop_oneof![
        3 => platform_section(),
        2 => any_object(3).prop_map(Value::Object),
        1 => any_json(2),
    ];
    (
        proptest::option::weighted(0.9, target_list(kind)),
        proptest::option::weighted(0.05, target_list(other)),
        [
            proptest::option::weighted(0.5, section.clone()),
            proptest::option::weighted(0.5, section.clone()),
            proptest::option::weighted(0.5, section),
        ],
        proptest::option::weighted(0.3, webhook_url()),
        any_object(1),
    )
        .prop_map(move |(list, other_list, sections, webhook, mut fields)| {
            let mut set = |name: &str, value: Option<Value>| {
                if let Some(value) = value {
                    fields.insert(name.to_owned(), value);
                }
            };
            set(kind.field(), list);
            set(other.field(), other_list);
            for (platform, section) in Platform::ALL.into_iter().zip(sections) {
                set(platform.as_str(), section);
            }
            set("webhookUrl", webhook);
            Value::Object(fields)
        })
        .boxed()
}

/// A publish body of `kind` as bytes: shaped bodies, edits of them, any JSON, any bytes, deep
/// nesting, and bodies over the size limit.
pub fn body(kind: PublishTargetKind) -> BoxedStrategy<Vec<u8>> {
    let shaped = shaped_body(kind).prop_map(|body| body.to_string());
    let max = kind.max_body_bytes();
    prop_oneof![
        6 => shaped.clone().prop_map(String::into_bytes),
        2 => mutated(shaped.clone()).prop_map(String::into_bytes),
        2 => json_bytes(),
        1 => deeply_nested(),
        1 => (shaped, max - 8..=max + 8).prop_map(|(body, len)| {
            // Spaces are JSON white space: the body is as valid as before, and `len` long
            // when it was shorter.
            let mut bytes = body.into_bytes();
            bytes.resize(len.max(bytes.len()), b' ');
            bytes
        }),
    ]
    .boxed()
}

/// A kind and a body of that kind.
pub fn publish() -> impl Strategy<Value = (PublishTargetKind, Vec<u8>)> {
    kind().prop_flat_map(|kind| (Just(kind), body(kind)))
}

/// A request built through the public constructors: valid by construction.
pub fn built_request() -> impl Strategy<Value = PublishRequest> {
    let users = proptest::collection::vec(user_id(), 1..=20);
    let interests = proptest::collection::vec(
        text_of("abcdefghijklmnopqrstuvwxyz0123456789_-=@,.;", 1..=30),
        1..=20,
    );
    let target = prop_oneof![
        users.prop_map(|users| {
            let users = users.into_iter().filter_map(|u| UserId::new(u).ok());
            PublishRequest::to_users(users)
        }),
        interests.prop_map(|names| {
            let names = names.into_iter().filter_map(|n| Interest::new(n).ok());
            PublishRequest::to_interests(names)
        }),
    ];
    let sections = [
        proptest::option::of(any_object(3)),
        proptest::option::of(any_object(3)),
        proptest::option::of(any_object(3)),
    ];
    let webhook = proptest::option::of(text_of("abcdefghijklmnopqrstuvwxyz/.", 1..=30));
    (target, sections, webhook).prop_filter_map(
        "a request needs a section",
        |(request, sections, webhook)| {
            let mut request = request.ok()?;
            for (platform, section) in Platform::ALL.into_iter().zip(sections) {
                if let Some(section) = section {
                    request = request
                        .with_section(platform, Value::Object(section))
                        .ok()?;
                }
            }
            if let Some(path) = webhook {
                request = request
                    .with_webhook_url(format!("https://hooks.example.com/{path}"))
                    .ok()?;
            }
            request.check_has_section().ok()?;
            Some(request)
        },
    )
}

/// The fields a refusal may name.
const FIELDS: &[&str] = &[
    "body",
    "users",
    "interests",
    "apns",
    "fcm",
    "web",
    "webhookUrl",
    "apns, fcm or web",
];

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Any body is a request of its kind or a refusal naming a field of the body; a body over the
/// size limit is refused as such; an accepted request targets 1 to the kind's most targets,
/// each once, has a section, and reads back from its own JSON unchanged.
pub fn check_publish(kind: PublishTargetKind, body: &[u8]) -> TestCaseResult {
    let max = kind.max_body_bytes();
    let request = match PublishRequest::parse(kind, body) {
        Ok(request) => request,
        Err(error) => return super::check_body_refusal(&error, FIELDS, body, max),
    };
    prop_assert!(body.len() <= max);
    prop_assert_eq!(request.target().kind(), kind);
    let count = request.target().count();
    prop_assert!((1..=kind.max_targets()).contains(&count), "{count} targets");
    let distinct = match request.target() {
        PublishTarget::Users(users) => users.iter().map(UserId::as_str).collect::<HashSet<_>>(),
        PublishTarget::Interests(names) => {
            names.iter().map(Interest::as_str).collect::<HashSet<_>>()
        }
    };
    prop_assert_eq!(distinct.len(), count, "targets repeat");
    prop_assert!(request.check_has_section().is_ok());
    if let Some(url) = request.webhook_url() {
        let lower = url.to_ascii_lowercase();
        prop_assert!(lower.starts_with("https://") || lower.starts_with("http://"));
        prop_assert!(url.len() <= PublishRequest::MAX_WEBHOOK_URL_BYTES);
    }
    check_payloads(&request)?;
    let json = serde_json::to_vec(&request).map_err(fail)?;
    // Writing may lengthen a body (`1e2` becomes `100.0`); only one that still fits must
    // read back.
    if json.len() <= max {
        prop_assert_eq!(PublishRequest::parse(kind, &json), Ok(request));
    }
    Ok(())
}

/// Each section becomes its platform's payload with the `pusher` data, or is refused naming a
/// field of that section; a payload is then accepted or refused by its gateway's check with a
/// reason that names a field of the same section — never a panic.
fn check_payloads(request: &PublishRequest) -> TestCaseResult {
    let instance = InstanceId::new("00000000-0000-0000-0000-000000000000").map_err(fail)?;
    let publish_id = PublishId::generate();
    for platform in Platform::ALL {
        let Some(section) = request.section(platform) else {
            continue;
        };
        let name = platform.as_str();
        let payload = match Payload::for_publish(platform, &instance, &publish_id, section) {
            Ok(payload) => payload,
            Err(error) => {
                prop_assert!(error.field().starts_with(name), "{error}");
                continue;
            }
        };
        prop_assert!(payload.body["data"].get("pusher").is_some());
        if let Err(reason) = beams_push::fuzzing::check_payload(&payload) {
            prop_assert!(reason.starts_with(name), "{name}: {reason}");
        }
    }
    Ok(())
}

/// A request built through the constructors reads back from its JSON unchanged, sections and
/// webhook included.
pub fn check_built_request(request: &PublishRequest) -> TestCaseResult {
    let kind = request.target().kind();
    let json = serde_json::to_value(request).map_err(fail)?;
    let Value::Object(fields) = &json else {
        return Err(fail(format!("not an object: {json}")));
    };
    prop_assert!(fields.contains_key(kind.field()));
    let bytes = json.to_string().into_bytes();
    prop_assert_eq!(PublishRequest::parse(kind, &bytes), Ok(request.clone()));
    Ok(())
}

/// A body with `users` of `count` copies of one id: the list collapses to one user when
/// `count` is within the limit, and is refused as too long beyond it, however long.
pub fn check_long_user_list(count: usize) -> TestCaseResult {
    let body = json!({"users": vec!["same"; count], "fcm": {}}).to_string();
    let parsed = PublishRequest::from_json(body.as_bytes());
    let max = PublishRequest::MAX_USERS;
    match parsed {
        Ok(request) => {
            prop_assert!((1..=max).contains(&count));
            prop_assert_eq!(request.target().count(), 1);
        }
        Err(error) if count == 0 => prop_assert_eq!(error.rule(), &Rule::Empty),
        Err(error) if body.len() > PublishRequest::MAX_BODY_BYTES => {
            prop_assert_eq!(error.field(), "body");
        }
        Err(error) => {
            prop_assert!(count > max, "{count}: {error}");
            prop_assert_eq!(error.rule(), &Rule::TooLong { max, actual: count });
        }
    }
    Ok(())
}

/// Counts of entries for a user list: around the limit, and far past it.
pub fn user_list_length() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        PublishRequest::MAX_USERS - 2..=PublishRequest::MAX_USERS + 2,
        0..30_000_usize,
    ]
}
