//! The address a push service knows a device by, one kind per platform.

use serde::{Deserialize, Serialize};

use crate::newtype::{check_chars, validated_string};
use crate::{EndpointRules, Platform, Rule, ValidationError, WebSubscription};

/// An APNs device token: an even number of hex digits, stored lowercase.
///
/// Today's tokens are 32 bytes (64 digits); Apple warns the length may grow, so 16 to 128 bytes
/// are accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApnsToken(String);

impl ApnsToken {
    /// The fewest hex digits accepted.
    pub const MIN_DIGITS: usize = 32;
    /// The most hex digits accepted.
    pub const MAX_DIGITS: usize = 256;

    /// Validates `value` as an APNs device token.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let mut value = value.into();
        check_chars(
            "token",
            &value,
            Self::MAX_DIGITS,
            |c| c.is_ascii_hexdigit(),
            "hex digits",
        )?;
        if value.len() < Self::MIN_DIGITS {
            return Err(ValidationError::new(
                "token",
                Rule::TooShort {
                    min: Self::MIN_DIGITS,
                    actual: value.len(),
                },
            ));
        }
        if value.len() % 2 != 0 {
            return Err(ValidationError::new(
                "token",
                Rule::Format {
                    expected: "an even number of hex digits",
                },
            ));
        }
        value.make_ascii_lowercase();
        Ok(ApnsToken(value))
    }
}

validated_string!(ApnsToken);

/// An FCM registration token: 8 to 4096 characters of `A-Z a-z 0-9 - _ : .`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FcmToken(String);

impl FcmToken {
    /// The fewest characters accepted.
    pub const MIN_CHARS: usize = 8;
    /// The most characters accepted.
    pub const MAX_CHARS: usize = 4096;

    /// Validates `value` as an FCM registration token.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars(
            "token",
            &value,
            Self::MAX_CHARS,
            |c| c.is_ascii_alphanumeric() || "-_:.".contains(c),
            "A-Z a-z 0-9 - _ : .",
        )?;
        if value.len() < Self::MIN_CHARS {
            return Err(ValidationError::new(
                "token",
                Rule::TooShort {
                    min: Self::MIN_CHARS,
                    actual: value.len(),
                },
            ));
        }
        Ok(FcmToken(value))
    }
}

validated_string!(FcmToken);

/// A device's push address on its platform.
///
/// Two devices of one platform never share a [`PushToken::key`]: registering a key that is
/// already known renews the device that has it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "platform", content = "token", rename_all = "lowercase")]
pub enum PushToken {
    /// An APNs device token.
    Apns(ApnsToken),
    /// An FCM registration token.
    Fcm(FcmToken),
    /// A Web Push subscription.
    Web(WebSubscription),
}

impl PushToken {
    /// Parses the token a client sent when registering on `platform`.
    ///
    /// Web tokens are subscription JSON or base64 of it; `rules` says which endpoints count.
    pub fn parse(
        platform: Platform,
        raw: &str,
        rules: EndpointRules,
    ) -> Result<Self, ValidationError> {
        match platform {
            Platform::Apns => ApnsToken::new(raw).map(PushToken::Apns),
            Platform::Fcm => FcmToken::new(raw).map(PushToken::Fcm),
            Platform::Web => WebSubscription::parse(raw, rules).map(PushToken::Web),
        }
    }

    /// The platform this token belongs to.
    pub fn platform(&self) -> Platform {
        match self {
            PushToken::Apns(_) => Platform::Apns,
            PushToken::Fcm(_) => Platform::Fcm,
            PushToken::Web(_) => Platform::Web,
        }
    }

    /// What identifies the token within its platform: the APNs token, the FCM token, or the
    /// Web Push endpoint (a browser's keys may change while its endpoint stays).
    pub fn key(&self) -> &str {
        match self {
            PushToken::Apns(token) => token.as_str(),
            PushToken::Fcm(token) => token.as_str(),
            PushToken::Web(subscription) => subscription.endpoint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APNS: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90";

    #[test]
    fn apns_tokens_are_normalised_to_lowercase() {
        let token = PushToken::parse(Platform::Apns, APNS, EndpointRules::default()).unwrap();
        assert_eq!(token.key(), APNS.to_ascii_lowercase());
        assert_eq!(token.platform(), Platform::Apns);
    }

    #[test]
    fn apns_tokens_must_be_even_hex_of_sane_length() {
        for bad in ["", "xyz", &APNS[..63], &APNS[..30], &"ab".repeat(129)] {
            let err = ApnsToken::new(bad).unwrap_err();
            assert_eq!(err.field(), "token", "{bad}");
        }
    }

    #[test]
    fn fcm_tokens_accept_the_real_alphabet() {
        let real = "dGVzdA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m-9BvP7aEzqNcLmR0v4HQ";
        assert!(FcmToken::new(real).is_ok());
        assert!(FcmToken::new("short").is_err());
        assert!(FcmToken::new("has space in it").is_err());
    }

    #[test]
    fn serde_keeps_the_platform() {
        let token = PushToken::Fcm(FcmToken::new("abcdefgh:ij").unwrap());
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(json, r#"{"platform":"fcm","token":"abcdefgh:ij"}"#);
        assert_eq!(serde_json::from_str::<PushToken>(&json).unwrap(), token);
        assert!(serde_json::from_str::<PushToken>(r#"{"platform":"apns","token":"zz"}"#).is_err());
    }
}
