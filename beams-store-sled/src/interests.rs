//! Device Interests: subscribing and unsubscribing (inside the store's transactions), and the
//! two listings (plain reads).
//!
//! A device's interests are one value in `beams.device_interests` and one key per interest in
//! `beams.interests` (see [`keys`](crate::keys)). Every write that touches them is one
//! transaction with the device: [`set_interests`], [`add_interest`] and [`remove_interest`]
//! read the device and its list, decide, and write the list and the keys that changed;
//! deleting a device (by id, by user, by dead token, or as the holder of a token another
//! device takes) deletes its list and its keys in the transaction that deletes it. A
//! transaction cannot scan, and need not: the list says exactly which keys to write.
//! The maximum is checked against the list read in the same transaction, so concurrent
//! subscriptions never pass it.
//!
//! The listings read outside transactions, like the other reads. An index key whose device is
//! gone, because it was removed while the listing ran or because a damaged store left the key
//! behind, is skipped: a publish reaches the devices that exist.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound;

use beams_core::{Device, DeviceId, Interest, InterestChange, StoreError};

use crate::codec;
use crate::error::{TxResult, from_sled};
use crate::keys;
use crate::layout::Trees;
use crate::tx::{PRESENT, Tx};

/// Replaces a device's interests; `None` if there is no such device.
pub(crate) fn set_interests(
    tx: &Tx<'_>,
    id: &DeviceId,
    interests: &BTreeSet<Interest>,
) -> TxResult<Option<()>> {
    if !tx.exists(id)? {
        return Ok(None);
    }
    let old = tx.interests_of(id)?;
    if old.iter().eq(interests) {
        return Ok(Some(()));
    }
    for interest in &old {
        if !interests.contains(interest) {
            tx.interests.remove(keys::interest(interest, id))?;
        }
    }
    for interest in interests {
        if old.binary_search(interest).is_err() {
            tx.interests.insert(keys::interest(interest, id), PRESENT)?;
        }
    }
    tx.put_interests(id, interests)?;
    Ok(Some(()))
}

/// Subscribes a device to an interest unless it has `max` already; `None` if there is no
/// such device.
pub(crate) fn add_interest(
    tx: &Tx<'_>,
    id: &DeviceId,
    interest: &Interest,
    max: usize,
) -> TxResult<Option<InterestChange>> {
    if !tx.exists(id)? {
        return Ok(None);
    }
    let mut interests = tx.interests_of(id)?;
    let Err(at) = interests.binary_search(interest) else {
        return Ok(Some(InterestChange::AlreadySubscribed));
    };
    if interests.len() >= max {
        return Ok(Some(InterestChange::TooMany { max }));
    }
    interests.insert(at, interest.clone());
    tx.put_interests(id, &interests)?;
    tx.interests.insert(keys::interest(interest, id), PRESENT)?;
    Ok(Some(InterestChange::Added))
}

/// Unsubscribes a device from an interest: `None` if there is no such device, else whether it
/// was subscribed.
pub(crate) fn remove_interest(
    tx: &Tx<'_>,
    id: &DeviceId,
    interest: &Interest,
) -> TxResult<Option<bool>> {
    if !tx.exists(id)? {
        return Ok(None);
    }
    let mut interests = tx.interests_of(id)?;
    let Ok(at) = interests.binary_search(interest) else {
        return Ok(Some(false));
    };
    interests.remove(at);
    tx.put_interests(id, &interests)?;
    tx.interests.remove(keys::interest(interest, id))?;
    Ok(Some(true))
}

/// One interest's devices, in id order, from a prefix scan of the interests tree.
struct Scan<'a> {
    interest: &'a Interest,
    prefix_len: usize,
    keys: sled::Iter,
}

impl<'a> Scan<'a> {
    /// The interest's keys for devices after `after`.
    fn new(trees: &Trees, interest: &'a Interest, after: Option<&DeviceId>) -> Self {
        let prefix = keys::interest_prefix(interest);
        let prefix_len = prefix.len();
        let start = match after {
            Some(after) => Bound::Excluded(keys::interest(interest, after)),
            None => Bound::Included(prefix.clone()),
        };
        // `name 0x00` is followed by `name 0x01`: the range holds exactly the prefix's keys.
        let mut end = prefix;
        end.pop();
        end.push(1);
        Scan {
            interest,
            prefix_len,
            keys: trees.interests.range((start, Bound::Excluded(end))),
        }
    }

    /// The next device id.
    fn next_id(&mut self) -> Result<Option<DeviceId>, StoreError> {
        let Some(entry) = self.keys.next() else {
            return Ok(None);
        };
        let (key, _) = entry.map_err(from_sled)?;
        let id = key.get(self.prefix_len..).unwrap_or_default();
        codec::decode_device_id(id, || keys::name::interest(self.interest, &key)).map(Some)
    }
}

impl Trees {
    /// A device's interests in name order, those after `after` only, at most `limit`; `None`
    /// if there is no such device.
    pub(crate) fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError> {
        let key = keys::device(id);
        // The list first: if the device is removed in between, the answer is that it is gone,
        // never the list of a device that was not there.
        let listed = self.device_interests.get(key).map_err(from_sled)?;
        if !self.devices.contains_key(key).map_err(from_sled)? {
            return Ok(None);
        }
        let Some(bytes) = listed else {
            return Ok(Some(Vec::new()));
        };
        let interests = codec::decode_interests(&bytes, || keys::name::device_interests(key))?;
        let start = after.map_or(0, |after| interests.partition_point(|i| i <= after));
        Ok(Some(
            interests.into_iter().skip(start).take(limit).collect(),
        ))
    }

    /// Devices subscribed to any of `interests`, each once, in id order, those after `after`
    /// only, at most `limit`: a merge of the interests' scans.
    pub(crate) fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let unique: BTreeSet<&Interest> = interests.iter().collect();
        let mut scans: Vec<Scan<'_>> = unique
            .into_iter()
            .map(|interest| Scan::new(self, interest, after))
            .collect();
        // Each scan's next id, smallest first.
        let mut heads = BinaryHeap::with_capacity(scans.len());
        for (n, scan) in scans.iter_mut().enumerate() {
            if let Some(id) = scan.next_id()? {
                heads.push(Reverse((id, n)));
            }
        }
        let mut devices = Vec::new();
        let mut last: Option<DeviceId> = None;
        while devices.len() < limit
            && let Some(Reverse((id, n))) = heads.pop()
        {
            if let Some(scan) = scans.get_mut(n)
                && let Some(next) = scan.next_id()?
            {
                heads.push(Reverse((next, n)));
            }
            if last.as_ref() == Some(&id) {
                continue;
            }
            // Gone since its key was read, or a key a damaged store left behind: skipped, so
            // a page is short only at the end.
            if let Some(device) = self.device(&id)? {
                devices.push(device);
            }
            last = Some(id);
        }
        Ok(devices)
    }
}
