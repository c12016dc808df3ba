//! Push tokens as clients register them: APNs device tokens, FCM registration tokens, and
//! Web Push subscriptions through [`PushToken::parse`].

use beams_core::{ApnsToken, EndpointRules, FcmToken, Platform, PushToken, Rule};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::endpoints;
use super::ids::{broken_rule, platform};
use super::text::{around, text_of};

/// The characters of an FCM registration token.
pub const FCM_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.";

/// Valid APNs tokens: an even number of hex digits, 32 to 256, in either case.
pub fn apns_token() -> impl Strategy<Value = String> + Clone {
    (ApnsToken::MIN_DIGITS / 2..=ApnsToken::MAX_DIGITS / 2)
        .prop_flat_map(|bytes| text_of("0123456789abcdefABCDEF", bytes * 2..=bytes * 2))
}

/// Text to read as an APNs token.
pub fn apns_token_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => around(apns_token(), 300),
        1 => text_of("0123456789abcdef", 28..=36),
        1 => text_of("0123456789abcdef", 254..=258),
    ]
    .boxed()
}

/// Valid FCM tokens, mostly of the lengths FCM gives, sometimes up to the limit.
pub fn fcm_token() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        8 => text_of(FCM_ALPHABET, FcmToken::MIN_CHARS..=300),
        1 => text_of(FCM_ALPHABET, FcmToken::MAX_CHARS - 1..=FcmToken::MAX_CHARS),
    ]
}

/// Text to read as an FCM token.
pub fn fcm_token_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => around(fcm_token(), 300),
        1 => text_of(FCM_ALPHABET, 5..=10),
        1 => text_of(FCM_ALPHABET, FcmToken::MAX_CHARS..=FcmToken::MAX_CHARS + 1),
    ]
    .boxed()
}

/// A registration: a platform and a token text meant for it or for another platform.
pub fn registration() -> impl Strategy<Value = (Platform, String)> {
    let text = prop_oneof![
        apns_token_text(),
        fcm_token_text(),
        endpoints::subscription_text(),
    ];
    (platform(), text)
}

/// The rule an APNs token text breaks, in the order the checks run.
fn apns_rule(text: &str) -> Option<Rule> {
    let hex = |c: char| c.is_ascii_hexdigit();
    if let Some(rule) = broken_rule(text, ApnsToken::MAX_DIGITS, hex, "hex digits") {
        return Some(rule);
    }
    if text.len() < ApnsToken::MIN_DIGITS {
        return Some(Rule::TooShort {
            min: ApnsToken::MIN_DIGITS,
            actual: text.len(),
        });
    }
    (!text.len().is_multiple_of(2)).then_some(Rule::Format {
        expected: "an even number of hex digits",
    })
}

/// The rule an FCM token text breaks, in the order the checks run.
fn fcm_rule(text: &str) -> Option<Rule> {
    let allowed = |c: char| FCM_ALPHABET.contains(c);
    broken_rule(text, FcmToken::MAX_CHARS, allowed, "A-Z a-z 0-9 - _ : .").or_else(|| {
        (text.len() < FcmToken::MIN_CHARS).then_some(Rule::TooShort {
            min: FcmToken::MIN_CHARS,
            actual: text.len(),
        })
    })
}

/// A registration's token is accepted exactly when its platform's rule allows it (an APNs
/// token is kept in lowercase); an accepted token keeps its platform, is keyed by what
/// identifies it, and round-trips through JSON. Web subscriptions are held to
/// [`endpoints::check_subscription`]'s properties.
pub fn check_registration(platform: Platform, text: &str) -> TestCaseResult {
    let parsed = PushToken::parse(platform, text, EndpointRules::default());
    let expected = match platform {
        Platform::Apns => apns_rule(text),
        Platform::Fcm => fcm_rule(text),
        Platform::Web => return endpoints::check_subscription(text),
    };
    match (parsed, expected) {
        (Ok(token), None) => {
            prop_assert_eq!(token.platform(), platform);
            let key = match platform {
                Platform::Apns => text.to_ascii_lowercase(),
                _ => text.to_owned(),
            };
            prop_assert_eq!(token.key(), key.as_str());
            prop_assert_eq!(
                PushToken::parse(platform, token.key(), EndpointRules::default()),
                Ok(token.clone())
            );
            let json =
                serde_json::to_string(&token).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = serde_json::from_str::<PushToken>(&json)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, token);
        }
        (Err(error), Some(rule)) => {
            prop_assert_eq!(error.field(), "token");
            prop_assert_eq!(error.rule(), &rule);
        }
        (got, expected) => {
            return Err(TestCaseError::fail(format!(
                "{platform} {text:?}: got {got:?}, expected rule {expected:?}"
            )));
        }
    }
    Ok(())
}
