//! The error every validated value gives when its input breaks a rule.

use std::fmt;

/// Input that breaks a rule: names the field and the rule it broke.
///
/// Every constructor of a validated value (`UserId`, `Interest`, push tokens, …) returns this,
/// and so does deserializing one, so a value that exists has passed its rules.
///
/// ```
/// use beams_core::{Rule, UserId};
///
/// let err = UserId::new("").unwrap_err();
/// assert_eq!(err.field(), "user_id");
/// assert_eq!(err.rule(), &Rule::Empty);
/// assert_eq!(err.to_string(), "invalid user_id: must not be empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct ValidationError {
    field: &'static str,
    rule: Rule,
}

impl ValidationError {
    /// An error for `field` breaking `rule`.
    pub fn new(field: &'static str, rule: Rule) -> Self {
        ValidationError { field, rule }
    }

    /// The field whose value broke the rule, as named in the Beams wire format.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule that was broken.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }
}

/// A rule a value must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// The value is empty.
    Empty,
    /// The value is longer than allowed.
    TooLong {
        /// The most allowed, in the unit the field counts in (characters, bytes, entries).
        max: usize,
        /// What was given, in the same unit.
        actual: usize,
    },
    /// The value is shorter than allowed.
    TooShort {
        /// The fewest allowed, in the unit the field counts in.
        min: usize,
        /// What was given, in the same unit.
        actual: usize,
    },
    /// The value holds a character outside its allowed set.
    ForbiddenCharacter {
        /// The offending character.
        character: char,
        /// Its position, counted in characters from zero.
        position: usize,
        /// The characters that are allowed.
        allowed: &'static str,
    },
    /// The value does not have the expected shape.
    Format {
        /// The shape that was expected.
        expected: &'static str,
    },
    /// The value is not valid base64.
    NotBase64,
    /// The value is not valid JSON of the expected shape.
    NotJson {
        /// What the JSON parser said.
        detail: String,
    },
    /// A decoded value has the wrong length in bytes.
    WrongLength {
        /// The length required.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A URL's scheme is not allowed.
    InsecureUrl,
    /// A URL's host is not on the public internet: loopback, private, link-local, reserved,
    /// or a name that can only be local (`localhost`, a single label, `.local`, …).
    NonPublicHost,
    /// A URL's host is not among the hosts allowed.
    HostNotAllowed,
    /// The field is required and absent.
    Required,
    /// The key is reserved for data beams adds itself (the `pusher` data the client SDKs read).
    Reserved,
    /// The push service would refuse the value; the reason names the field inside it.
    Unsendable {
        /// Why, naming the field and the push service's rule.
        reason: String,
    },
    /// An entry of a list breaks a rule.
    Entry {
        /// Its position in the list, from zero.
        index: usize,
        /// The rule it breaks.
        rule: Box<Rule>,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Empty => f.write_str("must not be empty"),
            Rule::TooLong { max, actual } => write!(f, "must be at most {max} long, got {actual}"),
            Rule::TooShort { min, actual } => {
                write!(f, "must be at least {min} long, got {actual}")
            }
            Rule::ForbiddenCharacter {
                character,
                position,
                allowed,
            } => write!(
                f,
                "character {character:?} at position {position} is not allowed (allowed: {allowed})"
            ),
            Rule::Format { expected } => write!(f, "must be {expected}"),
            Rule::NotBase64 => f.write_str("must be valid base64"),
            Rule::NotJson { detail } => write!(f, "must be valid JSON: {detail}"),
            Rule::WrongLength { expected, actual } => {
                write!(f, "must decode to {expected} bytes, got {actual}")
            }
            Rule::Required => f.write_str("is required"),
            Rule::Reserved => {
                f.write_str("is reserved for the data the client SDKs read; use another key")
            }
            Rule::Unsendable { reason } => {
                write!(f, "would be refused by the push service: {reason}")
            }
            Rule::Entry { index, rule } => write!(f, "entry {index} {rule}"),
            Rule::InsecureUrl => f.write_str(
                "must be an https URL (plain http only for a loopback host when allowed)",
            ),
            Rule::NonPublicHost => f.write_str(
                "must name a host on the public internet (not loopback, private, link-local, \
                 reserved, or a local name such as localhost)",
            ),
            Rule::HostNotAllowed => f.write_str("must be on one of the allowed hosts"),
        }
    }
}
