//! `PublishId`: the id Beams answers a publish with.

use std::fmt;

use uuid::Uuid;

/// The id of one publish, `pubid-` and a random UUID, as Beams answers a publish request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishId(String);

impl PublishId {
    /// A new, random publish id.
    pub fn generate() -> Self {
        PublishId(format!("pubid-{}", Uuid::new_v4().hyphenated()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
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
    }
}
