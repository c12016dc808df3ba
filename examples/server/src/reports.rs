//! The delivery and open events clients report, recorded in the background so that the
//! answer never waits on them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use beams_core::{Beams, BeamsError, Classified, EventLedger, LedgerLimits, ReportEvent};
use tokio::sync::mpsc;

/// Events waiting to be recorded, at most, by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// How often, at most, dropped events are logged.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The reported events and the [`EventLedger`] they are counted in.
///
/// [`submit`](Self::submit) never waits: it puts the event in a bounded queue (at most
/// [`DEFAULT_QUEUE_CAPACITY`] events of at most a few hundred bytes each, unless configured
/// otherwise) and one background task records the queue in order. When the queue is full the
/// event is dropped, counted in [`dropped`](Self::dropped) and logged at most every ten
/// seconds; the client was answered 200 all the same, since the iOS SDK retries a failed
/// report forever.
///
/// The task counts an event only for a publish the ledger tracks (this server's publish API
/// tracks every publish it accepts), only the first time for its device and kind, and only
/// for a device the store knows: a guessed or forged device id costs one store lookup and
/// changes no count. Repeats and unknown publishes are settled by the ledger alone, without
/// the lookup. The task starts with the first event, in the runtime that submits it.
///
/// ```
/// use beams_core::{Beams, InstanceId, MemoryDeviceStore, PublishId, SecretKey};
/// use beams_server::AppState;
///
/// let beams = Beams::builder(InstanceId::new("my-instance")?, SecretKey::new("my-secret")?,
///                            MemoryDeviceStore::new()).build();
/// let state = AppState::new(beams);
/// // Insights and webhooks read the counts by publish id.
/// let publish = PublishId::generate();
/// state.reports().ledger().track(&publish);
/// assert_eq!(state.reports().ledger().counts(&publish).map(|c| c.opens.apns), Some(0));
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reports {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    /// Made with the worker, on the first event.
    queue: OnceLock<mpsc::Sender<ReportEvent>>,
    shared: Arc<Shared>,
}

/// What the submitting side and the recording task share.
#[derive(Debug)]
struct Shared {
    beams: Beams,
    ledger: EventLedger,
    dropped: AtomicU64,
    processed: AtomicU64,
    /// When dropped events were last logged, and the dropped count then.
    last_warning: Mutex<Option<(Instant, u64)>>,
}

impl Reports {
    /// Reports on `beams`' devices, counted in a ledger within `limits`, with a queue of
    /// `queue_capacity` events (at least 1).
    pub fn new(beams: Beams, limits: LedgerLimits, queue_capacity: usize) -> Self {
        Reports {
            inner: Arc::new(Inner {
                capacity: queue_capacity.max(1),
                queue: OnceLock::new(),
                shared: Arc::new(Shared {
                    beams,
                    ledger: EventLedger::new(limits),
                    dropped: AtomicU64::new(0),
                    processed: AtomicU64::new(0),
                    last_warning: Mutex::new(None),
                }),
            }),
        }
    }

    /// The counts of acknowledged deliveries and opens per publish.
    pub fn ledger(&self) -> &EventLedger {
        &self.inner.shared.ledger
    }

    /// Queues `event` for recording without waiting; `false` when it was dropped (the queue
    /// is full, or there is no Tokio runtime to record it in).
    pub fn submit(&self, event: ReportEvent) -> bool {
        let Some(queue) = self.queue() else {
            self.note_dropped();
            return false;
        };
        match queue.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) => {
                self.note_dropped();
                false
            }
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events the background task has finished with (counted or not).
    pub fn processed(&self) -> u64 {
        self.inner.shared.processed.load(Ordering::Acquire)
    }

