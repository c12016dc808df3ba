//! Who a publish reaches: users, or the devices subscribed to interests.

use crate::{Interest, UserId};

/// Who a publish reaches. Beams has two kinds of publish, on two paths, and one request is
/// always one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishTarget {
    /// Every device of these users (1 to 1000, each once).
    Users(Vec<UserId>),
    /// Every device subscribed to any of these interests (1 to 100, each once); a device
    /// subscribed to several gets one notification.
    Interests(Vec<Interest>),
}

impl PublishTarget {
    /// Which kind of publish this is.
    pub fn kind(&self) -> PublishTargetKind {
        match self {
            PublishTarget::Users(_) => PublishTargetKind::Users,
            PublishTarget::Interests(_) => PublishTargetKind::Interests,
        }
    }

    /// How many users or interests are targeted.
    pub fn count(&self) -> usize {
        match self {
            PublishTarget::Users(users) => users.len(),
            PublishTarget::Interests(interests) => interests.len(),
        }
    }
}

/// The kind of a [`PublishTarget`], known from the path before the body is read.
///
/// ```
/// use beams_core::PublishTargetKind;
///
/// assert_eq!(PublishTargetKind::Users.field(), "users");
/// assert_eq!(PublishTargetKind::Interests.max_body_bytes(), 10 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishTargetKind {
    /// `POST …/publishes/users`.
    Users,
    /// `POST …/publishes/interests` (and `POST …/publishes`).
    Interests,
}

impl PublishTargetKind {
    /// The body field that lists the targets.
    pub const fn field(self) -> &'static str {
        match self {
            PublishTargetKind::Users => "users",
            PublishTargetKind::Interests => "interests",
        }
    }

    /// The most targets one publish may name.
    pub const fn max_targets(self) -> usize {
        match self {
            PublishTargetKind::Users => 1000,
            PublishTargetKind::Interests => 100,
        }
    }

    /// The largest request body accepted, in bytes (Beams: 200 KiB to users, 10 KiB to
    /// interests).
    pub const fn max_body_bytes(self) -> usize {
        match self {
            PublishTargetKind::Users => 200 * 1024,
            PublishTargetKind::Interests => 10 * 1024,
        }
    }

    /// The other kind: its field may not appear in a body of this kind.
    const fn other(self) -> Self {
        match self {
            PublishTargetKind::Users => PublishTargetKind::Interests,
            PublishTargetKind::Interests => PublishTargetKind::Users,
        }
    }

    /// The field a body of this kind must not have.
    pub(crate) const fn forbidden_field(self) -> &'static str {
        self.other().field()
    }
}
