//! The publish request, to users or to interests, as the Beams publish API reads and writes it.

use std::collections::HashSet;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::{
    Interest, PerPlatform, Platform, PublishTarget, PublishTargetKind, Rule, UserId,
    ValidationError,
};

/// A request to notify users (Beams' `POST …/publishes/users` body) or the devices subscribed
/// to interests (`POST …/publishes/interests`), with a section per platform.
///
/// ```
/// use beams_core::{Platform, PublishRequest, PublishTarget, UserId};
/// use serde_json::json;
///
/// let body = br#"{"users": ["alice", "bob", "alice"],
///                 "apns": {"aps": {"alert": "Hi"}},
///                 "web": {"notification": {"title": "Hi"}}}"#;
/// let request = PublishRequest::from_json(body)?;
/// assert!(matches!(request.target(), PublishTarget::Users(users) if users.len() == 2),
///         "duplicates collapse");
/// assert!(request.section(Platform::Fcm).is_none());
///
/// let built = PublishRequest::to_users([UserId::new("alice")?])?
///     .with_section(Platform::Fcm, json!({"notification": {"title": "Hi"}}))?;
/// assert!(built.section(Platform::Fcm).is_some());
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    target: PublishTarget,
    sections: PerPlatform<Option<Map<String, Value>>>,
    webhook_url: Option<String>,
}

impl PublishRequest {
    /// The most users one publish may target.
    pub const MAX_USERS: usize = PublishTargetKind::Users.max_targets();
    /// The most interests one publish may target.
    pub const MAX_INTERESTS: usize = PublishTargetKind::Interests.max_targets();
    /// The largest publish-to-users body accepted, in bytes.
    pub const MAX_BODY_BYTES: usize = PublishTargetKind::Users.max_body_bytes();
    /// The largest publish-to-interests body accepted, in bytes.
    pub const MAX_INTERESTS_BODY_BYTES: usize = PublishTargetKind::Interests.max_body_bytes();
    /// The longest webhook URL accepted, in bytes.
    pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;

    /// A request to `users` (1 to 1000, duplicates collapsed, first occurrence kept) with no
    /// platform section yet; add one or more with [`with_section`](Self::with_section).
    pub fn to_users(users: impl IntoIterator<Item = UserId>) -> Result<Self, ValidationError> {
        let users = collapse(PublishTargetKind::Users, users.into_iter().collect())?;
        Ok(Self::to(PublishTarget::Users(users)))
    }

    /// A request to the devices subscribed to any of `interests` (1 to 100, duplicates
    /// collapsed) with no platform section yet.
    pub fn to_interests(
        interests: impl IntoIterator<Item = Interest>,
    ) -> Result<Self, ValidationError> {
        let interests = collapse(
            PublishTargetKind::Interests,
            interests.into_iter().collect(),
        )?;
        Ok(Self::to(PublishTarget::Interests(interests)))
    }

    fn to(target: PublishTarget) -> Self {
        PublishRequest {
            target,
            sections: PerPlatform::default(),
            webhook_url: None,
        }
    }

    /// Sets the section for `platform`, which must be a JSON object.
    pub fn with_section(
        mut self,
        platform: Platform,
        section: Value,
    ) -> Result<Self, ValidationError> {
        let Value::Object(section) = section else {
            return Err(not_an_object(platform));
        };
        self.sections[platform] = Some(section);
        Ok(self)
    }

    /// Sets the URL that receives this publish's lifecycle webhooks.
    pub fn with_webhook_url(mut self, url: impl Into<String>) -> Result<Self, ValidationError> {
        self.webhook_url = Some(check_webhook_url(url.into())?);
        Ok(self)
    }

    /// Parses and validates a publish body of `kind`. Every broken rule is a
    /// [`ValidationError`] naming its field: `body` (size, JSON), the target list (`users` or
    /// `interests`: missing, empty, too many, a bad entry), the other kind's list (present), a
    /// section that is not an object, `webhookUrl`, or no section at all.
    pub fn parse(kind: PublishTargetKind, body: &[u8]) -> Result<Self, ValidationError> {
        let mut fields = parse_body(body, kind)?;
        let listed = fields.remove(kind.field());
        let request = match kind {
            PublishTargetKind::Users => Self::to_users(parse_list(kind, listed, UserId::new)?)?,
            PublishTargetKind::Interests => {
                Self::to_interests(parse_list(kind, listed, Interest::new)?)?
            }
        };
        request.with_fields(fields)
    }

