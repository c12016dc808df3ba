//! Validated names and ids: user ids, interest names, instance ids, secret keys, device ids,
//! platforms and device metadata.
//!
//! Each check holds the value to its documented rule, written out again here: the value is
//! accepted exactly when the rule allows it, a refusal names the field and the first broken
//! rule, and an accepted value reads back, parses again and survives JSON unchanged.

use std::collections::BTreeMap;
use std::fmt::Debug;

use beams_core::{
    DeviceId, DeviceMetadata, InstanceId, Interest, Platform, Rule, SecretKey, UserId,
    ValidationError,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::text::{any_char, any_text, around, text_of};

/// The characters of an interest name.
pub const INTEREST_ALPHABET: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=@,.;";
/// The characters of an instance id.
pub const INSTANCE_ALPHABET: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";

/// Valid user ids: 1 to 164 characters of any kind.
pub fn user_id() -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(any_char(), 1..=UserId::MAX_CHARS).prop_map(String::from_iter)
}

/// Text to read as a user id: valid ones, near ones, lengths around the limit, any text.
pub fn user_id_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => around(user_id(), 200),
        1 => (UserId::MAX_CHARS - 1..=UserId::MAX_CHARS + 2, any_char())
            .prop_map(|(len, c)| c.to_string().repeat(len)),
    ]
    .boxed()
}

/// Text to read as an interest name.
pub fn interest_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => around(text_of(INTEREST_ALPHABET, 1..=Interest::MAX_CHARS), 200),
        1 => text_of(INTEREST_ALPHABET, Interest::MAX_CHARS - 1..=Interest::MAX_CHARS + 2),
    ]
    .boxed()
}

/// Text to read as an instance id: UUIDs, other names of its alphabet, near ones, any text.
pub fn instance_id_text() -> BoxedStrategy<String> {
    let valid = prop_oneof![
        uuid(),
        text_of(INSTANCE_ALPHABET, 1..=InstanceId::MAX_CHARS)
    ];
    around(valid, 80)
}

/// Text to read as a secret key: visible ASCII, near it, any text.
pub fn secret_key_text() -> BoxedStrategy<String> {
    let visible =
        proptest::collection::vec(proptest::char::range('!', '~'), 1..=SecretKey::MAX_CHARS)
            .prop_map(String::from_iter);
    around(visible, 600)
}

/// A lowercase hyphenated UUID, of any version.
pub fn uuid() -> impl Strategy<Value = String> + Clone {
    any::<u128>().prop_map(|bits| {
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// Any platform.
pub fn platform() -> impl Strategy<Value = Platform> + Clone {
    proptest::sample::select(Platform::ALL.to_vec())
}

/// Valid device ids: generated ones, and a platform with any lowercase UUID.
pub fn device_id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        platform().prop_map(|platform| DeviceId::generate(platform).as_str().to_owned()),
        (platform(), uuid()).prop_map(|(platform, uuid)| format!("{platform}-{uuid}")),
    ]
}

/// Text to read as a device id.
pub fn device_id_text() -> BoxedStrategy<String> {
    around(device_id(), 60)
}

/// Text to read as a platform name.
pub fn platform_text() -> BoxedStrategy<String> {
    around(platform().prop_map(|platform| platform.to_string()), 8)
}

/// Metadata pairs as a client sends them: mostly within the limits, sometimes past them.
pub fn metadata_pairs() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = prop_oneof![
        8 => any_text(DeviceMetadata::MAX_KEY_CHARS),
        1 => any_text(DeviceMetadata::MAX_KEY_CHARS + 4),
    ];
    let value = prop_oneof![
        8 => any_text(40),
        1 => (DeviceMetadata::MAX_VALUE_CHARS - 1..=DeviceMetadata::MAX_VALUE_CHARS + 1)
            .prop_map(|len| "v".repeat(len)),
    ];
    proptest::collection::btree_map(key, value, 0..=DeviceMetadata::MAX_ENTRIES + 2)
}

