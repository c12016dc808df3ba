//! The id a customer's server gives to one of its users.

use crate::ValidationError;
use crate::newtype::{check_chars, validated_string};

/// A user id: 1 to [`UserId::MAX_CHARS`] Unicode scalar values, any characters.
///
/// Length counts `str::chars()`, the rule the official server SDKs share (within their own
/// string models).
///
/// ```
/// use beams_core::UserId;
///
/// let user = UserId::new("アリス@example.com")?;
/// assert_eq!(user.as_str(), "アリス@example.com");
/// assert!(UserId::new("x".repeat(165)).is_err());
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// The longest user id, in characters.
    pub const MAX_CHARS: usize = 164;

    /// Validates `value` as a user id.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars(
            "user_id",
            &value,
            Self::MAX_CHARS,
            |_| true,
            "any character",
        )?;
        Ok(UserId(value))
    }
}

validated_string!(UserId);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rule;

    #[test]
    fn empty_user_id_is_refused() {
        assert_eq!(UserId::new("").unwrap_err().rule(), &Rule::Empty);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let longest = "é".repeat(164);
        assert_eq!(longest.len(), 328);
        assert!(UserId::new(longest).is_ok());
        let err = UserId::new("é".repeat(165)).unwrap_err();
        assert_eq!(
            err.rule(),
            &Rule::TooLong {
                max: 164,
                actual: 165
            }
        );
    }

    #[test]
    fn deserializing_validates() {
        let ok: UserId = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(ok.as_str(), "alice");
        let err = serde_json::from_str::<UserId>("\"\"").unwrap_err();
        assert!(err.to_string().contains("user_id"), "{err}");
    }
}
