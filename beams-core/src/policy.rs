//! The association policy: how many devices a user may have, and what happens at the limit.
//!
//! Pure functions, no I/O. A store calls [`AssociationPolicy::plan`] inside its own atomic
//! step (a transaction, a lock) with what it read there, and applies the plan as given, so the
//! decision lives here once while the atomicity lives in the store.

use std::num::NonZeroUsize;

use crate::{Device, DeviceId, Rule, UserId, ValidationError};

/// What to do when a user already has the most devices allowed on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Disassociate the user's device on that platform that was associated longest ago
    /// (ties broken by the smaller device id), then associate the new one.
    #[default]
    EvictOldest,
    /// Refuse the new association, as Pusher Beams itself does.
    Refuse,
}

/// The per-platform device limit and what happens when it is reached.
///
/// ```
/// use beams_core::{AssociationPolicy, WhenFull};
///
/// let policy = AssociationPolicy::default();
/// assert_eq!(policy.limit().get(), 100);
/// assert_eq!(policy.when_full(), WhenFull::EvictOldest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssociationPolicy {
    limit: NonZeroUsize,
    when_full: WhenFull,
}

impl AssociationPolicy {
    /// The default number of devices a user may have on each platform.
    pub const DEFAULT_LIMIT: NonZeroUsize = match NonZeroUsize::new(100) {
        Some(limit) => limit,
        None => unreachable!(),
    };

    /// A policy with `limit` devices per user per platform.
    pub fn new(limit: NonZeroUsize, when_full: WhenFull) -> Self {
        AssociationPolicy { limit, when_full }
    }

    /// A policy with `limit` devices per user per platform; `limit` must be at least 1.
    pub fn try_new(limit: usize, when_full: WhenFull) -> Result<Self, ValidationError> {
        let limit = NonZeroUsize::new(limit).ok_or(ValidationError::new(
            "limit",
            Rule::TooShort { min: 1, actual: 0 },
        ))?;
        Ok(Self::new(limit, when_full))
    }

    /// The most devices a user may have on one platform.
    pub fn limit(&self) -> NonZeroUsize {
        self.limit
    }

    /// What happens when a user is at the limit.
    pub fn when_full(&self) -> WhenFull {
        self.when_full
    }

    /// Decides what associating `device` with `user` does.
    ///
    /// `associated` must be every device associated with `user` on the device's platform, as
    /// read in the same atomic step that will apply the plan.
    pub fn plan(&self, device: &Device, user: &UserId, associated: &[Device]) -> AssociationPlan {
        match &device.user {
            Some(current) if current == user => return AssociationPlan::Unchanged,
            Some(_) => return AssociationPlan::Refuse(AssociationRefusal::UserMismatch),
            None => {}
        }
        let others: Vec<&Device> = associated.iter().filter(|d| d.id != device.id).collect();
        let limit = self.limit.get();
        if others.len() < limit {
            return AssociationPlan::Associate { evict: Vec::new() };
        }
        match self.when_full {
            WhenFull::Refuse => {
                AssociationPlan::Refuse(AssociationRefusal::DeviceLimitReached { limit })
            }
            WhenFull::EvictOldest => {
                let mut oldest_first = others;
                oldest_first.sort_by(|a, b| association_order(a, b));
                // More than one goes when the limit was lowered since they were associated.
                let excess = oldest_first.len() + 1 - limit;
                let evict = oldest_first
                    .into_iter()
                    .take(excess)
                    .map(|d| d.id.clone())
                    .collect();
                AssociationPlan::Associate { evict }
            }
        }
    }
}

impl Default for AssociationPolicy {
    fn default() -> Self {
        AssociationPolicy::new(Self::DEFAULT_LIMIT, WhenFull::EvictOldest)
    }
}

/// The order in which a user's devices were associated: oldest first, ties by device id.
/// Stores list a user's devices in this order.
pub fn association_order(a: &Device, b: &Device) -> std::cmp::Ordering {
    a.associated_at
        .cmp(&b.associated_at)
        .then_with(|| a.id.cmp(&b.id))
}

/// What an association does, as decided by [`AssociationPolicy::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationPlan {
    /// The device is already associated with this user: change nothing.
    Unchanged,
    /// Disassociate `evict` (the user's oldest devices on the platform), then associate.
    Associate {
        /// Devices to disassociate first, oldest first.
        evict: Vec<DeviceId>,
    },
    /// Change nothing and refuse.
    Refuse(AssociationRefusal),
}

