//! `MemoryDeviceStore`: a `DeviceStore` in a map, for tests and single-process experiments.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{
    AssociatedDevice, AssociationOutcome, AssociationRequest, Device, DeviceId, DeviceMetadata,
    DeviceRegistration, DeviceStore, Interest, InterestChange, Platform, PushToken,
    RegistrationOutcome, StoreError, Timestamp, UserId, association_order, check_renewal,
    check_token_platform,
};

/// A `DeviceStore` that keeps everything in memory behind one lock. Clones share the data.
///
/// Every operation is atomic because it runs under the lock, which is never held across an
/// `.await`. Nothing survives the process.
///
/// ```
/// use beams_core::{DeviceStore, MemoryDeviceStore, UserId};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryDeviceStore::new();
/// let devices = store.devices_of_user(&UserId::new("alice")?).await?;
/// assert!(devices.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryDeviceStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    devices: HashMap<DeviceId, Device>,
    by_token: HashMap<(Platform, String), DeviceId>,
    by_user: HashMap<UserId, BTreeSet<DeviceId>>,
    interests: HashMap<DeviceId, BTreeSet<Interest>>,
    by_interest: HashMap<Interest, BTreeSet<DeviceId>>,
}

impl MemoryDeviceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many devices are stored.
    pub fn len(&self) -> usize {
        self.lock().devices.len()
    }

    /// Whether no device is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave a half-applied change: every
        // mutation below completes without panicking, so the data is still whole.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn token_key(token: &PushToken) -> (Platform, String) {
        (token.platform(), token.key().to_owned())
    }

    fn detach_user(&mut self, id: &DeviceId) {
        let Some(device) = self.devices.get_mut(id) else {
            return;
        };
        if let Some(user) = device.user.take()
            && let Some(ids) = self.by_user.get_mut(&user)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_user.remove(&user);
            }
        }
        device.associated_at = None;
    }

    /// Deletes a device and its index entries; returns it as it was stored.
    fn remove(&mut self, id: &DeviceId) -> Option<Device> {
        let device = self.devices.get(id)?.clone();
        self.detach_user(id);
        self.set_interests(id, BTreeSet::new());
        self.devices.remove(id);
        self.by_token.remove(&Self::token_key(&device.token));
        Some(device)
    }

    fn devices_of_user(&self, user: &UserId) -> Vec<Device> {
        let mut devices: Vec<Device> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.devices.get(id))
            .cloned()
            .collect();
        devices.sort_by(association_order);
        devices
    }

    /// Replaces a device's interests, keeping the interest index in step.
    fn set_interests(&mut self, id: &DeviceId, interests: BTreeSet<Interest>) {
        let old = self.interests.remove(id).unwrap_or_default();
        for interest in old.difference(&interests) {
            self.unindex(interest, id);
        }
        for interest in interests.difference(&old) {
            self.index(interest, id);
        }
        if !interests.is_empty() {
            self.interests.insert(id.clone(), interests);
        }
    }

    fn index(&mut self, interest: &Interest, id: &DeviceId) {
        self.by_interest
            .entry(interest.clone())
            .or_default()
            .insert(id.clone());
    }

    fn unindex(&mut self, interest: &Interest, id: &DeviceId) {
        if let Some(devices) = self.by_interest.get_mut(interest) {
            devices.remove(id);
            if devices.is_empty() {
                self.by_interest.remove(interest);
            }
        }
    }

    /// The policy's view of the user's devices on `platform`.
    fn associated(&self, user: &UserId, platform: Platform) -> Vec<AssociatedDevice> {
        self.by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter(|id| id.platform() == platform)
            .filter_map(|id| self.devices.get(id).and_then(AssociatedDevice::of))
            .collect()
    }
}

