//! `PublishId`: the id Beams answers a publish with.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::time_ordered::time_ordered_uuid;
use crate::{Rule, ValidationError};

/// The id of one publish, `pubid-` and a UUID, as Beams answers a publish request. Made ids
/// are time-ordered (version 7: milliseconds, then 74 random bits), so the publish journal
/// appends them to its index rather than scattering them over it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishId(String);

impl PublishId {
    /// A new publish id: time-ordered, unguessable.
    pub fn generate() -> Self {
        PublishId(format!("pubid-{}", time_ordered_uuid().hyphenated()))
    }

    /// Validates an id received from outside (a client reporting on a notification): only
    /// the one spelling [`generate`](Self::generate) makes, `pubid-` and a lowercase
    /// hyphenated UUID, so one publish has exactly one id string.
    ///
    /// ```
    /// use beams_core::PublishId;
    ///
    /// let id = PublishId::parse("pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df")?;
    /// assert_eq!(id.as_str(), "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df");
    /// assert_eq!(PublishId::parse("pubid-x").unwrap_err().field(), "publish_id");
    /// # Ok::<(), beams_core::ValidationError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let uuid = value.strip_prefix("pubid-").unwrap_or("");
        let canonical = uuid.len() == 36 && !uuid.bytes().any(|b| b.is_ascii_uppercase());
        if !canonical || Uuid::try_parse(uuid).is_err() {
            return Err(ValidationError::new(
                "publish_id",
                Rule::Format {
                    expected: "`pubid-` and a lowercase hyphenated UUID",
                },
            ));
        }
        Ok(PublishId(value.to_owned()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PublishId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublishId::parse(s)
    }
}

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_ids_have_the_beams_shape() {
        let id = PublishId::generate();
        assert!(id.as_str().starts_with("pubid-"));
        assert_eq!(id.as_str().len(), "pubid-".len() + 36);
        assert_ne!(id, PublishId::generate());
        assert_eq!(PublishId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn other_spellings_are_refused() {
        for bad in [
            "",
            "pubid-",
            "33f3f68e-b0c5-438f-b50f-fae93f6c48df",
            "pubid-33F3F68E-B0C5-438F-B50F-FAE93F6C48DF",
            "pubid-33f3f68eb0c5438fb50ffae93f6c48df",
            "PUBID-33f3f68e-b0c5-438f-b50f-fae93f6c48df",
            "pubid-33f3f68e-b0c5-438f-b50f-fae93f6c48df ",
            "pubid-{33f3f68e-b0c5-438f-b50f-fae93f6c48d}",
        ] {
            assert_eq!(
                PublishId::parse(bad).unwrap_err().field(),
                "publish_id",
                "{bad:?}"
            );
        }
    }
}
