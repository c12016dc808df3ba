//! The push platforms a device can be on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Rule, ValidationError};

/// A push platform, spelled as in Beams API paths (`apns`, `fcm`, `web`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Apple Push Notification service (iOS, iPadOS, macOS).
    Apns,
    /// Firebase Cloud Messaging (Android, and apps that use FCM on other systems).
    Fcm,
    /// Web Push (browsers).
    Web,
}

impl Platform {
    /// Every platform, in a fixed order.
    pub const ALL: [Platform; 3] = [Platform::Apns, Platform::Fcm, Platform::Web];

    /// The platform's name in Beams API paths and device ids.
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
            Platform::Web => "web",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(ValidationError::new(
                "platform",
                Rule::Format {
                    expected: "one of apns, fcm, web",
                },
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for platform in Platform::ALL {
            assert_eq!(platform.as_str().parse::<Platform>().unwrap(), platform);
        }
        assert!("APNS".parse::<Platform>().is_err());
    }
}