    /// Parses and validates a publish-to-users body (`{"users": [...], ...}`, at most
    /// 200 KiB): [`parse`](Self::parse) for [`PublishTargetKind::Users`].
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
        Self::parse(PublishTargetKind::Users, body)
    }

    /// Parses and validates a publish-to-interests body (`{"interests": [...], ...}`, at most
    /// 10 KiB): [`parse`](Self::parse) for [`PublishTargetKind::Interests`].
    pub fn from_interests_json(body: &[u8]) -> Result<Self, ValidationError> {
        Self::parse(PublishTargetKind::Interests, body)
    }

    /// Takes the platform sections and `webhookUrl` from the rest of a body.
    fn with_fields(mut self, mut fields: Map<String, Value>) -> Result<Self, ValidationError> {
        for platform in Platform::ALL {
            if let Some(section) = fields.remove(platform.as_str()) {
                self = self.with_section(platform, section)?;
            }
        }
        match fields.remove("webhookUrl") {
            None | Some(Value::Null) => {}
            Some(Value::String(url)) => self = self.with_webhook_url(url)?,
            Some(_) => {
                return Err(ValidationError::new(
                    "webhookUrl",
                    Rule::Format {
                        expected: "a string",
                    },
                ));
            }
        }
        self.check_has_section()?;
        Ok(self)
    }

    /// Who the publish reaches.
    pub fn target(&self) -> &PublishTarget {
        &self.target
    }

    /// The section for `platform`, if the request has one.
    pub fn section(&self, platform: Platform) -> Option<&Map<String, Value>> {
        self.sections[platform].as_ref()
    }

    /// The webhook URL, if any.
    pub fn webhook_url(&self) -> Option<&str> {
        self.webhook_url.as_deref()
    }

    /// Checks that at least one platform has a section: a publish with none would reach no one.
    pub fn check_has_section(&self) -> Result<(), ValidationError> {
        if self.sections.iter().any(|(_, section)| section.is_some()) {
            Ok(())
        } else {
            Err(ValidationError::new("apns, fcm or web", Rule::Required))
        }
    }
}

/// The request as its JSON body: the target list, the sections present, and `webhookUrl`.
impl Serialize for PublishRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let field = self.target.kind().field();
        match &self.target {
            PublishTarget::Users(users) => map.serialize_entry(field, users)?,
            PublishTarget::Interests(interests) => map.serialize_entry(field, interests)?,
        }
        for (platform, section) in self.sections.iter() {
            if let Some(section) = section {
                map.serialize_entry(platform.as_str(), section)?;
            }
        }
        if let Some(url) = &self.webhook_url {
            map.serialize_entry("webhookUrl", url)?;
        }
        map.end()
    }
}

fn not_an_object(platform: Platform) -> ValidationError {
    ValidationError::new(
        platform.as_str(),
        Rule::Format {
            expected: "a JSON object",
        },
    )
}

/// Checks the size, parses the JSON object, and refuses the field of the other kind of
/// publish: one request targets users or interests, not both.
fn parse_body(body: &[u8], kind: PublishTargetKind) -> Result<Map<String, Value>, ValidationError> {
    let max = kind.max_body_bytes();
    if body.len() > max {
        return Err(ValidationError::new(
            "body",
            Rule::TooLong {
                max,
                actual: body.len(),
            },
        ));
    }
    let fields: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ValidationError::new(
            "body",
            Rule::NotJson {
                detail: e.to_string(),
            },
        )
    })?;
    let forbidden = kind.forbidden_field();
    if fields.contains_key(forbidden) {
        return Err(ValidationError::new(
            forbidden,
            Rule::Format {
                expected: "absent: a publish targets users or interests, not both",
            },
        ));
    }
    Ok(fields)
}

