//! What the publishing benches share: a gateway that answers at once, an engine over it, the
//! delivered count, and peak-memory readings from `/proc`.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use beams_core::testing::fixtures;
use beams_core::{
    AssociationPolicy, Batch, Beams, BeamsBuilder, DeliveryOutcome, DeviceStore, InstanceId,
    JournalConfig, Platform, PublishJournal, PublishReport, PushGateway, SecretKey, UserId,
    async_trait,
};

/// A push service that accepts everything at once and records nothing, so only the engine's
/// own work is measured.
#[derive(Debug)]
pub struct ImmediateGateway;

#[async_trait]
impl PushGateway for ImmediateGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        vec![DeliveryOutcome::Delivered; batch.recipients.len()]
    }
}

/// An engine over `store` with the immediate gateway on every platform.
pub fn engine(store: impl DeviceStore + 'static) -> Beams {
    builder(store).build()
}

/// An engine over `store` with the immediate gateway on every platform, journaling accepted
/// publishes in `journal`.
pub fn journaled_engine(
    store: impl DeviceStore + 'static,
    journal: Arc<dyn PublishJournal>,
) -> Beams {
    builder(store)
        .journal(journal, JournalConfig::new("bench-node"))
        .build()
}

fn builder(store: impl DeviceStore + 'static) -> BeamsBuilder {
    let gateway: Arc<dyn PushGateway> = Arc::new(ImmediateGateway);
    let instance = InstanceId::new("00000000-0000-0000-0000-000000000000");
    let secret = SecretKey::new("SECRETKEY").expect("bench secret is valid");
    let mut builder = Beams::builder(instance.expect("bench instance is valid"), secret, store);
    for platform in Platform::ALL {
        builder = builder.gateway(platform, Arc::clone(&gateway));
    }
    builder
}

/// Deliveries the report counts as delivered, on every platform.
pub fn delivered(report: &PublishReport) -> usize {
    report.platforms.iter().map(|(_, p)| p.delivered).sum()
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`).
pub fn status_kb(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux).
pub fn reset_peak() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// Runs this binary again with `key=value` set, so a measurement starts from a fresh heap;
/// glibc is told to give freed memory back, so no earlier phase's free heap hides a peak.
pub fn run_child(key: &str, value: &str) -> std::io::Result<Output> {
    Command::new(std::env::current_exe()?)
        .env(key, value)
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .env("MALLOC_TRIM_THRESHOLD_", "131072")
        .stderr(Stdio::inherit())
        .output()
}

/// Registers `users` users (`user-000000`, …) with one device on each platform; returns the
/// users, in order.
pub async fn populate_users<S: DeviceStore + ?Sized>(store: &S, users: usize) -> Vec<UserId> {
    let policy = AssociationPolicy::default();
    let mut ids = Vec::with_capacity(users);
    for n in 0..users {
        let user = fixtures::user(&format!("user-{n:06}"));
        for platform in Platform::ALL {
            let device = fixtures::register(store, platform, n as u64, 0).await;
            fixtures::associate(store, &device.id, &user, policy, 0).await;
        }
        ids.push(user);
    }
    ids
}
