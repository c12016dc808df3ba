//! `EventLedger`: the acknowledged deliveries and opens of each recent publish, counted per
//! platform, in bounded memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{PerPlatform, Platform, PublishId};

use super::{EventKind, ReportEvent};

/// How much an [`EventLedger`] holds at most.
///
/// ```
/// use beams_core::LedgerLimits;
///
/// let limits = LedgerLimits::default();
/// assert_eq!(limits.max_publishes, 10_000);
/// assert_eq!(limits.max_entries, 524_288);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLimits {
    /// Publishes tracked at once; tracking one more forgets the one tracked longest ago,
    /// counts and all. A publish costs about 200 bytes plus its entries.
    pub max_publishes: usize,
    /// (device, kind) pairs remembered at once across all publishes, to count each device's
    /// delivery and open of a publish once. An entry costs 16 bytes in a hash table that is
    /// at least half full: at most about 40 bytes, so the default holds at most about 20 MiB.
    pub max_entries: usize,
}

impl Default for LedgerLimits {
    fn default() -> Self {
        LedgerLimits {
            max_publishes: 10_000,
            max_entries: 1 << 19,
        }
    }
}

/// A publish's acknowledged deliveries and opens, per platform of the reporting devices.
///
/// ```
/// use beams_core::{EventCounts, EventKind, Platform};
///
/// let counts = EventCounts::default();
/// assert_eq!(counts.get(EventKind::Delivery, Platform::Fcm), 0);
/// assert_eq!(counts.total(EventKind::Open), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventCounts {
    /// Devices that acknowledged the notification.
    pub deliveries: PerPlatform<u64>,
    /// Devices whose user opened it.
    pub opens: PerPlatform<u64>,
}

impl EventCounts {
    /// The count of `kind` events from `platform`.
    pub fn get(&self, kind: EventKind, platform: Platform) -> u64 {
        match kind {
            EventKind::Delivery => self.deliveries[platform],
            EventKind::Open => self.opens[platform],
        }
    }

    /// The count of `kind` events from every platform.
    pub fn total(&self, kind: EventKind) -> u64 {
        Platform::ALL
            .into_iter()
            .map(|platform| self.get(kind, platform))
            .sum()
    }

    fn add(&mut self, kind: EventKind, platform: Platform) {
        let count = match kind {
            EventKind::Delivery => &mut self.deliveries[platform],
            EventKind::Open => &mut self.opens[platform],
        };
        *count = count.saturating_add(1);
    }
}

/// What [`EventLedger::record`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// Counted, and remembered so that a repeat is not.
    Counted,
    /// Counted, but not remembered: this publish alone holds every entry the limits allow,
    /// so a repeat of this event would count again.
    CountedUnremembered,
    /// This device's event of this kind was counted already (clients retry); not counted.
    Repeated,
    /// The publish is not tracked (never, or forgotten to make room); not counted.
    UntrackedPublish,
}

/// What [`EventLedger::classify`] says recording an event would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classified {
    /// It would be counted.
    New,
    /// It was counted already.
    Repeated,
    /// Its publish is not tracked.
    UntrackedPublish,
}

