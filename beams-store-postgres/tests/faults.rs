//! The store when the database fails under it: connections killed mid-storm, a lock held
//! past the statement timeout, a server that never answers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use beams_core::testing::fixtures::{register, user};
use beams_core::{
    AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceStore, Platform,
    StoreErrorKind, Timestamp,
};
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_test_support::postgres::TestSchema;

use support::{assert_associations_agree, counts_by_platform};

fn request(device: &beams_core::DeviceId, who: &str, at: i64) -> AssociationRequest {
    AssociationRequest {
        device: device.clone(),
        user: user(who),
        policy: AssociationPolicy::default(),
        at: Timestamp::from_unix_millis(at),
    }
}

/// Every backend of the store's pool is terminated (`pg_terminate_backend`) three times while
/// 32 tasks associate and read without pause. Calls in flight fail with `Unavailable` and
/// nothing else; calls after succeed on fresh connections; nothing is half-applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_connections_fail_calls_in_flight_and_nothing_else() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let name = format!("beams_faults_{}", std::process::id());
    let url = format!("{}&application_name={name}", schema.url());
    let store = Arc::new(
        PostgresDeviceStore::connect_with(&url, PostgresOptions::default().pool_size(8))
            .await
            .expect("the store connects"),
    );
    let mut devices = Vec::new();
    for n in 0..600u64 {
        devices.push(
            register(&*store, Platform::ALL[n as usize % 3], n, 1)
                .await
                .id,
        );
    }
    let devices = Arc::new(devices);

    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..32)
        .map(|task| {
            let (store, devices, stop) = (store.clone(), devices.clone(), stop.clone());
            let (done, failed) = (done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut n = task;
                while !stop.load(Ordering::SeqCst) {
                    let device = &devices[n % devices.len()];
                    let who = format!("user-{}", n % 7);
                    let outcome = if n % 2 == 0 {
                        store
                            .associate(&request(device, &who, n as i64))
                            .await
                            .map(drop)
                    } else {
                        store.devices_of_user(&user(&who)).await.map(drop)
                    };
                    match outcome {
                        Ok(()) => done.fetch_add(1, Ordering::SeqCst),
                        Err(err) => {
                            assert_eq!(
                                err.kind(),
                                &StoreErrorKind::Unavailable,
                                "a killed connection is Unavailable: {err:?}"
                            );
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                    n += 32;
                }
            })
        })
        .collect();

    let admin = schema.client().await;
    for _ in 0..3 {
        let before = done.load(Ordering::SeqCst);
        while done.load(Ordering::SeqCst) < before + 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed: i64 = admin
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&name],
            )
            .await
            .expect("terminating the store's backends")
            .get(0);
        assert!(killed > 0, "the store's connections were found and killed");
    }
    let before = done.load(Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < before + 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("a worker finishes without panicking");
    }
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "some calls were in flight when killed"
    );

    // After: a fresh association and read succeed, and the two records of ownership agree.
    let late = register(&*store, Platform::Web, 10_000, 1).await;
    let outcome = store
        .associate(&request(&late.id, "late", 1))
        .await
        .expect("the store works again");
    assert!(matches!(
        outcome,
        Some(AssociationOutcome::Associated { .. })
    ));
    assert_associations_agree(&admin).await;
    for n in 0..7 {
        for (platform, count) in counts_by_platform(&admin, &format!("user-{n}")).await {
            assert!(count <= 100, "{count} {platform} devices for user-{n}");
        }
    }
}

/// A user's lock held elsewhere past the statement timeout: the association fails with
/// `Unavailable` well before the lock is released, changes nothing, and succeeds once the
/// lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_timeout_bounds_a_call_that_waits_on_a_lock() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let store = PostgresDeviceStore::connect_with(
        &schema.url(),
        PostgresOptions::default().statement_timeout(Duration::from_millis(300)),
    )
    .await
    .expect("the store connects");
    let first = register(&store, Platform::Fcm, 1, 1).await;
    let second = register(&store, Platform::Fcm, 2, 1).await;
    store
        .associate(&request(&first.id, "alice", 1))
        .await
        .expect("the first association");

    let mut holder = schema.client().await;
    let holding = holder.transaction().await.expect("a transaction");
    holding
        .execute(
            "SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE",
            &[&"alice".as_bytes()],
        )
        .await
        .expect("alice's lock");

    let started = Instant::now();
    let err = store
        .associate(&request(&second.id, "alice", 2))
        .await
        .expect_err("the lock outlives the statement timeout");
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout, not by the lock: {:?}",
        started.elapsed()
    );
    let unchanged = store
        .device(&second.id)
        .await
        .expect("a read")
        .expect("exists");
    assert_eq!(unchanged.user, None, "the failed call changed nothing");

    holding.rollback().await.expect("the lock is released");
    let outcome = store
        .associate(&request(&second.id, "alice", 3))
        .await
        .expect("the association succeeds once the lock is gone");
    assert!(matches!(
        outcome,
        Some(AssociationOutcome::Associated { .. })
    ));
}

/// A server that accepts connections and never answers: connecting fails with `Unavailable`
/// within the connect timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_unavailable_within_the_connect_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = silent.local_addr().expect("its address");
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let err = PostgresDeviceStore::connect_with(
        &format!("postgres://beams@{address}/beams"),
        PostgresOptions::default().connect_timeout(Duration::from_millis(300)),
    )
    .await
    .expect_err("nothing answers");
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the connect timeout: {:?}",
        started.elapsed()
    );
}
