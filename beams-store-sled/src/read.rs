//! The reads: plain sled gets, outside transactions.
//!
//! Each get sees one committed state of its key, so a listing read key by key may straddle a
//! concurrent write. The reads make that harmless: a user's listing keeps only devices that
//! are still associated with the user when read, and no per-platform list ever holds more
//! than the limit, so no reader sees more than the limit either.

use std::collections::BTreeSet;

use beams_core::{Device, DeviceId, Platform, StoreError, UserId, association_order};

use crate::codec;
use crate::error::from_sled;
use crate::keys;
use crate::layout::Trees;

impl Trees {
    /// The device with this id.
    pub(crate) fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let key = keys::device(id);
        match self.devices.get(key).map_err(from_sled)? {
            Some(bytes) => codec::decode_device(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The user's devices on every platform, in association order.
    pub(crate) fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        let mut devices = Vec::new();
        for platform in Platform::ALL {
            let Some(bytes) = self
                .users
                .get(keys::user(user, platform))
                .map_err(from_sled)?
            else {
                continue;
            };
            let listed = codec::decode_associated(&bytes, || keys::name::user(user, platform))?;
            for entry in listed {
                if let Some(device) = self.device(&entry.id)?
                    && device.user.as_ref() == Some(user)
                {
                    devices.push(device);
                }
            }
        }
        devices.sort_by(association_order);
        Ok(devices)
    }

    /// Every device of the given users, each user once.
    pub(crate) fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError> {
        let unique: BTreeSet<&UserId> = users.iter().collect();
        let mut devices = Vec::new();
        for user in unique {
            devices.extend(self.devices_of_user(user)?);
        }
        Ok(devices)
    }
}
