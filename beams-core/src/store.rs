//! The `DeviceStore` trait: where devices and their users are kept.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    AssociationPolicy, AssociationRefusal, Device, DeviceId, DeviceMetadata, DeviceRegistration,
    Interest, InterestChange, PushToken, RegistrationRefusal, StoreError, Timestamp, UserId,
};

/// One association to make atomically: see [`DeviceStore::associate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationRequest {
    /// The device to associate.
    pub device: DeviceId,
    /// The user to associate it with.
    pub user: UserId,
    /// The limit and what happens at it.
    pub policy: AssociationPolicy,
    /// The time of association, recorded as the device's `associated_at`.
    pub at: Timestamp,
}

/// What [`DeviceStore::associate`] did to a device that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationOutcome {
    /// The device is now associated with the user; `evicted` were disassociated to make room.
    Associated {
        /// The user's devices that were disassociated, oldest first.
        evicted: Vec<DeviceId>,
    },
    /// The device was already associated with this user; nothing changed.
    AlreadyAssociated,
    /// Nothing changed.
    Refused(AssociationRefusal),
}

/// What [`DeviceStore::register_device`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// No device had the token: this one was made for it.
    Registered(Device),
    /// A device had the token and was renewed ([`check_renewal`](crate::check_renewal)
    /// allowed it).
    Renewed(Device),
    /// A device has the token and [`check_renewal`](crate::check_renewal) refused to renew
    /// it; nothing changed.
    Refused(RegistrationRefusal),
}

impl RegistrationOutcome {
    /// The device registered or renewed, if it was.
    pub fn device(&self) -> Option<&Device> {
        match self {
            RegistrationOutcome::Registered(device) | RegistrationOutcome::Renewed(device) => {
                Some(device)
            }
            RegistrationOutcome::Refused(_) => None,
        }
    }

    /// The device registered or renewed, if it was, taken out of the outcome.
    pub fn into_device(self) -> Option<Device> {
        match self {
            RegistrationOutcome::Registered(device) | RegistrationOutcome::Renewed(device) => {
                Some(device)
            }
            RegistrationOutcome::Refused(_) => None,
        }
    }
}

