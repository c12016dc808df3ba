//! `DeadToken`: a push service's verdict that a token will never work again.

use crate::{PushToken, Timestamp};

/// A push service's verdict that a token is dead, to be applied with
/// [`Beams::remove_dead_token`](crate::Beams::remove_dead_token) (publishing applies its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadToken {
    /// The token that was sent to.
    pub token: PushToken,
    /// When the send started.
    pub sent_at: Timestamp,
    /// When the push service last knew the token invalid, if it said.
    pub dead_since: Option<Timestamp>,
}

impl DeadToken {
    /// The latest registration time that the verdict still covers: a token registered after
    /// the send, or after the service's `dead_since`, is a new registration and survives.
    pub fn cutoff(&self) -> Timestamp {
        match self.dead_since {
            Some(dead_since) => dead_since.min(self.sent_at),
            None => self.sent_at,
        }
    }
}
