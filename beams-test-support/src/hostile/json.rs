//! JSON as clients send it: any value of bounded depth and size, and the shapes that hurt
//! parsers (deep nesting, long arrays).

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::text::{any_bytes, any_text};

/// Object keys: the names of Beams request fields, and any text.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => proptest::sample::select(
            &["users", "interests", "apns", "fcm", "web", "webhookUrl", "endpoint", "keys"][..]
        )
        .prop_map(str::to_owned),
        3 => any_text(12),
    ]
}

/// Numbers that JSON carries exactly both ways.
///
/// Floats are multiples of 1/4 below 2^20: serde_json, without its `float_roundtrip`
/// feature, may read a long decimal one unit in the last place off, which would show as a
/// failed round trip that is no fault of the code under test.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-(1_i32 << 20)..(1 << 20)).prop_map(|quarters| Value::from(f64::from(quarters) / 4.0)),
    ]
}

/// A JSON scalar.
pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any_text(24).prop_map(Value::String),
    ]
}

/// Any JSON value, nested at most `depth` deep, with at most 8 entries per array or object.
pub fn any_json(depth: u32) -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(depth, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..8)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
}

/// Any JSON object, nested at most `depth` deep.
pub fn any_object(depth: u32) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((key(), any_json(depth)), 0..6)
        .prop_map(|entries| entries.into_iter().collect())
}

/// Arrays or objects nested up to 10 000 deep, as bytes: deeper than a recursive reader's
/// stack can go, were it not limited.
pub fn deeply_nested() -> impl Strategy<Value = Vec<u8>> {
    (1..10_000_usize, any::<bool>()).prop_map(|(depth, arrays)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let inner = if arrays { "" } else { "1" };
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
    })
}

/// Bytes that may or may not be JSON: arbitrary bytes, JSON text, deep nesting, long arrays.
pub fn json_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => any_bytes(64),
        4 => any_json(4).prop_map(|value| value.to_string().into_bytes()),
        1 => deeply_nested(),
        1 => (0..20_000_usize, scalar()).prop_map(|(len, entry)| {
            Value::Array(vec![entry; len]).to_string().into_bytes()
        }),
    ]
}