/// Why an association was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationRefusal {
    /// No device has that id.
    DeviceNotFound,
    /// The device is associated with another user; it must be disassociated first.
    UserMismatch,
    /// The user has `limit` devices on the platform and the policy refuses more.
    DeviceLimitReached {
        /// The limit in force.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceMetadata, FcmToken, Platform, PushToken, Timestamp};

    fn device(n: i64, user: Option<&UserId>, associated_at: Option<i64>) -> Device {
        Device {
            id: DeviceId::generate(Platform::Fcm),
            token: PushToken::Fcm(FcmToken::new(format!("fcm-token-{n}")).unwrap()),
            user: user.cloned(),
            metadata: DeviceMetadata::default(),
            created_at: Timestamp::UNIX_EPOCH,
            associated_at: associated_at.map(Timestamp::from_unix_millis),
            token_registered_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn limit(n: usize, when_full: WhenFull) -> AssociationPolicy {
        AssociationPolicy::new(NonZeroUsize::new(n).unwrap(), when_full)
    }

    #[test]
    fn a_zero_limit_is_refused() {
        let err = AssociationPolicy::try_new(0, WhenFull::Refuse).unwrap_err();
        assert_eq!(err.field(), "limit");
        assert_eq!(
            AssociationPolicy::try_new(7, WhenFull::Refuse)
                .unwrap()
                .limit()
                .get(),
            7
        );
    }

    #[test]
    fn same_user_again_changes_nothing() {
        let alice = UserId::new("alice").unwrap();
        let d = device(1, Some(&alice), Some(5));
        let plan = AssociationPolicy::default().plan(&d, &alice, std::slice::from_ref(&d));
        assert_eq!(plan, AssociationPlan::Unchanged);
    }

    #[test]
    fn another_users_device_is_refused() {
        let alice = UserId::new("alice").unwrap();
        let bob = UserId::new("bob").unwrap();
        let d = device(1, Some(&alice), Some(5));
        assert_eq!(
            AssociationPolicy::default().plan(&d, &bob, &[]),
            AssociationPlan::Refuse(AssociationRefusal::UserMismatch)
        );
    }

    #[test]
    fn below_the_limit_nothing_is_evicted() {
        let alice = UserId::new("alice").unwrap();
        let current = vec![device(1, Some(&alice), Some(1))];
        let plan = limit(2, WhenFull::EvictOldest).plan(&device(2, None, None), &alice, &current);
        assert_eq!(plan, AssociationPlan::Associate { evict: vec![] });
    }

    #[test]
    fn at_the_limit_the_oldest_goes() {
        let alice = UserId::new("alice").unwrap();
        let current = vec![
            device(1, Some(&alice), Some(30)),
            device(2, Some(&alice), Some(10)),
            device(3, Some(&alice), Some(20)),
        ];
        let plan = limit(3, WhenFull::EvictOldest).plan(&device(4, None, None), &alice, &current);
        assert_eq!(
            plan,
            AssociationPlan::Associate {
                evict: vec![current[1].id.clone()]
            }
        );
    }

    #[test]
    fn ties_go_to_the_smaller_device_id() {
        let alice = UserId::new("alice").unwrap();
        let current = vec![
            device(1, Some(&alice), Some(7)),
            device(2, Some(&alice), Some(7)),
        ];
        let smaller = current.iter().map(|d| d.id.clone()).min().unwrap();
        let plan = limit(2, WhenFull::EvictOldest).plan(&device(3, None, None), &alice, &current);
        assert_eq!(
            plan,
            AssociationPlan::Associate {
                evict: vec![smaller]
            }
        );
    }

    #[test]
    fn a_lowered_limit_evicts_down_to_it() {
        let alice = UserId::new("alice").unwrap();
        let current: Vec<_> = (0..5).map(|n| device(n, Some(&alice), Some(n))).collect();
        let AssociationPlan::Associate { evict } =
            limit(2, WhenFull::EvictOldest).plan(&device(9, None, None), &alice, &current)
        else {
            panic!("expected an association");
        };
        let expected: Vec<_> = current[..4].iter().map(|d| d.id.clone()).collect();
        assert_eq!(evict, expected);
    }

    #[test]
    fn refuse_policy_refuses_at_the_limit() {
        let alice = UserId::new("alice").unwrap();
        let current = vec![device(1, Some(&alice), Some(1))];
        assert_eq!(
            limit(1, WhenFull::Refuse).plan(&device(2, None, None), &alice, &current),
            AssociationPlan::Refuse(AssociationRefusal::DeviceLimitReached { limit: 1 })
        );
    }
}
