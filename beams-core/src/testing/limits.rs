//! Rules for the per-user, per-platform device limit, alone and under concurrency.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Barrier;

use super::fixtures::{associate, policy, register, stored, user, user_device_ids};
use crate::{
    AssociationOutcome, AssociationPolicy, AssociationRefusal, DeviceId, DeviceStore, Platform,
    WhenFull,
};

/// At the limit, the device associated longest ago is disassociated (kept registered) and
/// reported; ties go to the smaller device id.
pub async fn limit_evicts_the_longest_associated_device<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let policy = policy(3, WhenFull::EvictOldest);
    let mut devices = Vec::new();
    for n in 0..5 {
        devices.push(register(&store, Platform::Fcm, n, 10).await);
    }
    // Device 1 is oldest; devices 0 and 2 share the next time.
    for (i, at) in [(1, 100), (0, 200), (2, 200)] {
        associate(&store, &devices[i].id, &alice, policy, at).await;
    }
    let outcome = associate(&store, &devices[3].id, &alice, policy, 300).await;
    assert_eq!(
        outcome,
        AssociationOutcome::Associated {
            evicted: vec![devices[1].id.clone()]
        }
    );
    let evicted = stored(&store, &devices[1].id).await;
    assert_eq!(evicted.user, None, "an evicted device loses its user");
    assert_eq!(evicted.associated_at, None);

    let tie_loser = devices[0].id.clone().min(devices[2].id.clone());
    let outcome = associate(&store, &devices[4].id, &alice, policy, 400).await;
    assert_eq!(
        outcome,
        AssociationOutcome::Associated {
            evicted: vec![tie_loser.clone()]
        }
    );
    let remaining = user_device_ids(&store, &alice).await;
    assert_eq!(remaining.len(), 3);
    assert!(!remaining.contains(&tie_loser));
    assert!(remaining.contains(&devices[3].id) && remaining.contains(&devices[4].id));
}

/// Under the refuse policy a full user is refused with `DeviceLimitReached`, nothing changes.
pub async fn limit_refuses_when_the_policy_says_refuse<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let policy = policy(2, WhenFull::Refuse);
    let mut devices = Vec::new();
    for n in 0..3 {
        devices.push(register(&store, Platform::Apns, n, 10).await);
    }
    associate(&store, &devices[0].id, &alice, policy, 100).await;
    associate(&store, &devices[1].id, &alice, policy, 200).await;
    let before = user_device_ids(&store, &alice).await;
    let third_before = stored(&store, &devices[2].id).await;

    let outcome = associate(&store, &devices[2].id, &alice, policy, 300).await;
    assert_eq!(
        outcome,
        AssociationOutcome::Refused(AssociationRefusal::DeviceLimitReached { limit: 2 })
    );
    assert_eq!(user_device_ids(&store, &alice).await, before);
    assert_eq!(stored(&store, &devices[2].id).await, third_before);
}

/// The limit counts each platform on its own.
pub async fn limit_counts_each_platform_separately<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let policy = policy(2, WhenFull::Refuse);
    let mut n = 0;
    for platform in Platform::ALL {
        for _ in 0..2 {
            let device = register(&store, platform, n, 10).await;
            let outcome = associate(&store, &device.id, &alice, policy, 100 + n as i64).await;
            assert_eq!(outcome, AssociationOutcome::Associated { evicted: vec![] });
            n += 1;
        }
    }
    assert_eq!(user_device_ids(&store, &alice).await.len(), 6);
}

