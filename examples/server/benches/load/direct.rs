//! The devices every run associates, registered before the server starts, and the baseline:
//! the same associations through the engine.

use std::path::Path;
use std::time::Instant;

use beams_core::{
    AssociationPolicy, Beams, DeviceId, DeviceMetadata, InstanceId, Platform, SecretKey,
    TokenIssuer, UserId, WhenFull,
};
use beams_store_sqlite::SqliteDeviceStore;
use tokio::task::JoinHandle;

use crate::measure::Measure;
use crate::{CONCURRENCY, DEVICE_LIMIT, DEVICE_SETS, DeviceSet, INSTANCE, SECRET, split};

/// Registers `per_set` FCM devices for each association run, straight into the database the
/// server will open; returns their ids by set.
pub(crate) async fn register_devices(
    database: &Path,
    per_set: usize,
) -> Result<Vec<Vec<DeviceId>>, String> {
    let store = SqliteDeviceStore::open(database)
        .await
        .map_err(|e| format!("the store does not open: {e}"))?;
    let beams = engine(store)?;
    let mut sets = Vec::new();
    for (s, _) in DEVICE_SETS.iter().enumerate() {
        let tasks: Vec<JoinHandle<Result<Vec<DeviceId>, String>>> = (0..CONCURRENCY)
            .map(|task| {
                let beams = beams.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in (task..per_set).step_by(CONCURRENCY) {
                        let token = format!("load{s}x{n:07}:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYq");
                        let device = beams
                            .register_device(Platform::Fcm, &token, DeviceMetadata::default())
                            .await
                            .map_err(|e| format!("registration failed: {e}"))?;
                        ids.push(device.id);
                    }
                    Ok(ids)
                })
            })
            .collect();
        let mut ids = Vec::with_capacity(per_set);
        for task in tasks {
            ids.extend(task.await.map_err(|e| format!("a task failed: {e}"))??);
        }
        sets.push(ids);
    }
    Ok(sets)
}

fn engine(store: SqliteDeviceStore) -> Result<Beams, String> {
    let instance = InstanceId::new(INSTANCE).map_err(|e| e.to_string())?;
    let secret = SecretKey::new(SECRET).map_err(|e| e.to_string())?;
    let policy = AssociationPolicy::try_new(DEVICE_LIMIT, WhenFull::EvictOldest)
        .map_err(|e| e.to_string())?;
    Ok(Beams::builder(instance, secret, store)
        .policy(policy)
        .build())
}

pub(crate) fn token_for(user: &str) -> Result<String, String> {
    let instance = InstanceId::new(INSTANCE).map_err(|e| e.to_string())?;
    let secret = SecretKey::new(SECRET).map_err(|e| e.to_string())?;
    let user = UserId::new(user).map_err(|e| e.to_string())?;
    TokenIssuer::new(&instance, &secret)
        .issue(&user)
        .map(|issued| issued.token)
        .map_err(|e| e.to_string())
}

/// The baseline: the same associations through the engine, `CONCURRENCY` tasks of one user
/// each, on the server's database.
pub(crate) async fn direct_associations(
    database: &Path,
    set: DeviceSet,
    devices: &[DeviceId],
) -> Result<Measure, String> {
    let store = SqliteDeviceStore::open(database)
        .await
        .map_err(|e| format!("the store does not open: {e}"))?;
    let beams = engine(store)?;
    let slices = split(devices, CONCURRENCY);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, slice) in slices.into_iter().enumerate() {
        let beams = beams.clone();
        let token = token_for(&format!("{}-{i}", set.users()))?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(slice.len());
            for device in &slice {
                let start = Instant::now();
                beams
                    .associate_device(device, &token)
                    .await
                    .map_err(|e| format!("direct association failed: {e}"))?;
                latencies.push(start.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut measure = Measure::default();
    for task in tasks {
        let latencies = task.await.map_err(|e| format!("a task failed: {e}"))??;
        *measure.statuses.entry(200).or_default() += latencies.len();
        measure.latencies.extend(latencies);
    }
    measure.seconds = started.elapsed().as_secs_f64();
    Ok(measure)
}
