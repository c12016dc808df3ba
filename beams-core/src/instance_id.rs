//! The id of a Beams instance, which scopes every API path and every Beams Token.

use crate::ValidationError;
use crate::newtype::{check_chars, validated_string};

/// An instance id: 1 to [`InstanceId::MAX_CHARS`] characters of `A-Z a-z 0-9 -`
/// (Beams instance ids are UUIDs).
///
/// It becomes the host label of the Beams Token issuer,
/// `https://<instance_id>.pushnotifications.pusher.com`, so it is kept to characters that are
/// valid there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// The longest instance id, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Validates `value` as an instance id.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars(
            "instance_id",
            &value,
            Self::MAX_CHARS,
            |c| c.is_ascii_alphanumeric() || c == '-',
            "A-Z a-z 0-9 -",
        )?;
        Ok(InstanceId(value))
    }

    /// The `iss` claim of this instance's Beams Tokens.
    pub fn token_issuer(&self) -> String {
        format!("https://{}.pushnotifications.pusher.com", self.0)
    }
}

validated_string!(InstanceId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_instance_ids_are_accepted_and_name_the_issuer() {
        let id = InstanceId::new("00000000-0000-0000-0000-000000000000").unwrap();
        assert_eq!(
            id.token_issuer(),
            "https://00000000-0000-0000-0000-000000000000.pushnotifications.pusher.com"
        );
    }

    #[test]
    fn characters_outside_a_host_label_are_refused() {
        assert!(InstanceId::new("evil.com/x").is_err());
        assert!(InstanceId::new("").is_err());
    }
}
