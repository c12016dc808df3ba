//! The name of a Device Interest, a topic that devices subscribe to.

use crate::ValidationError;
use crate::newtype::{check_chars, validated_string};

/// An interest name: 1 to [`Interest::MAX_CHARS`] characters of `A-Z a-z 0-9 _ - = @ , . ;`.
///
/// ```
/// use beams_core::Interest;
///
/// assert!(Interest::new("team-42@eu").is_ok());
/// assert!(Interest::new("no spaces").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interest(String);

impl Interest {
    /// The longest interest name, in characters.
    pub const MAX_CHARS: usize = 164;

    /// Validates `value` as an interest name.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars(
            "interest",
            &value,
            Self::MAX_CHARS,
            |c| c.is_ascii_alphanumeric() || "_-=@,.;".contains(c),
            "A-Z a-z 0-9 _ - = @ , . ;",
        )?;
        Ok(Interest(value))
    }
}

validated_string!(Interest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rule;

    #[test]
    fn every_allowed_punctuation_is_accepted() {
        assert!(Interest::new("a_b-c=d@e,f.g;h").is_ok());
    }

    #[test]
    fn forbidden_character_is_named_with_its_position() {
        let err = Interest::new("ab/c").unwrap_err();
        assert!(matches!(
            err.rule(),
            Rule::ForbiddenCharacter {
                character: '/',
                position: 2,
                ..
            }
        ));
        assert_eq!(err.field(), "interest");
    }

    #[test]
    fn limits_are_one_to_164() {
        assert_eq!(Interest::new("").unwrap_err().rule(), &Rule::Empty);
        assert!(Interest::new("a".repeat(164)).is_ok());
        assert!(Interest::new("a".repeat(165)).is_err());
    }
}