#[async_trait]
impl DeviceStore for MemoryDeviceStore {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
    ) -> Result<RegistrationOutcome, StoreError> {
        check_token_platform(&registration.id, &registration.token)?;
        let mut inner = self.lock();
        let key = Inner::token_key(&registration.token);
        let holder = inner.by_token.get(&key).cloned();
        if let Some(device) = holder.and_then(|id| inner.devices.get_mut(&id)) {
            if let Err(refusal) = check_renewal(device, &registration) {
                return Ok(RegistrationOutcome::Refused(refusal));
            }
            device.metadata = registration.metadata;
            device.token_registered_at = registration.at;
            return Ok(RegistrationOutcome::Renewed(device.clone()));
        }
        let device = registration.into_device();
        // A caller reusing an id replaces that device whole, token index included.
        inner.remove(&device.id);
        inner.by_token.insert(key, device.id.clone());
        inner.devices.insert(device.id.clone(), device.clone());
        Ok(RegistrationOutcome::Registered(device))
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self.lock().devices.get(id).cloned())
    }

    async fn remove_device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self.lock().remove(id))
    }

    async fn remove_device_by_token(
        &self,
        token: &PushToken,
        registered_no_later_than: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        let mut inner = self.lock();
        let Some(id) = inner.by_token.get(&Inner::token_key(token)).cloned() else {
            return Ok(None);
        };
        let reregistered = inner
            .devices
            .get(&id)
            .is_none_or(|d| d.token_registered_at > registered_no_later_than);
        if reregistered {
            return Ok(None);
        }
        Ok(inner.remove(&id))
    }

    async fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        Ok(self.lock().devices_of_user(user))
    }

    async fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError> {
        let inner = self.lock();
        let unique: BTreeSet<&UserId> = users.iter().collect();
        Ok(unique
            .into_iter()
            .flat_map(|user| inner.devices_of_user(user))
            .collect())
    }

    async fn remove_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        let mut inner = self.lock();
        let devices = inner.devices_of_user(user);
        for device in &devices {
            inner.remove(&device.id);
        }
        Ok(devices)
    }

    async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Option<Device>, StoreError> {
        let mut inner = self.lock();
        Ok(inner.devices.get_mut(id).map(|device| {
            device.metadata = metadata;
            device.clone()
        }))
    }

    async fn update_token(
        &self,
        id: &DeviceId,
        token: PushToken,
        at: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        check_token_platform(id, &token)?;
        let mut inner = self.lock();
        let Some(old_key) = inner.devices.get(id).map(|d| Inner::token_key(&d.token)) else {
            return Ok(None);
        };
        let new_key = Inner::token_key(&token);
        if let Some(holder) = inner.by_token.get(&new_key).cloned()
            && &holder != id
        {
            inner.remove(&holder);
        }
        inner.by_token.remove(&old_key);
        inner.by_token.insert(new_key, id.clone());
        Ok(inner.devices.get_mut(id).map(|device| {
            device.token = token;
            device.token_registered_at = at;
            device.clone()
        }))
    }

    async fn set_interests(
        &self,
        id: &DeviceId,
        interests: &BTreeSet<Interest>,
    ) -> Result<Option<()>, StoreError> {
        let mut inner = self.lock();
        if !inner.devices.contains_key(id) {
            return Ok(None);
        }
        inner.set_interests(id, interests.clone());
        Ok(Some(()))
    }

    async fn add_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
        max: usize,
    ) -> Result<Option<InterestChange>, StoreError> {
        let mut inner = self.lock();
        if !inner.devices.contains_key(id) {
            return Ok(None);
        }
        let current = inner.interests.get(id);
        if current.is_some_and(|set| set.contains(interest)) {
            return Ok(Some(InterestChange::AlreadySubscribed));
        }
        if current.map_or(0, BTreeSet::len) >= max {
            return Ok(Some(InterestChange::TooMany { max }));
        }
        inner
            .interests
            .entry(id.clone())
            .or_default()
            .insert(interest.clone());
        inner.index(interest, id);
        Ok(Some(InterestChange::Added))
    }

    async fn remove_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<Option<bool>, StoreError> {
        let mut inner = self.lock();
        if !inner.devices.contains_key(id) {
            return Ok(None);
        }
        let removed = match inner.interests.get_mut(id) {
            Some(set) => {
                let removed = set.remove(interest);
                if set.is_empty() {
                    inner.interests.remove(id);
                }
                removed
            }
            None => false,
        };
        if removed {
            inner.unindex(interest, id);
        }
        Ok(Some(removed))
    }

    async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError> {
        let inner = self.lock();
        if !inner.devices.contains_key(id) {
            return Ok(None);
        }
        let page = inner
            .interests
            .get(id)
            .into_iter()
            .flat_map(|set| {
                let from = after.map_or(Bound::Unbounded, Bound::Excluded);
                set.range::<Interest, _>((from, Bound::Unbounded))
            })
            .take(limit)
            .cloned()
            .collect();
        Ok(Some(page))
    }

    async fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.lock();
        // The page is the first `limit` of the union, which are among the first `limit` after
        // `after` of each interest: no need to gather every subscriber.
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut ids: BTreeSet<&DeviceId> = BTreeSet::new();
        for devices in interests.iter().filter_map(|i| inner.by_interest.get(i)) {
            ids.extend(
                devices
                    .range::<DeviceId, _>((from, Bound::Unbounded))
                    .take(limit),
            );
        }
        Ok(ids
            .into_iter()
            .take(limit)
            .filter_map(|id| inner.devices.get(id).cloned())
            .collect())
    }

    async fn associate(
        &self,
        request: &AssociationRequest,
    ) -> Result<Option<AssociationOutcome>, StoreError> {
        let mut inner = self.lock();
        let Some(device) = inner.devices.get(&request.device) else {
            return Ok(None);
        };
        let plan =
            request
                .policy
                .plan_loading(&device.id, device.user.as_ref(), &request.user, || {
                    Ok::<_, Infallible>(inner.associated(&request.user, device.platform()))
                });
        let Ok(plan) = plan;
        let evict = match plan.to_apply() {
            Ok(evict) => evict,
            Err(unchanged) => return Ok(Some(unchanged)),
        };
        for id in &evict {
            inner.detach_user(id);
        }
        if let Some(device) = inner.devices.get_mut(&request.device) {
            device.user = Some(request.user.clone());
            device.associated_at = Some(request.at);
        }
        inner
            .by_user
            .entry(request.user.clone())
            .or_default()
            .insert(request.device.clone());
        Ok(Some(AssociationOutcome::Associated { evicted: evict }))
    }
}

#[cfg(test)]
mod conformance {
    // The memory store keeps nothing across a reopen, so it runs every rule but
    // `data_survives_reopen`; the stores that persist run that one too.
    mod direct {
        crate::device_store_conformance!(async || crate::MemoryDeviceStore::new());
    }

    mod through_arc_dyn {
        use std::sync::Arc;

        crate::device_store_conformance!(
            async || Arc::new(crate::MemoryDeviceStore::new()) as Arc<dyn crate::DeviceStore>
        );
    }
}