/// The acknowledged deliveries and opens of recent publishes, per platform, for insights and
/// webhooks to read by publish id.
///
/// # Counting
///
/// - Only publishes that were [tracked](Self::track) are counted: a server tracks each publish
///   it accepts, so an event naming an id it never issued (a guess, a replay from another
///   server) costs nothing and changes nothing.
/// - Each device counts once per publish and kind: the first delivery and the first open.
///   The iOS SDK retries a report until it is answered, so repeats are normal; they are
///   [`Recorded::Repeated`] and not counted.
/// - The platform is the reporting device id's. The ledger does not ask the device store
///   whether the device exists: a caller that wants only registered devices counted checks
///   first (the example server does, off the request path).
///
/// # Bounds
///
/// At most [`LedgerLimits::max_publishes`] publishes and [`LedgerLimits::max_entries`]
/// remembered (device, kind) pairs. Both make room the same way: the publish tracked longest
/// ago is forgotten whole (its counts and its entries), then the next. A new entry never
/// forgets the publish it belongs to: when that publish alone fills the entry budget, its
/// further events are counted without being remembered ([`Recorded::CountedUnremembered`]).
///
/// The ledger lives in memory: counts start afresh when the process does.
///
/// ```
/// use beams_core::{EventKind, EventLedger, Platform, PublishId, Recorded, ReportEvent};
///
/// let ledger = EventLedger::default();
/// let publish = PublishId::generate();
/// ledger.track(&publish);
/// let delivery = format!(r#"{{"event":"Delivery","publishId":"{publish}",
///     "deviceId":"fcm-0190f3a2-7b1c-7d4e-8f00-0123456789ab","timestampSecs":1700000000}}"#);
/// let event = ReportEvent::parse(delivery.as_bytes())?;
/// assert_eq!(ledger.record(&event), Recorded::Counted);
/// assert_eq!(ledger.record(&event), Recorded::Repeated);
/// let counts = ledger.counts(&publish).expect("tracked");
/// assert_eq!(counts.get(EventKind::Delivery, Platform::Fcm), 1);
/// assert_eq!(ledger.counts(&PublishId::generate()), None);
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Default)]
pub struct EventLedger {
    limits: LedgerLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Tracked publishes, the one tracked longest ago first.
    order: VecDeque<PublishId>,
    publishes: HashMap<PublishId, Tracked>,
    /// Entries remembered across all publishes.
    entries: usize,
}

#[derive(Debug, Default)]
struct Tracked {
    counts: EventCounts,
    /// Per platform, the UUIDs of the devices whose delivery (0) and open (1) were counted.
    seen: PerPlatform<[HashSet<u128>; 2]>,
    entries: usize,
}

impl Tracked {
    fn seen(&mut self, event: &ReportEvent) -> &mut HashSet<u128> {
        let by_kind = &mut self.seen[event.platform()];
        match event.kind {
            EventKind::Delivery => &mut by_kind[0],
            EventKind::Open => &mut by_kind[1],
        }
    }
}

impl State {
    /// Forgets the publish tracked longest ago other than `keep`; false when there is none.
    fn forget_oldest_except(&mut self, keep: Option<&PublishId>) -> bool {
        let Some(position) = self.order.iter().position(|id| Some(id) != keep) else {
            return false;
        };
        if let Some(id) = self.order.remove(position)
            && let Some(forgotten) = self.publishes.remove(&id)
        {
            self.entries = self.entries.saturating_sub(forgotten.entries);
        }
        true
    }
}

impl EventLedger {
    /// An empty ledger within `limits` (each at least 1).
    pub fn new(limits: LedgerLimits) -> Self {
        EventLedger {
            limits: LedgerLimits {
                max_publishes: limits.max_publishes.max(1),
                max_entries: limits.max_entries.max(1),
            },
            state: Mutex::default(),
        }
    }