/// Keeps devices, their push tokens and the users they are associated with.
///
/// Backends implement this; the rules of *what* to do live in beams-core, and the store makes
/// each operation atomic. Use it as `Arc<dyn DeviceStore>`; `Arc<T>` and `Box<T>` forward.
///
/// # Not found, and errors
///
/// A method that names one device by its id answers `Ok(None)` when no device has that id,
/// and changes nothing; `Some` carries what it did. A method over many (users, interests)
/// finds what there is: an unknown user or interest adds nothing. So an `Err` is never "not
/// found": it is a [`StoreError`] whose [`kind`](StoreError::kind) says which of these it is —
/// `Precondition` when the caller broke a rule of the call (nothing changed, and the same call
/// fails again), `Unavailable` when the storage or its worker cannot be used now, `Corrupt`
/// when stored data does not decode, `Backend` for any other failure of the backend.
///
/// # Contract
///
/// Every rule below is one function of `beams_core::testing` (feature `testing`), and
/// `beams_core::device_store_conformance!` turns them into one named test each.
///
/// - `registered_device_can_be_read_back`: [`register_device`](Self::register_device) stores
///   the device with the registration's id, token, metadata, and `at` as both `created_at` and
///   `token_registered_at`, and answers `Registered`; [`device`](Self::device) returns it
///   unchanged.
/// - `unknown_device_reads_as_none`: reading, removing, or removing by token an absent device
///   gives `None`.
/// - `registering_a_known_token_renews_its_device`: registering a token whose
///   [`key`](PushToken::key) a device of the same platform already has asks
///   [`check_renewal`](crate::check_renewal) in the same atomic step; allowed, it answers
///   `Renewed` with that device: its id, `created_at`, user, `associated_at` and interests
///   kept, the registration's metadata and `token_registered_at` taken.
/// - `a_known_web_endpoint_with_other_keys_is_refused`: answers `Refused(OtherKeys)` and
///   changes nothing.
/// - `a_known_fcm_token_of_a_signed_in_device_is_refused`: answers `Refused(SignedInDevice)`
///   and changes nothing; once the device has no user, the token renews it.
/// - `push_tokens_are_unique_per_platform`: at most one device per platform and token key;
///   the same key on two platforms is two devices.
/// - `a_registration_of_mixed_platforms_is_refused`: a registration whose id names another
///   platform than its token fails with `Precondition` and stores nothing.
/// - `removing_a_device_removes_it_everywhere`: after [`remove_device`](Self::remove_device),
///   no read, user listing or token finds it.
/// - `association_links_device_and_user`: [`associate`](Self::associate) sets the device's
///   user and `associated_at` and lists it among the user's devices.
/// - `reassociating_with_the_same_user_changes_nothing`: answers `AlreadyAssociated` and keeps
///   `associated_at`.
/// - `association_with_another_user_is_refused`: answers `Refused(UserMismatch)` and changes
///   nothing.
/// - `association_of_an_unknown_device_is_none`: answers `None` and creates nothing.
/// - `limit_evicts_the_longest_associated_device`: the store applies
///   [`AssociationPolicy::plan`] to the device and the user's devices on its platform (as
///   [`AssociatedDevice`](crate::AssociatedDevice)s), read in the same atomic step; evicted
///   devices stay registered with no user, and are reported.
/// - `limit_refuses_when_the_policy_says_refuse`: answers `Refused(DeviceLimitReached)` and
///   changes nothing.
/// - `limit_counts_each_platform_separately`.
/// - `limit_holds_under_concurrent_associations`: with hundreds of concurrent associations to
///   one user, no reader ever sees more than the limit on a platform, exactly the limit remain,
///   and every evicted device is reported exactly once.
/// - `concurrent_associations_of_one_device_pick_one_user`: of many users racing for one
///   device, exactly one gets it.
/// - `devices_of_a_user_are_listed_in_association_order`:
///   [`devices_of_user`](Self::devices_of_user) lists oldest association first, ties by device
///   id ([`association_order`](crate::association_order)).
/// - `devices_of_many_users_in_one_call`: [`devices_of_users`](Self::devices_of_users)
///   returns every device of every listed user once; unknown and repeated users add nothing.
/// - `removing_a_user_removes_all_their_devices`: [`remove_user`](Self::remove_user) deletes
///   every device of the user on every platform and no other.
/// - `dead_token_removes_its_device`: [`remove_device_by_token`](Self::remove_device_by_token)
///   deletes the device holding the token's key when its `token_registered_at` is not after
///   the cutoff.
/// - `dead_token_spares_a_reregistered_device`: a device whose token was registered after the
///   cutoff stays (`None`).
/// - `dead_token_for_an_unknown_token_removes_nothing`.
/// - `large_user_with_full_platforms`: 100 devices on each of the three platforms.
/// - `unicode_and_longest_user_ids`: any Unicode, up to 164 characters, stored exactly.
/// - `metadata_can_be_replaced`: [`update_metadata`](Self::update_metadata) changes the
///   metadata and nothing else; an absent device gives `None`.
/// - `a_token_can_be_refreshed`: [`update_token`](Self::update_token) keeps id, user and
///   `created_at`, takes the new token and `token_registered_at`; the old token finds nothing.
/// - `a_refreshed_token_moves_from_the_device_that_had_it`: the device that held the new token
///   is deleted.
/// - `a_token_of_another_platform_is_refused`: `update_token` with another platform's token
///   fails with `Precondition` and changes nothing, whether or not the device exists.
/// - `interests_can_be_added_removed_and_listed`: [`add_interest`](Self::add_interest),
///   [`remove_interest`](Self::remove_interest) and
///   [`interests_of_device`](Self::interests_of_device) agree; listing is in name order and
///   pages.
/// - `setting_interests_replaces_the_whole_set`: [`set_interests`](Self::set_interests).
/// - `adding_beyond_the_maximum_is_refused`: answers `TooMany` and changes nothing.
/// - `interest_calls_on_an_unknown_device`: every one answers `None`.
/// - `a_device_in_several_published_interests_is_found_once`:
///   [`subscribers_page`](Self::subscribers_page) lists each device once, in id order, and
///   pages with `after`.
/// - `removing_a_device_removes_its_subscriptions`: also for `remove_user`,
///   `remove_device_by_token` and a device displaced by `update_token`.
/// - `a_renewed_device_keeps_its_interests`: registering a known token keeps its interests.
/// - `concurrent_subscriptions_stay_consistent`: many tasks adding and removing at once leave
///   every device's interests and the interest index in agreement.
/// - `device_fields_round_trip`: every field of every platform's token reads back equal.
/// - `data_survives_reopen` (stores that persist): what was written before closing is read back
///   after reopening.
#[async_trait]
pub trait DeviceStore: Send + Sync + std::fmt::Debug {
    /// Registers a device, or renews the device of the same platform that has the token's key
    /// when [`check_renewal`](crate::check_renewal) allows. The registration's id must be of
    /// its token's platform (else `Precondition`).
    async fn register_device(
        &self,
        registration: DeviceRegistration,
    ) -> Result<RegistrationOutcome, StoreError>;

