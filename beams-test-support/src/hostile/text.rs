//! Text and bytes in general: what any field of a request can hold.

use proptest::prelude::*;

/// Characters that parsers trip on: ASCII punctuation and white space, controls, a
/// combining mark, a right-to-left mark, a character outside the BMP, a NUL and the
/// replacement character.
const AWKWARD: &[char] = &[
    ' ',
    '\t',
    '\n',
    '\r',
    '\0',
    '%',
    '+',
    '/',
    '\\',
    '.',
    ':',
    '@',
    '?',
    '#',
    '[',
    ']',
    '{',
    '}',
    '"',
    '\'',
    '-',
    '_',
    '=',
    ',',
    ';',
    '\u{7f}',
    '\u{301}',
    '\u{200f}',
    '\u{1F600}',
    '\u{fffd}',
    'é',
    'ß',
    'Ω',
];

/// One character: mostly ASCII, sometimes an awkward one, sometimes any at all.
pub fn any_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        3 => proptest::sample::select(AWKWARD),
        1 => any::<char>(),
    ]
}

/// Text of up to `max_chars` characters drawn from [`any_char`].
pub fn any_text(max_chars: usize) -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(any_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// Text of `chars` characters drawn from `alphabet`.
pub fn text_of(
    alphabet: &'static str,
    chars: std::ops::RangeInclusive<usize>,
) -> BoxedStrategy<String> {
    let letters: Vec<char> = alphabet.chars().collect();
    proptest::collection::vec(proptest::sample::select(letters), chars)
        .prop_map(String::from_iter)
        .boxed()
}

/// Any bytes, up to `max_len` of them.
pub fn any_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    proptest::collection::vec(any::<u8>(), 0..=max_len)
}

/// One edit that may turn a valid value into an invalid one.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Put a character in at a position (counted in characters, wrapped to the length).
    Insert(usize, char),
    /// Take out the character at a position.
    Remove(usize),
    /// Replace the character at a position.
    Replace(usize, char),
    /// Keep only the first characters.
    Truncate(usize),
    /// Repeat the value.
    Double,
    /// Change the case of ASCII letters.
    SwapCase,
}

/// Any [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> + Clone {
    prop_oneof![
        (any::<usize>(), any_char()).prop_map(|(at, c)| Mutation::Insert(at, c)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), any_char()).prop_map(|(at, c)| Mutation::Replace(at, c)),
        any::<usize>().prop_map(Mutation::Truncate),
        Just(Mutation::Double),
        Just(Mutation::SwapCase),
    ]
}

impl Mutation {
    /// `value` with this edit made.
    pub fn apply(&self, value: &str) -> String {
        let mut chars: Vec<char> = value.chars().collect();
        let len = chars.len();
        match *self {
            Mutation::Insert(at, c) => chars.insert(at % (len + 1), c),
            Mutation::Remove(at) if len > 0 => {
                chars.remove(at % len);
            }
            Mutation::Replace(at, c) if len > 0 => chars[at % len] = c,
            Mutation::Truncate(keep) => chars.truncate(keep % (len + 1)),
            Mutation::Double => chars.extend(value.chars()),
            Mutation::SwapCase => {
                for c in &mut chars {
                    *c = if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                }
            }
            Mutation::Remove(_) | Mutation::Replace(..) => {}
        }
        chars.into_iter().collect()
    }
}

/// `valid` values, each changed by one to three [`Mutation`]s.
pub fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (valid, proptest::collection::vec(mutation(), 1..=3)).prop_map(|(value, mutations)| {
        mutations
            .iter()
            .fold(value, |value, mutation| mutation.apply(&value))
    })
}

/// Text for a field whose valid values come from `valid`: valid values, values one or more
/// edits away, and arbitrary text up to `max_chars` characters.
pub fn around(
    valid: impl Strategy<Value = String> + Clone + 'static,
    max_chars: usize,
) -> BoxedStrategy<String> {
    prop_oneof![
        3 => valid.clone(),
        3 => mutated(valid),
        2 => any_text(max_chars),
    ]
    .boxed()
}