/// The rule `text` breaks as a field of 1 to `max` characters that `allowed` admits, in the
/// order the checks run (empty, then the first character not admitted, then the length), or
/// `None` when it breaks none.
pub fn broken_rule(
    text: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    allowed_description: &'static str,
) -> Option<Rule> {
    if text.is_empty() {
        return Some(Rule::Empty);
    }
    if let Some((position, character)) = text.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Some(Rule::ForbiddenCharacter {
            character,
            position,
            allowed: allowed_description,
        });
    }
    let actual = text.chars().count();
    (actual > max).then_some(Rule::TooLong { max, actual })
}

/// What a validated string type offers, for the checks they share.
trait ValidatedText: Sized + Clone + PartialEq + Debug + Serialize + DeserializeOwned {
    fn validate(text: &str) -> Result<Self, ValidationError>;
    fn text(&self) -> &str;
}

macro_rules! validated_text {
    ($($name:ident),*) => {$(
        impl ValidatedText for $name {
            fn validate(text: &str) -> Result<Self, ValidationError> {
                $name::new(text)
            }
            fn text(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}

validated_text!(UserId, Interest, InstanceId);

/// The shared properties: accepted exactly when `expected` is `None`, refused with `field`
/// and the expected rule otherwise; an accepted value reads back as `text`, parses again to
/// itself, and round-trips through JSON; a refused one is refused from JSON too.
fn check_validated<T: ValidatedText>(
    text: &str,
    field: &str,
    expected: Option<Rule>,
) -> TestCaseResult {
    let parsed = T::validate(text);
    let from_json = serde_json::from_value::<T>(serde_json::Value::String(text.to_owned()));
    match (parsed, expected) {
        (Ok(value), None) => {
            prop_assert_eq!(value.text(), text);
            prop_assert_eq!(T::validate(value.text()), Ok(value.clone()));
            let json = serde_json::to_string(&value).map_err(fail)?;
            prop_assert_eq!(
                serde_json::from_str::<T>(&json).map_err(fail)?,
                value.clone()
            );
            prop_assert_eq!(from_json.map_err(fail)?, value);
        }
        (Err(error), Some(rule)) => {
            prop_assert_eq!(error.field(), field);
            prop_assert_eq!(error.rule(), &rule);
            prop_assert!(from_json.is_err(), "JSON accepted what `new` refused");
        }
        (got, expected) => {
            return Err(fail(format!(
                "{text:?}: got {got:?}, expected rule {expected:?}"
            )));
        }
    }
    Ok(())
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// A user id is 1 to 164 characters of any kind, counted as `char`s.
pub fn check_user_id(text: &str) -> TestCaseResult {
    let expected = broken_rule(text, UserId::MAX_CHARS, |_| true, "any character");
    check_validated::<UserId>(text, "user_id", expected)
}

/// An interest name is 1 to 164 characters of `A-Z a-z 0-9 _ - = @ , . ;`.
pub fn check_interest(text: &str) -> TestCaseResult {
    let allowed = |c: char| INTEREST_ALPHABET.contains(c);
    let expected = broken_rule(
        text,
        Interest::MAX_CHARS,
        allowed,
        "A-Z a-z 0-9 _ - = @ , . ;",
    );
    check_validated::<Interest>(text, "interest", expected)
}

/// An instance id is 1 to 64 characters of `A-Z a-z 0-9 -`, and names its token issuer.
pub fn check_instance_id(text: &str) -> TestCaseResult {
    let allowed = |c: char| INSTANCE_ALPHABET.contains(c);
    let expected = broken_rule(text, InstanceId::MAX_CHARS, allowed, "A-Z a-z 0-9 -");
    check_validated::<InstanceId>(text, "instance_id", expected)?;
    if let Ok(instance) = InstanceId::new(text) {
        prop_assert_eq!(
            instance.token_issuer(),
            format!("https://{text}.pushnotifications.pusher.com")
        );
    }
    Ok(())
}

/// A secret key is 1 to 512 visible ASCII characters, matches itself and nothing else.
pub fn check_secret_key(text: &str) -> TestCaseResult {
    let expected = broken_rule(
        text,
        SecretKey::MAX_CHARS,
        |c| c.is_ascii_graphic(),
        "visible ASCII, no white space",
    );
    match (SecretKey::new(text), expected) {
        (Ok(key), None) => {
            let longer = format!("{text}x");
            prop_assert!(key.matches(text));
            prop_assert!(!key.matches(&longer));
            prop_assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
        }
        (Err(error), Some(rule)) => {
            prop_assert_eq!(error.field(), "secret_key");
            prop_assert_eq!(error.rule(), &rule);
        }
        (got, expected) => {
            return Err(fail(format!(
                "{text:?}: got {got:?}, expected rule {expected:?}"
            )));
        }
    }
    Ok(())
}

/// Whether `text` has the one spelling of a device id: `apns`, `fcm` or `web`, a dash, and a
/// lowercase hyphenated UUID.
pub fn is_device_id(text: &str) -> bool {
    let Some((platform, uuid)) = text.split_once('-') else {
        return false;
    };
    let dashes = [8, 13, 18, 23];
    ["apns", "fcm", "web"].contains(&platform)
        && uuid.len() == 36
        && uuid.char_indices().all(|(at, c)| {
            if dashes.contains(&at) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        })
}

/// A device id is accepted exactly in its one spelling; it names its platform, parses again
/// to itself and round-trips through JSON.
pub fn check_device_id(text: &str) -> TestCaseResult {
    match DeviceId::parse(text) {
        Ok(id) => {
            prop_assert!(is_device_id(text), "{text:?} accepted");
            prop_assert_eq!(id.as_str(), text);
            prop_assert_eq!(id.platform().as_str(), text.split('-').next().unwrap_or(""));
            prop_assert_eq!(DeviceId::parse(id.as_str()), Ok(id.clone()));
            let json = serde_json::to_string(&id).map_err(fail)?;
            prop_assert_eq!(serde_json::from_str::<DeviceId>(&json).map_err(fail)?, id);
        }
        Err(error) => {
            prop_assert!(!is_device_id(text), "{text:?} refused: {error}");
            prop_assert_eq!(error.field(), "device_id");
        }
    }
    Ok(())
}

/// A platform is named exactly `apns`, `fcm` or `web`, and its name reads back.
pub fn check_platform(text: &str) -> TestCaseResult {
    match text.parse::<Platform>() {
        Ok(platform) => prop_assert_eq!(platform.as_str(), text),
        Err(error) => {
            prop_assert!(!["apns", "fcm", "web"].contains(&text));
            prop_assert_eq!(error.field(), "platform");
        }
    }
    Ok(())
}

/// Metadata is at most 32 pairs, keys of 1 to 64 characters, values of at most 512; accepted
/// metadata keeps every pair and round-trips through JSON, and JSON is held to the same rules.
pub fn check_metadata(pairs: &BTreeMap<String, String>) -> TestCaseResult {
    let within = pairs.len() <= DeviceMetadata::MAX_ENTRIES
        && pairs.iter().all(|(key, value)| {
            !key.is_empty()
                && key.chars().count() <= DeviceMetadata::MAX_KEY_CHARS
                && value.chars().count() <= DeviceMetadata::MAX_VALUE_CHARS
        });
    let json = serde_json::to_string(pairs).map_err(fail)?;
    let from_json = serde_json::from_str::<DeviceMetadata>(&json);
    match DeviceMetadata::new(pairs.clone()) {
        Ok(metadata) => {
            prop_assert!(within, "{pairs:?} accepted");
            let kept: BTreeMap<String, String> = metadata
                .iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
            prop_assert_eq!(&kept, pairs);
            prop_assert_eq!(from_json.map_err(fail)?, metadata);
        }
        Err(error) => {
            prop_assert!(!within, "{pairs:?} refused: {error}");
            prop_assert_eq!(error.field(), "metadata");
            prop_assert!(from_json.is_err());
        }
    }
    Ok(())
}
