//! The association policy: how many devices a user may have, and what happens at the limit.
//!
//! Pure functions, no I/O. A store calls [`AssociationPolicy::plan`] inside its own atomic
//! step (a transaction, a lock) with what it read there, and applies the plan as given, so the
//! decision lives here once while the atomicity lives in the store.

use std::num::NonZeroUsize;

use crate::{Device, DeviceId, Rule, Timestamp, UserId, ValidationError};

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

    /// Decides what associating `device`, now associated with `device_user`, with `user` does.
    ///
    /// `associated` must be every device associated with `user` on the device's platform, as
    /// read in the same atomic step that will apply the plan.
    pub fn plan(
        &self,
        device: &DeviceId,
        device_user: Option<&UserId>,
        user: &UserId,
        associated: &[AssociatedDevice],
    ) -> AssociationPlan {
        match device_user {
            Some(current) if current == user => AssociationPlan::Unchanged,
            Some(_) => AssociationPlan::Refuse(AssociationRefusal::UserMismatch),
            None => self.plan_for_free_device(device, associated),
        }
    }

    /// Like [`plan`](Self::plan), but reads the user's devices through `load_associated` only
    /// when the decision needs them: re-associating a device with its own user, the call every
    /// app start makes, costs the store no read. A failed read is handed back.
    pub fn plan_loading<E>(
        &self,
        device: &DeviceId,
        device_user: Option<&UserId>,
        user: &UserId,
        load_associated: impl FnOnce() -> Result<Vec<AssociatedDevice>, E>,
    ) -> Result<AssociationPlan, E> {
        if device_user.is_some() {
            return Ok(self.plan(device, device_user, user, &[]));
        }
        Ok(self.plan_for_free_device(device, &load_associated()?))
    }

    /// [`plan_loading`](Self::plan_loading) for stores whose reads are async: `load_associated`
    /// runs, and is awaited, only when the decision needs the user's devices.
    pub async fn plan_loading_async<E, F>(
        &self,
        device: &DeviceId,
        device_user: Option<&UserId>,
        user: &UserId,
        load_associated: impl FnOnce() -> F,
    ) -> Result<AssociationPlan, E>
    where
        F: std::future::Future<Output = Result<Vec<AssociatedDevice>, E>>,
    {
        if device_user.is_some() {
            return Ok(self.plan(device, device_user, user, &[]));
        }
        Ok(self.plan_for_free_device(device, &load_associated().await?))
    }

    /// The plan for a device that has no user yet.
    fn plan_for_free_device(
        &self,
        device: &DeviceId,
        associated: &[AssociatedDevice],
    ) -> AssociationPlan {
        let others: Vec<&AssociatedDevice> =
            associated.iter().filter(|d| &d.id != device).collect();
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
                oldest_first.sort();
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

/// What the policy needs to know of a device already associated with the user. Orders as
/// [`association_order`]: oldest first, ties by device id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AssociatedDevice {
    /// When it was associated.
    pub associated_at: Timestamp,
    /// The device.
    pub id: DeviceId,
}

impl AssociatedDevice {
    /// The policy's view of `device`, if it is associated.
    pub fn of(device: &Device) -> Option<Self> {
        Some(AssociatedDevice {
            associated_at: device.associated_at?,
            id: device.id.clone(),
        })
    }
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

impl AssociationPlan {
    /// What a store applies: `Ok(evict)` to associate the device after disassociating
    /// `evict`, or `Err(outcome)`, the answer when nothing is to change.
    pub fn to_apply(self) -> Result<Vec<DeviceId>, crate::AssociationOutcome> {
        match self {
            AssociationPlan::Associate { evict } => Ok(evict),
            AssociationPlan::Unchanged => Err(crate::AssociationOutcome::AlreadyAssociated),
            AssociationPlan::Refuse(refusal) => Err(crate::AssociationOutcome::Refused(refusal)),
        }
    }
}

/// Why an association was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationRefusal {
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
    use crate::Platform;

    fn associated(at: i64) -> AssociatedDevice {
        AssociatedDevice {
            associated_at: Timestamp::from_unix_millis(at),
            id: DeviceId::generate(Platform::Fcm),
        }
    }

    fn limit(n: usize, when_full: WhenFull) -> AssociationPolicy {
        AssociationPolicy::try_new(n, when_full).unwrap()
    }

    fn alice() -> UserId {
        UserId::new("alice").unwrap()
    }

    fn new_device() -> DeviceId {
        DeviceId::generate(Platform::Fcm)
    }

    #[test]
    fn a_zero_limit_is_refused() {
        let err = AssociationPolicy::try_new(0, WhenFull::Refuse).unwrap_err();
        assert_eq!(err.field(), "limit");
        assert_eq!(limit(7, WhenFull::Refuse).limit().get(), 7);
    }