    /// The device with this id.
    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError>;

    /// Deletes the device (and with it its association and interests); returns what was
    /// deleted.
    async fn remove_device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError>;

    /// Deletes the device that has the token's key, unless its token was registered after
    /// `registered_no_later_than`; returns what was deleted (`None`: no device has the token,
    /// or it registered it again since).
    async fn remove_device_by_token(
        &self,
        token: &PushToken,
        registered_no_later_than: Timestamp,
    ) -> Result<Option<Device>, StoreError>;

    /// The user's devices on every platform, oldest association first.
    async fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError>;

    /// Every device of the given users (up to 1000 users per call), each device once.
    async fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError>;

    /// Deletes every device of the user; returns what was deleted.
    async fn remove_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError>;

    /// Replaces a device's metadata, leaving everything else as it is; returns the device as
    /// stored.
    async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Option<Device>, StoreError>;

    /// Gives a device a new push token of its platform (an FCM token refresh), registered
    /// `at`, keeping its id, user and creation time. A device of the platform that held the
    /// new token is deleted first: the token has moved. Returns the device as stored. A token
    /// of another platform than the id's is a broken precondition (`Precondition`), checked
    /// before the device is looked for.
    async fn update_token(
        &self,
        id: &DeviceId,
        token: PushToken,
        at: Timestamp,
    ) -> Result<Option<Device>, StoreError>;

    /// Replaces a device's whole interest set in one atomic step. The caller has checked the
    /// set's size.
    async fn set_interests(
        &self,
        id: &DeviceId,
        interests: &BTreeSet<Interest>,
    ) -> Result<Option<()>, StoreError>;

    /// Subscribes a device to an interest, unless it already has `max` interests.
    async fn add_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
        max: usize,
    ) -> Result<Option<InterestChange>, StoreError>;

    /// Unsubscribes a device from an interest; answers whether it was subscribed.
    async fn remove_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<Option<bool>, StoreError>;

    /// A device's interests in name order, those after `after` only, at most `limit`.
    async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError>;

    /// One page of the devices subscribed to any of `interests`, each once however many it
    /// has, in device-id order, those after `after` only, at most `limit`: a publish pages
    /// through them. A page may be short while more follow (devices deleted as it was read);
    /// only an empty page ends the paging.
    async fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError>;

    /// Associates a device with a user in one atomic step: reads the device, asks
    /// `request.policy` for a plan ([`AssociationPolicy::plan_loading`] reads the user's
    /// devices on the platform only when it needs them), and applies the plan whole.
    async fn associate(
        &self,
        request: &AssociationRequest,
    ) -> Result<Option<AssociationOutcome>, StoreError>;
}

/// The precondition of [`DeviceStore::register_device`] and [`DeviceStore::update_token`]: a
/// device's push token is of the platform its id names (stores index devices per platform).
/// Stores call it before anything else, so a broken call fails the same way whether or not
/// the device exists.
pub fn check_token_platform(id: &DeviceId, token: &PushToken) -> Result<(), StoreError> {
    if id.platform() == token.platform() {
        Ok(())
    } else {
        Err(StoreError::precondition(format!(
            "a {} token cannot belong to {} device {id}",
            token.platform(),
            id.platform()
        )))
    }
}