    /// The queue, and its task started on first use.
    fn queue(&self) -> Option<&mpsc::Sender<ReportEvent>> {
        if let Some(queue) = self.inner.queue.get() {
            return Some(queue);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(self.inner.queue.get_or_init(|| {
            let (queue, events) = mpsc::channel(self.inner.capacity);
            runtime.spawn(record(events, self.inner.shared.clone()));
            queue
        }))
    }

    fn note_dropped(&self) {
        let shared = &self.inner.shared;
        let dropped = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = shared
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let since = match *last {
            Some((at, _)) if now.duration_since(at) < WARNING_INTERVAL => return,
            Some((_, before)) => dropped - before,
            None => dropped,
        };
        *last = Some((now, dropped));
        tracing::warn!(
            dropped = since,
            total = dropped,
            capacity = self.inner.capacity,
            "reported events arrive faster than they are recorded; dropped some uncounted"
        );
    }
}

/// Records queued events until every sender is gone.
async fn record(mut events: mpsc::Receiver<ReportEvent>, shared: Arc<Shared>) {
    while let Some(event) = events.recv().await {
        record_one(&shared, &event).await;
        shared.processed.fetch_add(1, Ordering::Release);
    }
}

async fn record_one(shared: &Shared, event: &ReportEvent) {
    if shared.ledger.classify(event) != Classified::New {
        return;
    }
    match shared.beams.device(&event.device_id).await {
        Ok(_) => {
            shared.ledger.record(event);
        }
        Err(BeamsError::DeviceNotFound { .. }) => {
            tracing::debug!(device = %event.device_id, "event of an unknown device not counted");
        }
        Err(error) => {
            tracing::warn!(%error, "could not look up a reporting device; event not counted");
        }
    }
}

#[cfg(test)]
mod tests {
    use beams_core::{
        DeviceMetadata, EventKind, InstanceId, MemoryDeviceStore, Platform, PublishId, SecretKey,
    };

    use super::*;

    fn beams() -> Beams {
        Beams::builder(
            InstanceId::new("reports").unwrap(),
            SecretKey::new("secret").unwrap(),
            MemoryDeviceStore::new(),
        )
        .build()
    }

    fn event(kind: &str, publish: &PublishId, device: &str) -> ReportEvent {
        let body = serde_json::json!({"event": kind, "publishId": publish.as_str(),
            "deviceId": device, "timestampSecs": 1_700_000_000});
        ReportEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    async fn settled(reports: &Reports, submitted: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while reports.processed() < submitted {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the queue is recorded");
    }

    #[tokio::test]
    async fn events_of_known_devices_are_counted_once_and_others_not_at_all() {
        let beams = beams();
        let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
        let device = beams
            .register_device(Platform::Apns, token, DeviceMetadata::default())
            .await
            .unwrap();
        let reports = Reports::new(beams, LedgerLimits::default(), 16);
        let publish = PublishId::generate();
        reports.ledger().track(&publish);
        let stranger = "apns-0190f3a2-7b1c-7d4e-8f00-0123456789ab";
        let events = [
            event("Delivery", &publish, device.id.as_str()),
            event("Delivery", &publish, device.id.as_str()),
            event("Open", &publish, device.id.as_str()),
            event("Delivery", &publish, stranger),
            event("Open", &PublishId::generate(), device.id.as_str()),
        ];
        for event in &events {
            assert!(reports.submit(event.clone()));
        }
        settled(&reports, events.len() as u64).await;
        let counts = reports.ledger().counts(&publish).unwrap();
        assert_eq!(counts.get(EventKind::Delivery, Platform::Apns), 1);
        assert_eq!(counts.get(EventKind::Open, Platform::Apns), 1);
        assert_eq!(counts.total(EventKind::Delivery), 1);
        assert_eq!(reports.dropped(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let reports = Reports::new(beams(), LedgerLimits::default(), 2);
        let publish = PublishId::generate();
        let device = "fcm-0190f3a2-7b1c-7d4e-8f00-0123456789ab";
        // On one thread the recording task cannot run until this test yields: the queue
        // holds two events, and the others are dropped at once.
        let accepted = (0..5)
            .filter(|_| reports.submit(event("Open", &publish, device)))
            .count();
        assert_eq!(accepted, 2);
        assert_eq!(reports.dropped(), 3);
        settled(&reports, 2).await;
        assert!(reports.submit(event("Open", &publish, device)));
    }

    #[test]
    fn without_a_runtime_an_event_is_dropped_not_a_panic() {
        let reports = Reports::new(beams(), LedgerLimits::default(), 2);
        let publish = PublishId::generate();
        let device = "web-0190f3a2-7b1c-7d4e-8f00-0123456789ab";
        assert!(!reports.submit(event("open", &publish, device)));
        assert_eq!(reports.dropped(), 1);
    }
}
