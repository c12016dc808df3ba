//! The writes: each one sled transaction over all the trees (devices, tokens, users, both
//! interest trees and the journal's, see [`Tx`]), so an index never points at a missing
//! device nor misses an existing one, also after a crash. The journal's own writes are in
//! `journal::txn`; they travel through the same writer as [`WriteOp::Journal`].
//!
//! sled may run a transaction closure more than once, so the functions below only read and
//! write through the transaction and return what they decided.

use std::collections::BTreeSet;

use beams_core::{
    AssociatedDevice, AssociationOutcome, AssociationRequest, Device, DeviceId, DeviceMetadata,
    DeviceRegistration, Interest, InterestChange, Platform, PushToken, RegistrationOutcome,
    StoreError, StoreErrorKind, Timestamp, UserId, check_renewal,
};
use sled::transaction::ConflictableTransactionError;

use crate::error::{TxResult, abort};
use crate::interests;
use crate::journal::{self, JournalOp, JournalWritten};
use crate::keys;
use crate::tx::Tx;

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
    /// A change to the publish journal.
    Journal(JournalOp),
}

/// What a [`WriteOp`] did.
#[derive(Debug)]
pub(crate) enum Written {
    Registered(RegistrationOutcome),
    Removed(Option<Device>),
    RemovedAll(Vec<Device>),
    Updated(Option<Device>),
    /// `None` (in each of these) for no such device.
    Associated(Option<AssociationOutcome>),
    InterestsSet(Option<()>),
    InterestAdded(Option<InterestChange>),
    /// Whether the device was subscribed.
    InterestRemoved(Option<bool>),
    Journal(JournalWritten),
}

impl Written {
    /// Whether the operation changed the store.
    pub(crate) fn changed(&self) -> bool {
        match self {
            Written::Registered(outcome) => outcome.device().is_some(),
            Written::Removed(device) | Written::Updated(device) => device.is_some(),
            Written::RemovedAll(removed) => !removed.is_empty(),
            Written::Associated(outcome) => {
                matches!(outcome, Some(AssociationOutcome::Associated { .. }))
            }
            Written::InterestsSet(found) => found.is_some(),
            Written::InterestAdded(change) => *change == Some(InterestChange::Added),
            Written::InterestRemoved(removed) => *removed == Some(true),
            Written::Journal(written) => written.changed(),
        }
    }
}

/// Applies `op` inside the transaction `tx`.
pub(crate) fn apply(tx: &Tx<'_>, op: &WriteOp) -> TxResult<Written> {
    Ok(match op {
        WriteOp::Register(registration) => Written::Registered(register(tx, registration)?),
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
        WriteOp::Journal(op) => Written::Journal(journal::apply(tx, op)?),
    })
}

/// Registers a device, or renews the device that has the token's key.
fn register(tx: &Tx<'_>, registration: &DeviceRegistration) -> TxResult<RegistrationOutcome> {
    if let Some(mut device) = tx.device_by_token(&registration.token)? {
        if let Err(refusal) = check_renewal(&device, registration) {
            return Ok(RegistrationOutcome::Refused(refusal));
        }
        device.metadata = registration.metadata.clone();
        device.token_registered_at = registration.at;
        tx.put_device(&device)?;
        return Ok(RegistrationOutcome::Renewed(device));
    }
    // A caller reusing an id replaces that device whole, its index entries included.
    if let Some(old) = tx.device(&registration.id)? {
        tx.remove(&old)?;
    } else {
        // A new device starts with no interests, whatever a damaged store left under its id.
        tx.clear_interests(&registration.id)?;
    }
    // sled may run the transaction again: the registration stays for the next run.
    let device = registration.clone().into_device();
    tx.tokens
        .insert(keys::token(&device.token), keys::device(&device.id))?;
    tx.put_device(&device)?;
    Ok(RegistrationOutcome::Registered(device))
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

/// Gives a device a new token of its platform (the caller checked it is), deleting the
/// device that held it.
fn update_token(
    tx: &Tx<'_>,
    id: &DeviceId,
    token: &PushToken,
    at: Timestamp,
) -> TxResult<Option<Device>> {
    let Some(mut device) = tx.device(id)? else {
        return Ok(None);
    };
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
fn associate(tx: &Tx<'_>, request: &AssociationRequest) -> TxResult<Option<AssociationOutcome>> {
    let Some(mut device) = tx.device(&request.device)? else {
        return Ok(None);
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
    let evict = match plan.to_apply() {
        Ok(evict) => evict,
        Err(unchanged) => return Ok(Some(unchanged)),
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
    Ok(Some(AssociationOutcome::Associated { evicted: evict }))
}
