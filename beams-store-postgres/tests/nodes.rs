//! Two nodes — two stores with pools of their own — on one database: the device limit holds
//! exactly across them, at every instant.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use beams_core::testing::fixtures::{push_token, register, user};
use beams_core::{
    AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceId, DeviceMetadata,
    DeviceRegistration, DeviceStore, Platform, Timestamp,
};
use beams_store_postgres::PostgresOptions;
use beams_test_support::postgres::TestSchema;

use support::{assert_associations_agree, counts_by_platform, node};

const TASKS: usize = 1000;

/// 1000 associations of distinct devices with one user, alternating between two nodes, all
/// at once. Watchers on both nodes, and one counting rows directly, never see more than the
/// limit on a platform; at the end exactly the limit remain on each, and every other device
/// was reported evicted exactly once.
///
/// The user's lock row is what this rests on: with `LOCK_USER` taken out of `associate`,
/// concurrent associations read the same listing and each adds its device, and the counts
/// run past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_is_exact_across_two_nodes() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    // All 1000 queue on one user's lock: on a loaded machine that takes longer than the
    // default five seconds a call may wait for a connection.
    let patient = || {
        PostgresOptions::default()
            .pool_size(16)
            .statement_timeout(Duration::from_secs(60))
    };
    let nodes = [
        Arc::new(node(&schema, patient()).await),
        Arc::new(node(&schema, patient()).await),
    ];
    // The watchers read through pools of their own, so they never queue behind the storm.
    let watching = [
        Arc::new(node(&schema, patient()).await),
        Arc::new(node(&schema, patient()).await),
    ];
    let limit = AssociationPolicy::DEFAULT_LIMIT.get();
    let storm = user("storm");

    let mut devices = Vec::with_capacity(TASKS);
    for n in 0..TASKS {
        let platform = Platform::ALL[n % 3];
        devices.push(register(&*nodes[n % 2], platform, n as u64, 1).await.id);
    }

    let done = Arc::new(AtomicBool::new(false));
    let mut watchers = Vec::new();
    for node in &watching {
        let (node, storm, done) = (node.clone(), storm.clone(), done.clone());
        watchers.push(tokio::spawn(async move {
            let mut looks = 0;
            while !done.load(Ordering::SeqCst) {
                let seen = node.devices_of_user(&storm).await.expect("a listing");
                for platform in Platform::ALL {
                    let on = seen.iter().filter(|d| d.id.platform() == platform).count();
                    assert!(on <= limit, "a node listed {on} {platform} devices");
                }
                looks += 1;
            }
            looks
        }));
    }
    let counter = {
        let (client, done) = (schema.client().await, done.clone());
        tokio::spawn(async move {
            let mut looks = 0;
            while !done.load(Ordering::SeqCst) {
                for (platform, count) in counts_by_platform(&client, "storm").await {
                    assert!(
                        count <= limit as i64,
                        "{count} {platform} rows for one user"
                    );
                }
                looks += 1;
            }
            looks
        })
    };

    let associations: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(n, device)| {
            let node = nodes[n % 2].clone();
            let request = AssociationRequest {
                device: device.clone(),
                user: storm.clone(),
                policy: AssociationPolicy::default(),
                at: Timestamp::from_unix_millis(10 + n as i64),
            };
            tokio::spawn(async move { node.associate(&request).await })
        })
        .collect();
    let mut evicted = Vec::new();
    for association in associations {
        match association.await.expect("the task finishes") {
            Ok(Some(AssociationOutcome::Associated { evicted: some })) => evicted.extend(some),
            other => panic!("every association succeeds, got {other:?}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    for watcher in watchers {
        assert!(
            watcher.await.expect("the watcher finishes") > 0,
            "a node looked"
        );
    }
    assert!(
        counter.await.expect("the counter finishes") > 0,
        "rows were counted"
    );

    let remaining = nodes[0].devices_of_user(&storm).await.expect("a listing");
    for platform in Platform::ALL {
        let on = remaining
            .iter()
            .filter(|d| d.id.platform() == platform)
            .count();
        assert_eq!(on, limit, "exactly the limit remains on {platform}");
    }
    let unique: HashSet<_> = evicted.iter().collect();
    assert_eq!(unique.len(), evicted.len(), "no device is evicted twice");
    assert_eq!(
        evicted.len(),
        TASKS - 3 * limit,
        "every other device was evicted"
    );
    for device in &remaining {
        assert!(
            !unique.contains(&device.id),
            "{} is both kept and evicted",
            device.id
        );
    }
    assert_associations_agree(&schema.client().await).await;
}

/// Fifty registrations of one new token at once, from two nodes: all succeed (the losers of
/// the unique index race are retried and renew), and one device holds the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_registered_at_once_on_two_nodes_makes_one_device() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let nodes = [
        Arc::new(node(&schema, PostgresOptions::default().pool_size(8)).await),
        Arc::new(node(&schema, PostgresOptions::default().pool_size(8)).await),
    ];
    let registrations: Vec<_> = (0..50)
        .map(|n| {
            let node = nodes[n % 2].clone();
            tokio::spawn(async move {
                node.register_device(DeviceRegistration {
                    id: DeviceId::generate(Platform::Fcm),
                    token: push_token(Platform::Fcm, 7),
                    metadata: DeviceMetadata::default(),
                    at: Timestamp::from_unix_millis(n as i64),
                })
                .await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for registration in registrations {
        let outcome = registration
            .await
            .expect("the task finishes")
            .expect("every registration succeeds");
        ids.insert(outcome.into_device().expect("registered or renewed").id);
    }
    assert_eq!(ids.len(), 1, "one device holds the token: {ids:?}");
    let rows: i64 = schema
        .client()
        .await
        .query_one("SELECT count(*) FROM devices", &[])
        .await
        .expect("counting")
        .get(0);
    assert_eq!(rows, 1);
}