/// The required JSON array of strings that lists a `kind` publish's targets, each validated
/// by `parse`.
fn parse_list<T>(
    kind: PublishTargetKind,
    value: Option<Value>,
    parse: impl Fn(String) -> Result<T, ValidationError>,
) -> Result<Vec<T>, ValidationError> {
    let (field, max) = (kind.field(), kind.max_targets());
    let Some(value) = value else {
        return Err(ValidationError::new(field, Rule::Required));
    };
    let Value::Array(entries) = value else {
        return Err(ValidationError::new(
            field,
            Rule::Format {
                expected: "an array of strings",
            },
        ));
    };
    if entries.len() > max {
        return Err(too_many(field, max, entries.len()));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let entry_error = |rule| {
                ValidationError::new(
                    field,
                    Rule::Entry {
                        index,
                        rule: Box::new(rule),
                    },
                )
            };
            let Value::String(text) = entry else {
                return Err(entry_error(Rule::Format {
                    expected: "a string",
                }));
            };
            parse(text).map_err(|e| entry_error(e.rule().clone()))
        })
        .collect()
}

/// Drops repeats (first occurrence kept) after checking 1 to the kind's most targets.
fn collapse<T: Clone + Eq + std::hash::Hash>(
    kind: PublishTargetKind,
    list: Vec<T>,
) -> Result<Vec<T>, ValidationError> {
    let (field, max) = (kind.field(), kind.max_targets());
    if list.is_empty() {
        return Err(ValidationError::new(field, Rule::Empty));
    }
    if list.len() > max {
        return Err(too_many(field, max, list.len()));
    }
    let mut seen = HashSet::with_capacity(list.len());
    Ok(list
        .into_iter()
        .filter(|x| seen.insert(x.clone()))
        .collect())
}

fn too_many(field: &'static str, max: usize, actual: usize) -> ValidationError {
    ValidationError::new(field, Rule::TooLong { max, actual })
}