    /// The limits it keeps.
    pub fn limits(&self) -> LedgerLimits {
        self.limits
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counts behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts counting the events of `publish`, with zero counts; a publish tracked already
    /// keeps its counts and its place. At [`LedgerLimits::max_publishes`], the publish
    /// tracked longest ago is forgotten.
    pub fn track(&self, publish: &PublishId) {
        let mut state = self.state();
        if state.publishes.contains_key(publish) {
            return;
        }
        while state.publishes.len() >= self.limits.max_publishes {
            if !state.forget_oldest_except(None) {
                break;
            }
        }
        state.order.push_back(publish.clone());
        state.publishes.insert(publish.clone(), Tracked::default());
    }

    /// What [`record`](Self::record) would do with `event` now, without recording it: lets a
    /// caller skip work (a store lookup) for an event that would not count.
    pub fn classify(&self, event: &ReportEvent) -> Classified {
        let mut state = self.state();
        let Some(tracked) = state.publishes.get_mut(&event.publish_id) else {
            return Classified::UntrackedPublish;
        };
        if tracked.seen(event).contains(&event.device_id.uuid_bits()) {
            Classified::Repeated
        } else {
            Classified::New
        }
    }

    /// Counts `event` if its publish is tracked and this device's event of this kind was not
    /// counted yet (see [Counting](Self#counting)).
    pub fn record(&self, event: &ReportEvent) -> Recorded {
        let mut state = self.state();
        let key = event.device_id.uuid_bits();
        let Some(tracked) = state.publishes.get_mut(&event.publish_id) else {
            return Recorded::UntrackedPublish;
        };
        if tracked.seen(event).contains(&key) {
            return Recorded::Repeated;
        }
        while state.entries >= self.limits.max_entries {
            if !state.forget_oldest_except(Some(&event.publish_id)) {
                break;
            }
        }
        let remember = state.entries < self.limits.max_entries;
        let Some(tracked) = state.publishes.get_mut(&event.publish_id) else {
            return Recorded::UntrackedPublish;
        };
        tracked.counts.add(event.kind, event.platform());
        if !remember {
            return Recorded::CountedUnremembered;
        }
        tracked.seen(event).insert(key);
        tracked.entries += 1;
        state.entries += 1;
        Recorded::Counted
    }

    /// The counts of `publish`, or `None` when it is not tracked (never, or forgotten).
    pub fn counts(&self, publish: &PublishId) -> Option<EventCounts> {
        self.state()
            .publishes
            .get(publish)
            .map(|tracked| tracked.counts)
    }

    /// How many publishes are tracked.
    pub fn tracked_publishes(&self) -> usize {
        self.state().publishes.len()
    }

    /// How many (device, kind) entries are remembered across all publishes.
    pub fn remembered_entries(&self) -> usize {
        self.state().entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceId;

    fn event(publish: &PublishId, device: &DeviceId, kind: EventKind) -> ReportEvent {
        let body = serde_json::json!({"event": kind.as_str(), "publishId": publish.as_str(),
            "deviceId": device.as_str(), "timestampSecs": 1_700_000_000});
        ReportEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    fn limits(max_publishes: usize, max_entries: usize) -> LedgerLimits {
        LedgerLimits {
            max_publishes,
            max_entries,
        }
    }

    #[test]
    fn each_device_counts_once_per_kind_on_its_platform() {
        let ledger = EventLedger::default();
        let publish = PublishId::generate();
        ledger.track(&publish);
        let phone = DeviceId::generate(Platform::Apns);
        let browser = DeviceId::generate(Platform::Web);
        for (device, kind) in [
            (&phone, EventKind::Delivery),
            (&phone, EventKind::Open),
            (&browser, EventKind::Delivery),
        ] {
            let event = event(&publish, device, kind);
            assert_eq!(ledger.classify(&event), Classified::New);
            assert_eq!(ledger.record(&event), Recorded::Counted);
            assert_eq!(ledger.classify(&event), Classified::Repeated);
            assert_eq!(ledger.record(&event), Recorded::Repeated);
        }
        let counts = ledger.counts(&publish).unwrap();
        assert_eq!(
            counts.deliveries,
            PerPlatform {
                apns: 1,
                fcm: 0,
                web: 1
            }
        );
        assert_eq!(
            counts.opens,
            PerPlatform {
                apns: 1,
                fcm: 0,
                web: 0
            }
        );
        assert_eq!(counts.total(EventKind::Delivery), 2);
        assert_eq!(ledger.remembered_entries(), 3);
    }

    #[test]
    fn events_of_publishes_never_tracked_change_nothing() {
        let ledger = EventLedger::default();
        let stranger = event(
            &PublishId::generate(),
            &DeviceId::generate(Platform::Fcm),
            EventKind::Open,
        );
        assert_eq!(ledger.classify(&stranger), Classified::UntrackedPublish);
        assert_eq!(ledger.record(&stranger), Recorded::UntrackedPublish);
        assert_eq!(ledger.counts(&stranger.publish_id), None);
        assert_eq!(ledger.tracked_publishes(), 0);
        assert_eq!(ledger.remembered_entries(), 0);
    }

    #[test]
    fn tracking_again_keeps_the_counts() {
        let ledger = EventLedger::default();
        let publish = PublishId::generate();
        ledger.track(&publish);
        let device = DeviceId::generate(Platform::Fcm);
        ledger.record(&event(&publish, &device, EventKind::Delivery));
        ledger.track(&publish);
        assert_eq!(ledger.counts(&publish).unwrap().deliveries.fcm, 1);
        assert_eq!(ledger.tracked_publishes(), 1);
    }

    #[test]
    fn the_publish_tracked_longest_ago_makes_room_for_a_new_one() {
        let ledger = EventLedger::new(limits(3, 100));
        let publishes: Vec<PublishId> = (0..5).map(|_| PublishId::generate()).collect();
        let device = DeviceId::generate(Platform::Web);
        for publish in &publishes {
            ledger.track(publish);
            ledger.record(&event(publish, &device, EventKind::Delivery));
            assert!(ledger.tracked_publishes() <= 3);
        }
        assert_eq!(ledger.counts(&publishes[0]), None);
        assert_eq!(ledger.counts(&publishes[1]), None);
        for publish in &publishes[2..] {
            assert_eq!(ledger.counts(publish).unwrap().deliveries.web, 1);
        }
        // The forgotten publishes' entries went with them.
        assert_eq!(ledger.remembered_entries(), 3);
    }

    #[test]
    fn the_entry_budget_forgets_other_publishes_then_stops_remembering() {
        let ledger = EventLedger::new(limits(10, 4));
        let old = PublishId::generate();
        let new = PublishId::generate();
        ledger.track(&old);
        ledger.track(&new);
        let devices: Vec<DeviceId> = (0..6).map(|_| DeviceId::generate(Platform::Fcm)).collect();
        for device in &devices[..2] {
            assert_eq!(
                ledger.record(&event(&old, device, EventKind::Delivery)),
                Recorded::Counted
            );
        }
        for device in &devices[..2] {
            assert_eq!(
                ledger.record(&event(&new, device, EventKind::Delivery)),
                Recorded::Counted
            );
        }
        // The budget is full: a new entry of `new` forgets `old`, the publish tracked first.
        assert_eq!(
            ledger.record(&event(&new, &devices[2], EventKind::Delivery)),
            Recorded::Counted
        );
        assert_eq!(ledger.counts(&old), None);
        assert_eq!(ledger.remembered_entries(), 3);
        assert_eq!(
            ledger.record(&event(&new, &devices[3], EventKind::Delivery)),
            Recorded::Counted
        );
        // `new` alone fills the budget: it still counts, without remembering.
        let unremembered = event(&new, &devices[4], EventKind::Delivery);
        assert_eq!(ledger.record(&unremembered), Recorded::CountedUnremembered);
        assert_eq!(ledger.record(&unremembered), Recorded::CountedUnremembered);
        assert_eq!(ledger.counts(&new).unwrap().deliveries.fcm, 6);
        assert_eq!(ledger.remembered_entries(), 4);
        assert_eq!(
            ledger.record(&event(&new, &devices[0], EventKind::Delivery)),
            Recorded::Repeated
        );
    }

    #[test]
    fn memory_stays_within_the_limits_under_a_flood() {
        let ledger = EventLedger::new(limits(50, 500));
        for round in 0..200 {
            let publish = PublishId::generate();
            ledger.track(&publish);
            for _ in 0..(round % 17) {
                let device = DeviceId::generate(Platform::ALL[round % 3]);
                ledger.record(&event(&publish, &device, EventKind::Open));
            }
            assert!(ledger.tracked_publishes() <= 50);
            assert!(ledger.remembered_entries() <= 500);
        }
        let state = ledger.state();
        assert_eq!(state.order.len(), state.publishes.len());
        let sum: usize = state.publishes.values().map(|t| t.entries).sum();
        assert_eq!(sum, state.entries);
    }

    #[test]
    fn zero_limits_mean_one() {
        let ledger = EventLedger::new(limits(0, 0));
        assert_eq!(ledger.limits(), limits(1, 1));
        let publish = PublishId::generate();
        ledger.track(&publish);
        let device = DeviceId::generate(Platform::Apns);
        assert_eq!(
            ledger.record(&event(&publish, &device, EventKind::Open)),
            Recorded::Counted
        );
    }
}
