//! The store's trees inside one sled transaction, and what every write reads and writes
//! through them: devices, the token index, users' lists, and a device's interests with their
//! index keys. (The publish journal's trees are in every transaction too; what the journal
//! reads and writes through them is in `journal::txn`.)
//!
//! sled may run a transaction closure more than once, so nothing here has effects outside
//! the transaction.

use beams_core::{
    AssociatedDevice, Device, DeviceId, Interest, Platform, PushToken, StoreError, UserId,
};
use sled::Transactional;
use sled::transaction::TransactionalTree;

use crate::codec;
use crate::error::{TxResult, abort, from_transaction};
use crate::keys;
use crate::layout::Trees;

/// The value of an interests-tree key: the key says everything.
pub(crate) const PRESENT: &[u8] = &[];

/// The store's trees inside one transaction.
pub(crate) struct Tx<'a> {
    pub(crate) devices: &'a TransactionalTree,
    pub(crate) tokens: &'a TransactionalTree,
    pub(crate) users: &'a TransactionalTree,
    pub(crate) device_interests: &'a TransactionalTree,
    pub(crate) interests: &'a TransactionalTree,
    pub(crate) meta: &'a TransactionalTree,
    pub(crate) publishes: &'a TransactionalTree,
    pub(crate) unfinished_publishes: &'a TransactionalTree,
    pub(crate) finished_publishes: &'a TransactionalTree,
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
            &self.meta,
            &self.publishes,
            &self.unfinished_publishes,
            &self.finished_publishes,
        )
            .transaction(
                |(
                    devices,
                    tokens,
                    users,
                    device_interests,
                    interests,
                    meta,
                    publishes,
                    unfinished_publishes,
                    finished_publishes,
                )| {
                    f(&Tx {
                        devices,
                        tokens,
                        users,
                        device_interests,
                        interests,
                        meta,
                        publishes,
                        unfinished_publishes,
                        finished_publishes,
                    })
                },
            )
            .map_err(from_transaction)
    }
}

impl Tx<'_> {
    pub(crate) fn device(&self, id: &DeviceId) -> TxResult<Option<Device>> {
        let key = keys::device(id);
        match self.devices.get(key)? {
            Some(bytes) => codec::decode_device(key, &bytes).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    pub(crate) fn put_device(&self, device: &Device) -> TxResult<()> {
        let bytes = codec::encode_device(device).map_err(abort)?;
        self.devices.insert(keys::device(&device.id), bytes)?;
        Ok(())
    }

    /// The user's devices on `platform`, as listed in the users tree.
    pub(crate) fn associated(
        &self,
        user: &UserId,
        platform: Platform,
    ) -> TxResult<Vec<AssociatedDevice>> {
        match self.users.get(keys::user(user, platform))? {
            Some(bytes) => {
                codec::decode_associated(&bytes, || keys::name::user(user, platform)).map_err(abort)
            }
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn put_associated(
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
    pub(crate) fn listed_device(&self, user: &UserId, id: &DeviceId) -> TxResult<Device> {
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
    pub(crate) fn unlist(&self, device: &Device) -> TxResult<()> {
        let Some(user) = &device.user else {
            return Ok(());
        };
        let platform = device.platform();
        let mut listed = self.associated(user, platform)?;
        listed.retain(|d| d.id != device.id);
        self.put_associated(user, platform, &listed)
    }

    /// Deletes `device` and every index entry that names it, its subscriptions included.
    pub(crate) fn remove(&self, device: &Device) -> TxResult<()> {
        self.unlist(device)?;
        self.remove_unlisted(device)
    }

    /// Deletes `device` and its index entries but its user's list, which the caller handles.
    pub(crate) fn remove_unlisted(&self, device: &Device) -> TxResult<()> {
        self.clear_interests(&device.id)?;
        let token = keys::token(&device.token);
        if self.tokens.get(&token)?.as_deref() == Some(keys::device(&device.id)) {
            self.tokens.remove(token)?;
        }
        self.devices.remove(keys::device(&device.id))?;
        Ok(())
    }

    /// The device that has `token`'s key on its platform.
    pub(crate) fn device_by_token(&self, token: &PushToken) -> TxResult<Option<Device>> {
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

    /// Whether a device has this id.
    pub(crate) fn exists(&self, id: &DeviceId) -> TxResult<bool> {
        Ok(self.devices.get(keys::device(id))?.is_some())
    }

    /// The device's interests, in name order.
    pub(crate) fn interests_of(&self, id: &DeviceId) -> TxResult<Vec<Interest>> {
        let key = keys::device(id);
        match self.device_interests.get(key)? {
            Some(bytes) => {
                codec::decode_interests(&bytes, || keys::name::device_interests(key)).map_err(abort)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Stores the device's list of interests (in name order, each once); the caller writes
    /// the interests-tree keys that changed.
    pub(crate) fn put_interests<'a>(
        &self,
        id: &DeviceId,
        interests: impl IntoIterator<Item = &'a Interest>,
    ) -> TxResult<()> {
        let key = keys::device(id);
        let bytes = codec::encode_interests(interests);
        if bytes.is_empty() {
            self.device_interests.remove(key)?;
        } else {
            self.device_interests.insert(key, bytes)?;
        }
        Ok(())
    }

    /// Unsubscribes the device from everything: its list and its interests-tree keys go.
    pub(crate) fn clear_interests(&self, id: &DeviceId) -> TxResult<()> {
        let key = keys::device(id);
        let Some(bytes) = self.device_interests.remove(key)? else {
            return Ok(());
        };
        let interests =
            codec::decode_interests(&bytes, || keys::name::device_interests(key)).map_err(abort)?;
        for interest in &interests {
            self.interests.remove(keys::interest(interest, id))?;
        }
        Ok(())
    }
}
