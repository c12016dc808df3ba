//! Hostile input to the server's own readers of requests: user ids in customer API paths,
//! `Authorization` headers, JSON bodies and device metadata. The strategies come from
//! `beams_test_support::hostile`; the properties are here because the readers are private
//! to the server (so the `beams-fuzz` binary does not run them).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use beams_test_support::hostile::{self, ids, json, text};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::Value;

use super::{Plus, bearer_token, json_object, metadata, user_id_from_path};

const INSTANCE: &str = "00000000-0000-0000-0000-000000000000";

fn path_of(segment: &str) -> String {
    format!("/customer_api/v1/instances/{INSTANCE}/users/{segment}")
}

/// `text` percent-decoded the way browsers and URL libraries do it: `%` and two hex digits
/// is a byte, anything else stays as it is.
fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        let byte = match (bytes[at], bytes.get(at + 1), bytes.get(at + 2)) {
            (b'%', Some(&high), Some(&low)) => hex(high).zip(hex(low)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match byte.and_then(|byte| u8::try_from(byte).ok()) {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    decoded
}

/// How a client encodes a user id in a path: which characters it escapes, in which case.
#[derive(Debug, Clone)]
struct Encoding {
    plus: Plus,
    escape_everything: bool,
    upper_hex: bool,
    space_as_plus: bool,
}

fn encoding() -> impl Strategy<Value = Encoding> {
    (
        prop_oneof![Just(Plus::Space), Just(Plus::Literal)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(plus, escape_everything, upper_hex, space_as_plus)| Encoding {
                plus,
                escape_everything,
                upper_hex,
                space_as_plus,
            },
        )
}

impl Encoding {
    fn encode(&self, user: &str) -> String {
        let mut encoded = String::new();
        for c in user.chars() {
            let plain = c.is_ascii_alphanumeric() || "-._~".contains(c);
            if c == ' ' && self.space_as_plus && self.plus == Plus::Space {
                encoded.push('+');
            } else if plain && !self.escape_everything {
                encoded.push(c);
            } else {
                let mut utf8 = [0; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    if self.upper_hex {
                        encoded.push_str(&format!("%{byte:02X}"));
                    } else {
                        encoded.push_str(&format!("%{byte:02x}"));
                    }
                }
            }
        }
        encoded
    }
}

/// A user id written into a path by any client's encoding reads back as itself.
fn check_user_id_round_trip(user: &str, encoding: &Encoding) -> TestCaseResult {
    let path = path_of(&encoding.encode(user));
    let read = user_id_from_path(&path, INSTANCE, encoding.plus);
    prop_assert_eq!(read.map(|id| id.into_string()), Ok(user.to_owned()));
    Ok(())
}

/// Any path segment is the user id it percent-decodes to (with `+` a space where the API
/// says so), or a 400: for a decoding that is not UTF-8, or for a user id of no or too many
/// characters.
fn check_user_id_segment(segment: &str, plus: Plus) -> TestCaseResult {
    let read = user_id_from_path(&path_of(segment), INSTANCE, plus);
    let spaced = match plus {
        Plus::Space => segment.replace('+', " "),
        Plus::Literal => segment.to_owned(),
    };
    match String::from_utf8(percent_decoded(&spaced)) {
        Err(_) => {
            let error = read
                .err()
                .ok_or_else(|| TestCaseError::fail("not UTF-8, accepted"))?;
            prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            prop_assert!(error.body().description.contains("UTF-8"));
        }
        Ok(decoded) => {
            let chars = decoded.chars().count();
            match read {
                Ok(user) => prop_assert_eq!(user.as_str(), decoded.as_str()),
                Err(error) => {
                    prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
                    prop_assert!(chars == 0 || chars > 164, "{decoded:?} refused");
                }
            }
        }
    }
    Ok(())
}

/// Path segments: any text, percent escapes that are whole, cut or not UTF-8, and `+`.
fn segment() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => text::any_text(8),
        1 => any::<u8>().prop_map(|byte| format!("%{byte:02X}")),
        1 => proptest::sample::select(&["%", "%2", "%zz", "+", "%2B", "%20", "%C3", "%C3%A9"][..])
            .prop_map(str::to_owned),
    ];
    proptest::collection::vec(piece, 0..=30).prop_map(|pieces| pieces.concat())
}

/// The token of an `Authorization` header is what follows `Bearer ` (any case), trimmed and
/// never empty; a header that is not text, or of another scheme, has none.
fn check_bearer_token(bytes: &[u8]) -> TestCaseResult {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value.clone());
    let Some(token) = bearer_token(&headers) else {
        return Ok(());
    };
    let text = value
        .to_str()
        .map_err(|_| TestCaseError::fail("a token from a header that is not text"))?;
    let (scheme, rest) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| TestCaseError::fail("a token without a scheme"))?;
    prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
    prop_assert!(!token.is_empty());
    prop_assert_eq!(token, rest.trim());
    Ok(())
}