/// Implements `DeviceStore` for a wrapper that dereferences to a store.
macro_rules! forward_device_store {
    ([$($generics:tt)*] $wrapper:ty) => {
        #[::async_trait::async_trait]
        impl<$($generics)*> $crate::DeviceStore for $wrapper {
            async fn register_device(
                &self,
                registration: $crate::DeviceRegistration,
            ) -> Result<$crate::RegistrationOutcome, $crate::StoreError> {
                (**self).register_device(registration).await
            }

            async fn device(
                &self,
                id: &$crate::DeviceId,
            ) -> Result<Option<$crate::Device>, $crate::StoreError> {
                (**self).device(id).await
            }

            async fn remove_device(
                &self,
                id: &$crate::DeviceId,
            ) -> Result<Option<$crate::Device>, $crate::StoreError> {
                (**self).remove_device(id).await
            }

            async fn remove_device_by_token(
                &self,
                token: &$crate::PushToken,
                registered_no_later_than: $crate::Timestamp,
            ) -> Result<Option<$crate::Device>, $crate::StoreError> {
                (**self)
                    .remove_device_by_token(token, registered_no_later_than)
                    .await
            }

            async fn devices_of_user(
                &self,
                user: &$crate::UserId,
            ) -> Result<Vec<$crate::Device>, $crate::StoreError> {
                (**self).devices_of_user(user).await
            }

            async fn devices_of_users(
                &self,
                users: &[$crate::UserId],
            ) -> Result<Vec<$crate::Device>, $crate::StoreError> {
                (**self).devices_of_users(users).await
            }

            async fn remove_user(
                &self,
                user: &$crate::UserId,
            ) -> Result<Vec<$crate::Device>, $crate::StoreError> {
                (**self).remove_user(user).await
            }

            async fn update_metadata(
                &self,
                id: &$crate::DeviceId,
                metadata: $crate::DeviceMetadata,
            ) -> Result<Option<$crate::Device>, $crate::StoreError> {
                (**self).update_metadata(id, metadata).await
            }

            async fn update_token(
                &self,
                id: &$crate::DeviceId,
                token: $crate::PushToken,
                at: $crate::Timestamp,
            ) -> Result<Option<$crate::Device>, $crate::StoreError> {
                (**self).update_token(id, token, at).await
            }

            async fn set_interests(
                &self,
                id: &$crate::DeviceId,
                interests: &::std::collections::BTreeSet<$crate::Interest>,
            ) -> Result<Option<()>, $crate::StoreError> {
                (**self).set_interests(id, interests).await
            }

            async fn add_interest(
                &self,
                id: &$crate::DeviceId,
                interest: &$crate::Interest,
                max: usize,
            ) -> Result<Option<$crate::InterestChange>, $crate::StoreError> {
                (**self).add_interest(id, interest, max).await
            }

            async fn remove_interest(
                &self,
                id: &$crate::DeviceId,
                interest: &$crate::Interest,
            ) -> Result<Option<bool>, $crate::StoreError> {
                (**self).remove_interest(id, interest).await
            }

            async fn interests_of_device(
                &self,
                id: &$crate::DeviceId,
                after: Option<&$crate::Interest>,
                limit: usize,
            ) -> Result<Option<Vec<$crate::Interest>>, $crate::StoreError> {
                (**self).interests_of_device(id, after, limit).await
            }

            async fn subscribers_page(
                &self,
                interests: &[$crate::Interest],
                after: Option<&$crate::DeviceId>,
                limit: usize,
            ) -> Result<Vec<$crate::Device>, $crate::StoreError> {
                (**self).subscribers_page(interests, after, limit).await
            }

            async fn associate(
                &self,
                request: &$crate::AssociationRequest,
            ) -> Result<Option<$crate::AssociationOutcome>, $crate::StoreError> {
                (**self).associate(request).await
            }
        }
    };
}

#[cfg(any(test, feature = "testing"))]
pub(crate) use forward_device_store;

forward_device_store!([T: DeviceStore + ?Sized] Arc<T>);
forward_device_store!([T: DeviceStore + ?Sized] Box<T>);
