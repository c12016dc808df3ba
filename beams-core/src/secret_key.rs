//! The instance secret key: signs Beams Tokens and authenticates the publish API.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::ValidationError;
use crate::newtype::check_chars;

/// An instance secret key.
///
/// It never shows in `Debug` or `Display`, has no `Serialize`, and compares in constant time,
/// so it cannot leak through logs, error messages or timing.
///
/// ```
/// use beams_core::SecretKey;
///
/// let key = SecretKey::new("SECRETKEY")?;
/// assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
/// assert!(key.matches("SECRETKEY"));
/// assert!(!key.matches("secretkey"));
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    /// The longest secret key, in characters.
    pub const MAX_CHARS: usize = 512;

    /// Validates `value` as a secret key: 1 to 512 visible ASCII characters, no white space,
    /// because the key travels in an `Authorization` header.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars(
            "secret_key",
            &value,
            Self::MAX_CHARS,
            |c| c.is_ascii_graphic(),
            "visible ASCII, no white space",
        )?;
        Ok(SecretKey(value))
    }

    /// Whether `presented` is this key, compared in constant time (only the length may show).
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The key's bytes, for signing. Kept inside the crate so the key has one way out.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for SecretKey {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecretKey::new(s)
    }
}

impl<'de> serde::Deserialize<'de> for SecretKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SecretKey::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_shows_in_debug_or_display() {
        let key = SecretKey::new("hunter2-very-secret").unwrap();
        assert!(!format!("{key:?}").contains("hunter2"));
        assert!(!format!("{key}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&key)).contains("hunter2"));
    }

    #[test]
    fn comparison_needs_the_whole_key() {
        let key = SecretKey::new("abcdef").unwrap();
        assert!(key.matches("abcdef"));
        assert!(!key.matches("abcde"));
        assert!(!key.matches("abcdefg"));
        assert!(!key.matches(""));
        assert_eq!(key, SecretKey::new("abcdef").unwrap());
    }

    #[test]
    fn white_space_is_refused() {
        assert!(SecretKey::new("a b").is_err());
        assert!(SecretKey::new("").is_err());
    }
}