fn check_webhook_url(url: String) -> Result<String, ValidationError> {
    if url.len() > PublishRequest::MAX_WEBHOOK_URL_BYTES {
        return Err(ValidationError::new(
            "webhookUrl",
            Rule::TooLong {
                max: PublishRequest::MAX_WEBHOOK_URL_BYTES,
                actual: url.len(),
            },
        ));
    }
    let lower = url.to_ascii_lowercase();
    let absolute = lower.starts_with("https://") || lower.starts_with("http://");
    if !absolute || url.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(
            "webhookUrl",
            Rule::Format {
                expected: "an absolute http(s) URL",
            },
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<PublishRequest, ValidationError> {
        PublishRequest::from_json(body.to_string().as_bytes())
    }

    #[test]
    fn a_full_request_round_trips() {
        let body = json!({
            "users": ["alice", "bob"],
            "apns": {"aps": {"alert": {"title": "Hi"}}},
            "fcm": {"notification": {"title": "Hi"}, "data": {"k": "v"}},
            "web": {"notification": {"title": "Hi", "deep_link": "https://example.com"}},
            "webhookUrl": "https://example.com/hooks"
        });
        let request = parse(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), body);
    }

    #[test]
    fn duplicates_collapse_keeping_first_order() {
        let request = parse(json!({"users": ["b", "a", "b", "a"], "fcm": {}})).unwrap();
        let PublishTarget::Users(users) = request.target() else {
            panic!("a publish to users");
        };
        let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
        assert_eq!(users, ["b", "a"]);
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let ok_section = json!({"notification": {}});
        let cases = [
            (json!({"fcm": ok_section}), "users", Rule::Required),
            (
                json!({"users": [], "fcm": ok_section}),
                "users",
                Rule::Empty,
            ),
            (
                json!({"users": "alice", "fcm": ok_section}),
                "users",
                Rule::Format {
                    expected: "an array of strings",
                },
            ),
            (
                json!({"users": ["alice"]}),
                "apns, fcm or web",
                Rule::Required,
            ),
            (
                json!({"users": ["alice"], "apns": []}),
                "apns",
                Rule::Format {
                    expected: "a JSON object",
                },
            ),
            (
                json!({"users": ["alice"], "web": "hi"}),
                "web",
                Rule::Format {
                    expected: "a JSON object",
                },
            ),
            (
                json!({"users": ["alice"], "fcm": {}, "webhookUrl": 5}),
                "webhookUrl",
                Rule::Format {
                    expected: "a string",
                },
            ),
            (
                json!({"users": ["alice"], "fcm": {}, "webhookUrl": "ftp://x"}),
                "webhookUrl",
                Rule::Format {
                    expected: "an absolute http(s) URL",
                },
            ),
        ];
        for (body, field, rule) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert_eq!((err.field(), err.rule()), (field, &rule), "{body}");
        }
    }

    #[test]
    fn bad_user_entries_are_named_by_index() {
        let long = "x".repeat(165);
        let err = parse(json!({"users": ["ok", long], "fcm": {}})).unwrap_err();
        assert!(
            matches!(err.rule(), Rule::Entry { index: 1, rule } if matches!(**rule, Rule::TooLong { max: 164, actual: 165 }))
        );
        let err = parse(json!({"users": ["ok", "", "x"], "fcm": {}})).unwrap_err();
        assert!(matches!(err.rule(), Rule::Entry { index: 1, rule } if **rule == Rule::Empty));
        let err = parse(json!({"users": ["ok", 7], "fcm": {}})).unwrap_err();
        assert!(matches!(err.rule(), Rule::Entry { index: 1, .. }));
        assert_eq!(err.to_string(), "invalid users: entry 1 must be a string");
    }

    #[test]
    fn user_counts_are_one_to_a_thousand() {
        let users: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        assert_eq!(
            parse(json!({"users": users, "fcm": {}}))
                .unwrap()
                .target()
                .count(),
            1000
        );
        let users: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
        let err = parse(json!({"users": users, "fcm": {}})).unwrap_err();
        assert_eq!(
            err.rule(),
            &Rule::TooLong {
                max: 1000,
                actual: 1001
            }
        );
    }

    #[test]
    fn bodies_must_be_small_json_objects_for_users_only() {
        let err = PublishRequest::from_json(b"not json").unwrap_err();
        assert_eq!(err.field(), "body");
        let err = PublishRequest::from_json(b"[1]").unwrap_err();
        assert_eq!(err.field(), "body");
        let huge = vec![b' '; PublishRequest::MAX_BODY_BYTES + 1];
        assert!(matches!(
            PublishRequest::from_json(&huge).unwrap_err().rule(),
            Rule::TooLong { .. }
        ));
        let err = parse(json!({"users": ["a"], "interests": ["x"], "fcm": {}})).unwrap_err();
        assert_eq!(err.field(), "interests");
    }

    fn parse_interests(body: Value) -> Result<PublishRequest, ValidationError> {
        PublishRequest::from_interests_json(body.to_string().as_bytes())
    }

    #[test]
    fn an_interests_request_round_trips_and_collapses_repeats() {
        let body = json!({"interests": ["news", "sport", "news"], "web": {"notification": {}}});
        let request = parse_interests(body).unwrap();
        let PublishTarget::Interests(interests) = request.target() else {
            panic!("a publish to interests");
        };
        let names: Vec<&str> = interests.iter().map(Interest::as_str).collect();
        assert_eq!(names, ["news", "sport"]);
        assert_eq!(request.target().kind(), PublishTargetKind::Interests);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"interests": ["news", "sport"], "web": {"notification": {}}})
        );
    }

    #[test]
    fn interest_requests_are_refused_part_by_part() {
        let names: Vec<String> = (0..101).map(|i| format!("i{i}")).collect();
        let cases = [
            (
                json!({"interests": [], "fcm": {}}),
                "interests",
                Rule::Empty,
            ),
            (
                json!({"interests": names, "fcm": {}}),
                "interests",
                Rule::TooLong {
                    max: 100,
                    actual: 101,
                },
            ),
            (json!({"fcm": {}}), "interests", Rule::Required),
        ];
        for (body, field, rule) in cases {
            let err = parse_interests(body.clone()).unwrap_err();
            assert_eq!((err.field(), err.rule()), (field, &rule), "{body}");
        }
        for bad in [
            "x".repeat(165),
            "has space".to_owned(),
            String::new(),
            "slash/".to_owned(),
        ] {
            let err = parse_interests(json!({"interests": [bad], "fcm": {}})).unwrap_err();
            assert!(matches!(err.rule(), Rule::Entry { index: 0, .. }), "{err}");
        }
        let err =
            parse_interests(json!({"interests": ["a"], "users": ["u"], "fcm": {}})).unwrap_err();
        assert_eq!(err.field(), "users");
        let big = vec![b' '; PublishRequest::MAX_INTERESTS_BODY_BYTES + 1];
        assert_eq!(
            PublishRequest::from_interests_json(&big)
                .unwrap_err()
                .field(),
            "body"
        );
    }
}