/// A token sent as `<Bearer in any case> <token>` is read back as sent.
fn check_bearer_round_trip(scheme: &str, token: &str) -> TestCaseResult {
    let value = HeaderValue::from_str(&format!("{scheme} {token}"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    prop_assert_eq!(bearer_token(&headers), Some(token));
    Ok(())
}

/// Any body is a JSON object that reads back from its own JSON, or a 400.
fn check_json_object(body: &[u8]) -> TestCaseResult {
    match json_object(body) {
        Ok(object) => {
            let again =
                serde_json::to_vec(&object).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(json_object(&again).ok(), Some(object));
        }
        Err(error) => prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST),
    }
    Ok(())
}

/// Metadata of any JSON is kept as text (strings as they are, other values as their JSON,
/// `null`s dropped) or refused with a 400.
fn check_metadata(value: Option<Value>) -> TestCaseResult {
    let read = metadata(value.clone());
    let fields = match value {
        None | Some(Value::Null) => {
            prop_assert!(read.is_ok_and(|metadata| metadata.is_empty()));
            return Ok(());
        }
        Some(Value::Object(fields)) => fields,
        Some(_) => {
            let error = read
                .err()
                .ok_or_else(|| TestCaseError::fail("not an object, accepted"))?;
            prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            return Ok(());
        }
    };
    let metadata = match read {
        Ok(metadata) => metadata,
        Err(error) => {
            prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            return Ok(());
        }
    };
    for (key, value) in &fields {
        let expected = match value {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        };
        prop_assert_eq!(metadata.get(key).map(str::to_owned), expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(hostile::config())]

    #[test]
    fn a_user_id_encoded_by_any_client_reads_back(user in ids::user_id(), encoding in encoding()) {
        check_user_id_round_trip(&user, &encoding)?;
    }

    #[test]
    fn any_user_id_segment_decodes_or_is_a_400(
        segment in segment(),
        plus in prop_oneof![Just(Plus::Space), Just(Plus::Literal)],
    ) {
        check_user_id_segment(&segment, plus)?;
    }

    #[test]
    fn a_bearer_token_is_what_follows_the_scheme(bytes in text::any_bytes(40)) {
        check_bearer_token(&bytes)?;
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend(&bytes);
        check_bearer_token(&prefixed)?;
    }

    #[test]
    fn a_bearer_token_reads_back_as_sent(
        scheme in proptest::sample::select(&["Bearer", "bearer", "BEARER", "bEaReR"][..]),
        token in proptest::collection::vec(proptest::char::range('!', '~'), 1..=80)
            .prop_map(String::from_iter),
    ) {
        check_bearer_round_trip(scheme, &token)?;
    }

    #[test]
    fn a_body_is_a_json_object_or_a_400(body in prop_oneof![
        json::json_bytes(),
        json::any_object(3).prop_map(|object| Value::Object(object).to_string().into_bytes()),
    ]) {
        check_json_object(&body)?;
    }

    #[test]
    fn metadata_keeps_text_or_is_a_400(value in proptest::option::of(prop_oneof![
        1 => json::any_json(2),
        3 => json::any_object(1).prop_map(Value::Object),
    ])) {
        check_metadata(value)?;
    }
}
