//! The writes: each one sled transaction over all the trees (devices, tokens, users and both
//! interest trees), so an index never points at a missing device nor misses an existing one,
//! also after a crash.
//!
//! sled may run a transaction closure more than once, so the closures below only read and
//! write through the transaction and return what they decided.

use std::collections::BTreeSet;

use beams_core::{
    AssociatedDevice, AssociationOutcome, AssociationPlan, AssociationRefusal, AssociationRequest,
    Device, DeviceId, DeviceMetadata, DeviceRegistration, Interest, InterestChange, Platform,
    PushToken, StoreError, StoreErrorKind, Timestamp, UserId,
};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::codec;
use crate::error::{TxResult, abort, from_transaction};
use crate::interests;
use crate::keys;
use crate::layout::Trees;

/// A change to make in one transaction (possibly together with others).
#[derive(Debug)]
pub(crate) enum WriteOp {
    Register(DeviceRegistration),
    RemoveDevice(DeviceId),
    RemoveByToken(PushToken, Timestamp),
    RemoveUser(UserId),
    UpdateMetadata(DeviceId, DeviceMetadata),
    UpdateToken(DeviceId, PushToken, Timestamp),
    Associate(AssociationRequest),
    SetInterests(DeviceId, BTreeSet<Interest>),
    /// The device, the interest, and the most interests the device may have.
    AddInterest(DeviceId, Interest, usize),
    RemoveInterest(DeviceId, Interest),
}

/// What a [`WriteOp`] did.
#[derive(Debug)]
pub(crate) enum Written {
    Device(Device),
    Removed(Option<Device>),
    RemovedAll(Vec<Device>),
    Updated(Option<Device>),
    Associated(AssociationOutcome),
    /// Whether the device exists (and so took the set).
    InterestsSet(bool),
    InterestAdded(InterestChange),
    /// `None` for no such device, else whether it was subscribed.
    InterestRemoved(Option<bool>),
}

impl Written {
    /// Whether the operation changed the store.
    pub(crate) fn changed(&self) -> bool {
        match self {
            Written::Device(_) => true,
            Written::Removed(device) | Written::Updated(device) => device.is_some(),
            Written::RemovedAll(removed) => !removed.is_empty(),
            Written::Associated(outcome) => {
                matches!(outcome, AssociationOutcome::Associated { .. })
            }
            Written::InterestsSet(found) => *found,
            Written::InterestAdded(change) => *change == InterestChange::Added,
            Written::InterestRemoved(removed) => *removed == Some(true),
        }
    }
}

/// Applies `op` inside the transaction `tx`.
pub(crate) fn apply(tx: &Tx<'_>, op: &WriteOp) -> TxResult<Written> {
    Ok(match op {
        WriteOp::Register(registration) => Written::Device(register(tx, registration)?),
        WriteOp::RemoveDevice(id) => Written::Removed(remove_device(tx, id)?),
        WriteOp::RemoveByToken(token, cutoff) => {
            Written::Removed(remove_device_by_token(tx, token, *cutoff)?)
        }
        WriteOp::RemoveUser(user) => Written::RemovedAll(remove_user(tx, user)?),
        WriteOp::UpdateMetadata(id, metadata) => {
            Written::Updated(update_metadata(tx, id, metadata)?)
        }
        WriteOp::UpdateToken(id, token, at) => Written::Updated(update_token(tx, id, token, *at)?),
        WriteOp::Associate(request) => Written::Associated(associate(tx, request)?),
        WriteOp::SetInterests(id, set) => {
            Written::InterestsSet(interests::set_interests(tx, id, set)?)
        }
        WriteOp::AddInterest(id, interest, max) => {
            Written::InterestAdded(interests::add_interest(tx, id, interest, *max)?)
        }
        WriteOp::RemoveInterest(id, interest) => {
            Written::InterestRemoved(interests::remove_interest(tx, id, interest)?)
        }
    })
}

/// The store's trees inside one transaction.
pub(crate) struct Tx<'a> {
    pub(crate) devices: &'a TransactionalTree,
    pub(crate) tokens: &'a TransactionalTree,
    pub(crate) users: &'a TransactionalTree,
    pub(crate) device_interests: &'a TransactionalTree,
    pub(crate) interests: &'a TransactionalTree,
}

impl Trees {
    /// Runs `f` as one transaction over all the trees.
    pub(crate) fn transaction<T>(
        &self,
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        (
            &self.devices,
            &self.tokens,
            &self.users,
            &self.device_interests,
            &self.interests,
        )
            .transaction(|(devices, tokens, users, device_interests, interests)| {
                f(&Tx {
                    devices,
                    tokens,
                    users,
                    device_interests,
                    interests,
                })
            })
            .map_err(from_transaction)
    }
}