    #[test]
    fn same_user_again_changes_nothing() {
        let mine = associated(5);
        let plan = limit(1, WhenFull::Refuse).plan(
            &mine.id,
            Some(&alice()),
            &alice(),
            std::slice::from_ref(&mine),
        );
        assert_eq!(plan, AssociationPlan::Unchanged);
    }

    #[test]
    fn another_users_device_is_refused() {
        let bob = UserId::new("bob").unwrap();
        assert_eq!(
            AssociationPolicy::default().plan(&new_device(), Some(&alice()), &bob, &[]),
            AssociationPlan::Refuse(AssociationRefusal::UserMismatch)
        );
    }

    #[test]
    fn below_the_limit_nothing_is_evicted() {
        let plan =
            limit(2, WhenFull::EvictOldest).plan(&new_device(), None, &alice(), &[associated(1)]);
        assert_eq!(plan, AssociationPlan::Associate { evict: vec![] });
    }

    #[test]
    fn at_the_limit_the_oldest_goes() {
        let current = [associated(30), associated(10), associated(20)];
        let plan = limit(3, WhenFull::EvictOldest).plan(&new_device(), None, &alice(), &current);
        assert_eq!(
            plan,
            AssociationPlan::Associate {
                evict: vec![current[1].id.clone()]
            }
        );
    }

    #[test]
    fn ties_go_to_the_smaller_device_id() {
        let current = [associated(7), associated(7)];
        let smaller = current.iter().map(|d| d.id.clone()).min().unwrap();
        let plan = limit(2, WhenFull::EvictOldest).plan(&new_device(), None, &alice(), &current);
        assert_eq!(
            plan,
            AssociationPlan::Associate {
                evict: vec![smaller]
            }
        );
    }

    #[test]
    fn a_lowered_limit_evicts_down_to_it() {
        let current: Vec<_> = (0..5).map(associated).collect();
        let AssociationPlan::Associate { evict } =
            limit(2, WhenFull::EvictOldest).plan(&new_device(), None, &alice(), &current)
        else {
            panic!("expected an association");
        };
        let expected: Vec<_> = current[..4].iter().map(|d| d.id.clone()).collect();
        assert_eq!(evict, expected);
    }

    #[test]
    fn refuse_policy_refuses_at_the_limit() {
        assert_eq!(
            limit(1, WhenFull::Refuse).plan(&new_device(), None, &alice(), &[associated(1)]),
            AssociationPlan::Refuse(AssociationRefusal::DeviceLimitReached { limit: 1 })
        );
    }

    #[test]
    fn devices_are_read_only_when_the_decision_needs_them() {
        let policy = AssociationPolicy::default();
        let unread = |device_user: Option<&UserId>| {
            policy.plan_loading(&new_device(), device_user, &alice(), || {
                Err::<Vec<AssociatedDevice>, _>("read")
            })
        };
        assert_eq!(unread(Some(&alice())), Ok(AssociationPlan::Unchanged));
        let bob = UserId::new("bob").unwrap();
        assert!(matches!(unread(Some(&bob)), Ok(AssociationPlan::Refuse(_))));
        assert_eq!(
            unread(None),
            Err("read"),
            "a free device needs the read, and its failure"
        );
    }

    #[tokio::test]
    async fn async_reads_happen_only_when_the_decision_needs_them() {
        let policy = AssociationPolicy::default();
        let bob = UserId::new("bob").unwrap();
        for (device_user, needs_read) in
            [(Some(&alice()), false), (Some(&bob), false), (None, true)]
        {
            let mut read = false;
            let plan = policy
                .plan_loading_async(&new_device(), device_user, &alice(), || {
                    read = true;
                    async { Ok::<_, &str>(vec![associated(1)]) }
                })
                .await;
            assert_eq!(read, needs_read, "for a device of {device_user:?}");
            assert_eq!(
                plan,
                Ok(policy.plan(&new_device(), device_user, &alice(), &[associated(1)]))
            );
        }
    }

    #[test]
    fn the_order_of_associated_devices_is_time_then_id() {
        let id = |uuid: &str| DeviceId::parse(&format!("fcm-{uuid}")).unwrap();
        let small = id("00000000-0000-4000-8000-000000000001");
        let large = id("ffffffff-ffff-4fff-bfff-ffffffffffff");
        let at = |millis, id: &DeviceId| AssociatedDevice {
            associated_at: Timestamp::from_unix_millis(millis),
            id: id.clone(),
        };
        // Time first: the later association sorts after, though its id is the smaller.
        assert!(at(1, &large) < at(2, &small));
        // Then the id, when the times tie.
        assert!(at(1, &small) < at(1, &large));
    }
}
