//! Association throughput of `MemoryDeviceStore`, called through `Arc<dyn DeviceStore>` on a
//! tokio current-thread runtime, against a plain `Mutex<HashMap<String, String>>` insert
//! measured in the same run (group `beams_association`).
//!
//! Each iteration makes `BATCH` (100) associations of FCM devices with one user under the
//! default policy (limit 100, evict oldest), so criterion's throughput is associations per
//! second:
//!
//! - `associate_new_device`: the user already has 100 devices, so every association of a
//!   fresh device also evicts the oldest. Registering the devices and removing the evicted ones
//!   happen outside the timed part.
//! - `reassociate_same_user`: the idempotent path; each of the user's 100 devices again.
//! - `mutex_hashmap_insert_baseline`: 100 inserts of (device id, user) under a std mutex, one
//!   lock each, inside the same `block_on`, so the ratio shows what the store adds.
//!
//! Run with `cargo bench -p beams-core --bench association`
//! (add `-- --warm-up-time 1 --measurement-time 3` for a short run).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use beams_core::{
    AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceId, DeviceMetadata,
    DeviceRegistration, DeviceStore, FcmToken, MemoryDeviceStore, Platform, PushToken, Timestamp,
    UserId,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Associations per iteration: the default limit, so one batch replaces the user's devices.
const BATCH: usize = 100;

/// A store, its one user, and a counter that numbers push tokens and association times.
struct Fixture {
    store: Arc<dyn DeviceStore>,
    user: UserId,
    next: i64,
}

impl Fixture {
    /// A store whose user has `BATCH` devices already; returns their association requests.
    fn full(rt: &Runtime) -> (Self, Vec<AssociationRequest>) {
        let mut fixture = Fixture {
            store: Arc::new(MemoryDeviceStore::new()),
            user: UserId::new("bench-user").expect("bench user id is valid"),
            next: 0,
        };
        let batch = fixture.register_batch(rt);
        let evicted = rt.block_on(associate_all(fixture.store.as_ref(), &batch));
        assert_eq!(evicted, 0, "below the limit nothing is evicted");
        (fixture, batch)
    }

    /// Registers `BATCH` fresh devices; returns the requests that associate them with the user.
    fn register_batch(&mut self, rt: &Runtime) -> Vec<AssociationRequest> {
        let mut batch = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            self.next += 1;
            let n = self.next;
            let token = FcmToken::new(format!("fcm-token-{n:08}")).expect("bench token is valid");
            let at = Timestamp::from_unix_millis(n);
            let registration = DeviceRegistration {
                id: DeviceId::generate(Platform::Fcm),
                token: PushToken::Fcm(token),
                metadata: DeviceMetadata::default(),
                at,
            };
            let device = rt
                .block_on(self.store.register_device(registration))
                .expect("register_device succeeds")
                .into_device()
                .expect("a new token registers");
            batch.push(AssociationRequest {
                device: device.id,
                user: self.user.clone(),
                policy: AssociationPolicy::default(),
                at,
            });
        }
        batch
    }

    /// Deletes devices (evicted ones, so the store stays at two batches at most).
    fn remove(&self, rt: &Runtime, batch: &[AssociationRequest]) {
        for request in batch {
            rt.block_on(self.store.remove_device(&request.device))
                .expect("remove_device succeeds");
        }
    }
}

/// Makes every association in order; returns how many devices they evicted.
async fn associate_all(store: &dyn DeviceStore, batch: &[AssociationRequest]) -> usize {
    let mut evicted = 0;
    for request in batch {
        let outcome = store.associate(request).await.expect("associate succeeds");
        match outcome.expect("the device exists") {
            AssociationOutcome::Associated { evicted: e } => evicted += e.len(),
            AssociationOutcome::AlreadyAssociated => {}
            AssociationOutcome::Refused(refusal) => panic!("association refused: {refusal:?}"),
        }
    }
    evicted
}

fn beams_association(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime starts");
    let mut group = c.benchmark_group("beams_association");
    group.throughput(Throughput::Elements(BATCH as u64));

    let (mut fresh, mut previous) = Fixture::full(&rt);
    group.bench_function("associate_new_device", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let batch = fresh.register_batch(&rt);
                let start = Instant::now();
                let evicted = rt.block_on(associate_all(fresh.store.as_ref(), &batch));
                timed += start.elapsed();
                assert_eq!(evicted, BATCH, "at the limit every association evicts one");
                fresh.remove(&rt, &previous);
                previous = batch;
            }
            timed
        })
    });

    let (same, batch) = Fixture::full(&rt);
    let again = rt.block_on(same.store.associate(&batch[0]));
    let again = again
        .expect("associate succeeds")
        .expect("the device exists");
    assert_eq!(again, AssociationOutcome::AlreadyAssociated);
    group.bench_function("reassociate_same_user", |b| {
        b.iter(|| rt.block_on(associate_all(same.store.as_ref(), black_box(&batch))))
    });

    let map: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    let mut previous_keys: Vec<String> = Vec::new();
    group.bench_function("mutex_hashmap_insert_baseline", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let keys: Vec<String> = (0..BATCH)
                    .map(|_| DeviceId::generate(Platform::Fcm).as_str().to_owned())
                    .collect();
                let entries: Vec<(String, String)> = keys
                    .iter()
                    .map(|key| (key.clone(), "bench-user".to_owned()))
                    .collect();
                let start = Instant::now();
                rt.block_on(async {
                    for (key, user) in entries {
                        map.lock().expect("baseline lock").insert(key, user);
                    }
                });
                timed += start.elapsed();
                // Like eviction above: the map keeps the last two batches.
                let mut map = map.lock().expect("baseline lock");
                for key in &previous_keys {
                    map.remove(key);
                }
                previous_keys = keys;
            }
            timed
        })
    });
    group.finish();
}

criterion_group!(benches, beams_association);
criterion_main!(benches);
