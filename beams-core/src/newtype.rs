//! The plumbing shared by validated string identifiers.

/// Implements the conversions of a validated string newtype `$name(String)` whose
/// `fn new(impl Into<String>) -> Result<Self, ValidationError>` holds the rules.
/// Deserializing goes through `new`, so no invalid value can be built from the wire either.
macro_rules! validated_string {
    ($name:ident) => {
        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::ValidationError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $name {
            type Error = $crate::ValidationError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                $name::new(raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use validated_string;

use crate::{Rule, ValidationError};

/// Checks that `value` has between 1 and `max` characters (Unicode scalar values) and that
/// every character passes `allowed`, whose set is described by `allowed_description`.
pub(crate) fn check_chars(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    allowed_description: &'static str,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, Rule::Empty));
    }
    let mut count = 0;
    for (position, character) in value.chars().enumerate() {
        if !allowed(character) {
            return Err(ValidationError::new(
                field,
                Rule::ForbiddenCharacter {
                    character,
                    position,
                    allowed: allowed_description,
                },
            ));
        }
        count = position + 1;
    }
    if count > max {
        return Err(ValidationError::new(
            field,
            Rule::TooLong { max, actual: count },
        ));
    }
    Ok(())
}