/// Hundreds of concurrent associations of distinct devices to one user: no reader ever sees
/// more than the limit on a platform, exactly the limit remains, and every evicted device is
/// reported exactly once.
pub async fn limit_holds_under_concurrent_associations<S: DeviceStore + 'static>(store: S) {
    const DEVICES: usize = 300;
    let limit = AssociationPolicy::DEFAULT_LIMIT.get();
    let policy = AssociationPolicy::default();
    let store = Arc::new(store);
    let alice = user("storm");

    let mut devices = Vec::with_capacity(DEVICES);
    for n in 0..DEVICES {
        devices.push(register(&*store, Platform::Fcm, n as u64, 10).await);
    }

    let done = Arc::new(AtomicBool::new(false));
    let observations = Arc::new(AtomicUsize::new(0));
    let observer = {
        let (store, alice, done, observations) = (
            store.clone(),
            alice.clone(),
            done.clone(),
            observations.clone(),
        );
        tokio::spawn(async move {
            let mut most = 0;
            while !done.load(Ordering::SeqCst) {
                let seen = store
                    .devices_of_user(&alice)
                    .await
                    .expect("devices_of_user succeeds");
                assert!(
                    seen.len() <= limit,
                    "a reader saw {} devices over the limit {limit}",
                    seen.len()
                );
                most = most.max(seen.len());
                observations.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            most
        })
    };

    let start = Arc::new(Barrier::new(DEVICES));
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, device)| {
            let (store, alice, start, id) = (
                store.clone(),
                alice.clone(),
                start.clone(),
                device.id.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                associate(&*store, &id, &alice, policy, 1_000 + i as i64).await
            })
        })
        .collect();

    let mut evicted: Vec<DeviceId> = Vec::new();
    for task in tasks {
        match task.await.expect("association task did not panic") {
            AssociationOutcome::Associated { evicted: e } => evicted.extend(e),
            other => panic!("every association of a free device succeeds, got {other:?}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    observer.await.expect("observer did not panic");
    assert!(
        observations.load(Ordering::SeqCst) > 0,
        "the observer read at least once"
    );

    let remaining = user_device_ids(&*store, &alice).await;
    assert_eq!(remaining.len(), limit, "exactly the limit remains");
    let unique_evicted: HashSet<&DeviceId> = evicted.iter().collect();
    assert_eq!(
        unique_evicted.len(),
        evicted.len(),
        "no eviction is reported twice"
    );
    assert_eq!(evicted.len(), DEVICES - limit, "every eviction is reported");
    for id in &remaining {
        assert!(
            !unique_evicted.contains(id),
            "a remaining device was reported evicted"
        );
    }
    for id in &evicted {
        assert_eq!(
            stored(&*store, id).await.user,
            None,
            "evicted devices have no user"
        );
    }
}

/// Many users race to associate one device: exactly one gets it, the rest are refused.
pub async fn concurrent_associations_of_one_device_pick_one_user<S: DeviceStore + 'static>(
    store: S,
) {
    const USERS: usize = 64;
    let store = Arc::new(store);
    let device = register(&*store, Platform::Web, 1, 10).await;
    let start = Arc::new(Barrier::new(USERS));
    let tasks: Vec<_> = (0..USERS)
        .map(|i| {
            let (store, start, id) = (store.clone(), start.clone(), device.id.clone());
            tokio::spawn(async move {
                let racer = user(&format!("racer-{i}"));
                start.wait().await;
                let outcome =
                    associate(&*store, &id, &racer, AssociationPolicy::default(), 100).await;
                (racer, outcome)
            })
        })
        .collect();

    let mut winners = Vec::new();
    let mut outcomes = BTreeMap::new();
    for task in tasks {
        let (racer, outcome) = task.await.expect("racer did not panic");
        if outcome == (AssociationOutcome::Associated { evicted: vec![] }) {
            winners.push(racer.clone());
        } else {
            assert_eq!(
                outcome,
                AssociationOutcome::Refused(AssociationRefusal::UserMismatch)
            );
        }
        outcomes.insert(racer, ());
    }
    assert_eq!(winners.len(), 1, "exactly one user gets the device");
    assert_eq!(
        stored(&*store, &device.id).await.user.as_ref(),
        Some(&winners[0])
    );
    for racer in outcomes.keys().filter(|r| *r != &winners[0]) {
        assert!(user_device_ids(&*store, racer).await.is_empty());
    }
}

/// A user with 100 devices on each of the three platforms: all kept, the 101st evicts one.
pub async fn large_user_with_full_platforms<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let policy = AssociationPolicy::default();
    let per_platform = policy.limit().get() as u64;
    let mut n = 0;
    for platform in Platform::ALL {
        for _ in 0..per_platform {
            let device = register(&store, platform, n, 10).await;
            let outcome = associate(&store, &device.id, &alice, policy, n as i64).await;
            assert_eq!(outcome, AssociationOutcome::Associated { evicted: vec![] });
            n += 1;
        }
    }
    let all = store
        .devices_of_user(&alice)
        .await
        .expect("devices_of_user succeeds");
    assert_eq!(all.len(), 300);
    for platform in Platform::ALL {
        assert_eq!(all.iter().filter(|d| d.platform() == platform).count(), 100);
    }
    let extra = register(&store, Platform::Web, n, 10).await;
    let AssociationOutcome::Associated { evicted } =
        associate(&store, &extra.id, &alice, policy, 10_000).await
    else {
        panic!("the 101st web device is associated by evicting one");
    };
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].platform(), Platform::Web);
    assert_eq!(user_device_ids(&store, &alice).await.len(), 300);
}