impl Tx<'_> {
    fn device(&self, id: &DeviceId) -> TxResult<Option<Device>> {
        let key = keys::device(id);
        match self.devices.get(key)? {
            Some(bytes) => codec::decode_device(key, &bytes).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    fn put_device(&self, device: &Device) -> TxResult<()> {
        let bytes = codec::encode_device(device).map_err(abort)?;
        self.devices.insert(keys::device(&device.id), bytes)?;
        Ok(())
    }

    /// The user's devices on `platform`, as listed in the users tree.
    fn associated(&self, user: &UserId, platform: Platform) -> TxResult<Vec<AssociatedDevice>> {
        match self.users.get(keys::user(user, platform))? {
            Some(bytes) => {
                codec::decode_associated(&bytes, || keys::name::user(user, platform)).map_err(abort)
            }
            None => Ok(Vec::new()),
        }
    }

    fn put_associated(
        &self,
        user: &UserId,
        platform: Platform,
        devices: &[AssociatedDevice],
    ) -> TxResult<()> {
        let key = keys::user(user, platform);
        if devices.is_empty() {
            self.users.remove(key)?;
        } else {
            self.users.insert(key, codec::encode_associated(devices))?;
        }
        Ok(())
    }

    /// A device the user's list names, which must exist and be associated with the user.
    fn listed_device(&self, user: &UserId, id: &DeviceId) -> TxResult<Device> {
        let name = || keys::name::user(user, id.platform());
        match self.device(id)? {
            Some(device) if device.user.as_ref() == Some(user) => Ok(device),
            Some(_) => Err(abort(codec::corrupt(
                name(),
                "a listed device has another user",
            ))),
            None => Err(abort(codec::corrupt(
                name(),
                "a listed device does not exist",
            ))),
        }
    }

    /// Takes `device` off its user's list, if it has a user; the device itself is untouched.
    fn unlist(&self, device: &Device) -> TxResult<()> {
        let Some(user) = &device.user else {
            return Ok(());
        };
        let platform = device.platform();
        let mut listed = self.associated(user, platform)?;
        listed.retain(|d| d.id != device.id);
        self.put_associated(user, platform, &listed)
    }

    /// Deletes `device` and every index entry that names it, its subscriptions included.
    fn remove(&self, device: &Device) -> TxResult<()> {
        self.unlist(device)?;
        self.remove_unlisted(device)
    }

    /// Deletes `device` and its index entries but its user's list, which the caller handles.
    fn remove_unlisted(&self, device: &Device) -> TxResult<()> {
        self.clear_interests(&device.id)?;
        let token = keys::token(&device.token);
        if self.tokens.get(&token)?.as_deref() == Some(keys::device(&device.id)) {
            self.tokens.remove(token)?;
        }
        self.devices.remove(keys::device(&device.id))?;
        Ok(())
    }

    /// The device that has `token`'s key on its platform.
    fn device_by_token(&self, token: &PushToken) -> TxResult<Option<Device>> {
        let Some(id) = self.tokens.get(keys::token(token))? else {
            return Ok(None);
        };
        let id = codec::decode_device_id(&id, || keys::name::token(token)).map_err(abort)?;
        match self.device(&id)? {
            Some(device) => Ok(Some(device)),
            None => Err(abort(codec::corrupt(
                keys::name::token(token),
                "the token's device does not exist",
            ))),
        }
    }
}

/// Registers a device, or renews the device that has the token's key.
fn register(tx: &Tx<'_>, registration: &DeviceRegistration) -> TxResult<Device> {
    if let Some(mut device) = tx.device_by_token(&registration.token)? {
        tx.unlist(&device)?;
        device.user = None;
        device.associated_at = None;
        device.token = registration.token.clone();
        device.metadata = registration.metadata.clone();
        device.token_registered_at = registration.at;
        tx.put_device(&device)?;
        return Ok(device);
    }
    // A caller reusing an id replaces that device whole, its index entries included.
    if let Some(old) = tx.device(&registration.id)? {
        tx.remove(&old)?;
    } else {
        // A new device starts with no interests, whatever a damaged store left under its id.
        tx.clear_interests(&registration.id)?;
    }
    let device = Device {
        id: registration.id.clone(),
        token: registration.token.clone(),
        user: None,
        metadata: registration.metadata.clone(),
        created_at: registration.at,
        associated_at: None,
        token_registered_at: registration.at,
    };
    tx.tokens
        .insert(keys::token(&device.token), keys::device(&device.id))?;
    tx.put_device(&device)?;
    Ok(device)
}

/// Deletes a device; returns it as it was stored.
fn remove_device(tx: &Tx<'_>, id: &DeviceId) -> TxResult<Option<Device>> {
    let Some(device) = tx.device(id)? else {
        return Ok(None);
    };
    tx.remove(&device)?;
    Ok(Some(device))
}

/// Deletes the device that has the token's key unless it was registered after the cutoff.
fn remove_device_by_token(
    tx: &Tx<'_>,
    token: &PushToken,
    registered_no_later_than: Timestamp,
) -> TxResult<Option<Device>> {
    match tx.device_by_token(token)? {
        Some(device) if device.token_registered_at <= registered_no_later_than => {
            tx.remove(&device)?;
            Ok(Some(device))
        }
        _ => Ok(None),
    }
}

/// Deletes every device of the user and the user's lists; returns the devices in association
/// order.
fn remove_user(tx: &Tx<'_>, user: &UserId) -> TxResult<Vec<Device>> {
    let mut removed = Vec::new();
    for platform in Platform::ALL {
        for listed in tx.associated(user, platform)? {
            let device = tx.listed_device(user, &listed.id)?;
            tx.remove_unlisted(&device)?;
            removed.push(device);
        }
        tx.users.remove(keys::user(user, platform))?;
    }
    removed.sort_by(beams_core::association_order);
    Ok(removed)
}

/// Replaces a device's metadata.
fn update_metadata(
    tx: &Tx<'_>,
    id: &DeviceId,
    metadata: &DeviceMetadata,
) -> TxResult<Option<Device>> {
    let Some(mut device) = tx.device(id)? else {
        return Ok(None);
    };
    device.metadata = metadata.clone();
    tx.put_device(&device)?;
    Ok(Some(device))
}

/// Gives a device a new token of its platform, deleting the device that held it.
fn update_token(
    tx: &Tx<'_>,
    id: &DeviceId,
    token: &PushToken,
    at: Timestamp,
) -> TxResult<Option<Device>> {
    let Some(mut device) = tx.device(id)? else {
        return Ok(None);
    };
    if token.platform() != device.platform() {
        // The user index is per platform: a device cannot change platform under it.
        return Err(abort(StoreError::with_source(
            StoreErrorKind::Backend,
            format!(
                "a {} token cannot be given to {} device {id}",
                token.platform(),
                device.platform()
            ),
        )));
    }
    if let Some(holder) = tx.device_by_token(token)?
        && holder.id != device.id
    {
        tx.remove(&holder)?;
    }
    let old = keys::token(&device.token);
    if tx.tokens.get(&old)?.as_deref() == Some(keys::device(&device.id)) {
        tx.tokens.remove(old)?;
    }
    tx.tokens
        .insert(keys::token(token), keys::device(&device.id))?;
    device.token = token.clone();
    device.token_registered_at = at;
    tx.put_device(&device)?;
    Ok(Some(device))
}

/// Associates a device with a user: reads, lets the policy decide, applies the plan whole.
fn associate(tx: &Tx<'_>, request: &AssociationRequest) -> TxResult<AssociationOutcome> {
    let Some(mut device) = tx.device(&request.device)? else {
        return Ok(AssociationOutcome::Refused(
            AssociationRefusal::DeviceNotFound,
        ));
    };
    let platform = device.platform();
    let mut listed = None;
    let plan =
        request
            .policy
            .plan_loading(&device.id, device.user.as_ref(), &request.user, || {
                let read = tx.associated(&request.user, platform)?;
                listed = Some(read.clone());
                Ok::<_, ConflictableTransactionError<StoreError>>(read)
            })?;
    let evict = match plan {
        AssociationPlan::Unchanged => return Ok(AssociationOutcome::AlreadyAssociated),
        AssociationPlan::Refuse(refusal) => return Ok(AssociationOutcome::Refused(refusal)),
        AssociationPlan::Associate { evict } => evict,
    };
    for id in &evict {
        let mut evicted = tx.listed_device(&request.user, id)?;
        evicted.user = None;
        evicted.associated_at = None;
        tx.put_device(&evicted)?;
    }
    // The policy reads the list whenever it plans an association.
    let Some(mut listed) = listed else {
        return Err(abort(StoreError::with_source(
            StoreErrorKind::Backend,
            "the policy planned an association without reading the user's devices",
        )));
    };
    listed.retain(|d| d.id != device.id && !evict.contains(&d.id));
    // The list is stored in association order.
    let entry = AssociatedDevice {
        associated_at: request.at,
        id: device.id.clone(),
    };
    listed.insert(listed.partition_point(|d| *d < entry), entry);
    tx.put_associated(&request.user, platform, &listed)?;
    device.user = Some(request.user.clone());
    device.associated_at = Some(request.at);
    tx.put_device(&device)?;
    Ok(AssociationOutcome::Associated { evicted: evict })
}
