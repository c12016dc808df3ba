//! Journaled publishes: accepted into the journal, checkpointed page by page, finished with
//! their report, resumed from a checkpoint by another engine, and stopped when another node
//! takes them over.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use beams_core::testing::fixtures::{associate, register, user};
use beams_core::{
    Acceptance, AssociationPolicy, Beams, BeamsError, DeviceId, DeviceStore, FakePushGateway,
    InstanceId, JournalConfig, JournalEntry, JournalRecord, JournalState, Lease, MemoryDeviceStore,
    MemoryPublishJournal, Platform, PublishConfig, PublishId, PublishJournal, PublishTargetKind,
    SecretKey, StoreError, Timestamp, UserId, async_trait,
};

/// A memory journal that keeps every checkpoint written and can refuse them (as when another
/// node holds the lease).
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryPublishJournal,
    checkpoints: Mutex<Vec<Vec<u8>>>,
    refuse_checkpoints: bool,
}

#[async_trait]
impl PublishJournal for Recording {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max: usize,
    ) -> Result<Acceptance, StoreError> {
        self.inner.accept(entry, lease, max).await
    }
    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        self.checkpoints.lock().unwrap().push(progress.to_vec());
        if self.refuse_checkpoints {
            return Ok(false);
        }
        self.inner.checkpoint(id, lease, progress).await
    }
    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        self.inner.renew(id, lease).await
    }
    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.finish(id, owner, report, at).await
    }
    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        self.inner.claim(lease, now, node).await
    }
    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        self.inner.record(id).await
    }
    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.inner.unfinished().await
    }
    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.inner.forget_finished(before).await
    }
}

const USERS: usize = 1000;

async fn populated() -> (Arc<MemoryDeviceStore>, Vec<UserId>, Vec<DeviceId>) {
    let store = Arc::new(MemoryDeviceStore::new());
    let mut users = Vec::new();
    let mut devices = Vec::new();
    for n in 0..USERS {
        let who = user(&format!("user-{n:04}"));
        let device = register(&*store, Platform::Fcm, n as u64, 1).await;
        associate(&*store, &device.id, &who, AssociationPolicy::default(), 2).await;
        users.push(who);
        devices.push(device.id);
    }
    (store, users, devices)
}

fn engine(
    store: &Arc<MemoryDeviceStore>,
    journal: Arc<dyn PublishJournal>,
    owner: &str,
    gateway: &Arc<FakePushGateway>,
) -> Beams {
    Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        Arc::clone(store),
    )
    .gateway(Platform::Fcm, Arc::clone(gateway) as _)
    .publish_config(PublishConfig::default().with_lookup_batch(NonZeroUsize::new(100).unwrap()))
    .journal(journal, JournalConfig::new(owner))
    .build()
}

fn body(users: &[UserId]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "users": users,
        "fcm": {"notification": {"title": "Hi"}},
    }))
    .unwrap()
}

fn delivered(report: &serde_json::Value) -> u64 {
    report["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["delivered"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn an_accepted_publish_is_checkpointed_page_by_page_and_finished_with_its_report() {
    let (store, users, _) = populated().await;
    let journal = Arc::new(Recording::default());
    let gateway = Arc::new(FakePushGateway::new());
    let beams = engine(&store, journal.clone(), "node-a", &gateway);

    let publication = beams
        .accept(PublishTargetKind::Users, &body(&users))
        .await
        .unwrap();
    let id = publication.id().clone();
    let record = journal.record(&id).await.unwrap().unwrap();
    assert!(
        matches!(record.state, JournalState::Unfinished { .. }),
        "journaled before delivery"
    );

    let report = publication.deliver().await;
    assert_eq!(report.platform(Platform::Fcm).delivered, USERS);
    let checkpoints = journal.checkpoints.lock().unwrap().len();
    assert!(
        checkpoints >= 2,
        "progress recorded as pages finished: {checkpoints}"
    );
    let finished = beams.finished_report(&id).await.unwrap().expect("finished");
    assert_eq!(delivered(&finished), USERS as u64);
    assert_eq!(journal.unfinished().await.unwrap(), 0);
}

#[tokio::test]
async fn a_resumed_publish_starts_after_its_last_checkpoint_and_counts_everything_once() {
    let (store, users, devices) = populated().await;
    // A first node delivers, recording its checkpoints; one from the middle stands for the
    // last it wrote before dying.
    let first = Arc::new(Recording::default());
    let gateway = Arc::new(FakePushGateway::new());
    let beams = engine(&store, first.clone(), "node-a", &gateway);
    let publication = beams
        .accept(PublishTargetKind::Users, &body(&users))
        .await
        .unwrap();
    let record = first.record(publication.id()).await.unwrap().unwrap();
    publication.deliver().await;
    let checkpoints = first.checkpoints.lock().unwrap().clone();
    let middle = checkpoints[checkpoints.len() / 2].clone();
    let progress: serde_json::Value = serde_json::from_slice(&middle).unwrap();
    let resume_at = progress["cursor"]["next"].as_u64().unwrap() as usize;
    assert!(
        resume_at > 0 && resume_at < USERS,
        "a checkpoint from the middle: {resume_at}"
    );

    // The journal as the dead node left it: unfinished, at that checkpoint, lease lapsed.
    let journal = Arc::new(MemoryPublishJournal::new());
    let dead = Lease {
        owner: "node-a".into(),
        until: Timestamp::from_unix_millis(1),
    };
    journal.accept(&record.entry, &dead, 10).await.unwrap();
    assert!(
        journal
            .checkpoint(&record.entry.id, &dead, &middle)
            .await
            .unwrap()
    );

    let gateway = Arc::new(FakePushGateway::new());
    let other = engine(&store, journal.clone(), "node-b", &gateway);
    let mut resumed = other.resume_all().await.unwrap();
    assert_eq!(resumed.len(), 1, "the lapsed publish, once");
    let resumed = resumed.pop().unwrap();
    assert_eq!(resumed.id(), &record.entry.id);
    let report = resumed.deliver().await;

    let sent: HashSet<DeviceId> = gateway.sent().into_iter().map(|r| r.device).collect();
    let expected: HashSet<DeviceId> = devices[resume_at..].iter().cloned().collect();
    assert_eq!(
        sent, expected,
        "exactly the devices after the checkpoint are sent"
    );
    assert_eq!(
        report.platform(Platform::Fcm).delivered,
        USERS,
        "counts carried over"
    );
    assert!(
        other.resume_all().await.unwrap().is_empty(),
        "finished, not claimable"
    );
}

#[tokio::test]
async fn a_node_that_lost_its_lease_stops_delivering() {
    let (store, users, _) = populated().await;
    let journal = Arc::new(Recording {
        refuse_checkpoints: true,
        ..Recording::default()
    });
    let gateway = Arc::new(FakePushGateway::new());
    let beams = engine(&store, journal.clone(), "node-a", &gateway);
    let publication = beams
        .accept(PublishTargetKind::Users, &body(&users))
        .await
        .unwrap();
    let id = publication.id().clone();
    publication.deliver().await;
    assert!(
        gateway.sent().len() < USERS,
        "stopped after its first checkpoint was refused"
    );
    let record = journal.record(&id).await.unwrap().unwrap();
    assert!(
        matches!(record.state, JournalState::Unfinished { .. }),
        "left to the other node"
    );
}

#[tokio::test]
async fn a_full_journal_refuses_with_busy_and_writes_nothing() {
    let (store, users, _) = populated().await;
    let journal = Arc::new(MemoryPublishJournal::new());
    let gateway = Arc::new(FakePushGateway::new());
    let beams = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        Arc::clone(&store),
    )
    .gateway(Platform::Fcm, gateway as _)
    .journal(
        journal.clone(),
        JournalConfig::new("node-a").with_max_unfinished(2),
    )
    .build();
    let mut kept = Vec::new();
    for _ in 0..2 {
        kept.push(
            beams
                .accept(PublishTargetKind::Users, &body(&users[..1]))
                .await
                .unwrap(),
        );
    }
    let err = beams
        .accept(PublishTargetKind::Users, &body(&users[..1]))
        .await
        .expect_err("full");
    assert!(
        matches!(err, BeamsError::Busy { unfinished: 2, .. }),
        "{err:?}"
    );
    assert_eq!(journal.unfinished().await.unwrap(), 2);
    kept.pop().unwrap().deliver().await;
    beams
        .accept(PublishTargetKind::Users, &body(&users[..1]))
        .await
        .expect("a finished publish frees its place");
}

#[tokio::test]
async fn resuming_takes_each_of_this_nodes_publishes_back_once() {
    let (store, users, _) = populated().await;
    let journal = Arc::new(MemoryPublishJournal::new());
    let gateway = Arc::new(FakePushGateway::new());
    let before = engine(&store, journal.clone(), "node-a", &gateway);
    let mut accepted = HashSet::new();
    for chunk in users.chunks(300) {
        let publication = before
            .accept(PublishTargetKind::Users, &body(chunk))
            .await
            .unwrap();
        accepted.insert(publication.id().clone());
    }
    // The node restarts (same id) without having delivered anything.
    let after = engine(&store, journal.clone(), "node-a", &gateway);
    let resumed = after.resume_all().await.unwrap();
    let ids: HashSet<PublishId> = resumed.iter().map(|p| p.id().clone()).collect();
    assert_eq!(resumed.len(), accepted.len(), "each once");
    assert_eq!(ids, accepted);
}

#[tokio::test]
async fn taking_over_leaves_this_nodes_own_publishes_alone_and_takes_lapsed_ones() {
    let (store, users, _) = populated().await;
    let journal = Arc::new(MemoryPublishJournal::new());
    let gateway = Arc::new(FakePushGateway::new());
    let beams = engine(&store, journal.clone(), "node-a", &gateway);
    let mine = beams
        .accept(PublishTargetKind::Users, &body(&users[..1]))
        .await
        .unwrap();
    assert!(
        beams.take_over_next().await.unwrap().is_none(),
        "its own, being delivered"
    );

    let lapsed = beams_core::testing::journal_entry(1);
    let gone = Lease {
        owner: "node-z".into(),
        until: Timestamp::from_unix_millis(1),
    };
    journal.accept(&lapsed, &gone, 10).await.unwrap();
    let taken = beams
        .take_over_next()
        .await
        .unwrap()
        .expect("the lapsed one");
    assert_eq!(taken.id(), &lapsed.id);
    assert!(
        beams.take_over_next().await.unwrap().is_none(),
        "nothing else is free"
    );
    drop(mine);
}

/// A gateway that asks one device to wait `wait` on its first send and delivers everything
/// else, noting when (on tokio's clock) each device was sent to.
#[derive(Debug)]
struct PatientService {
    slow: DeviceId,
    wait: std::time::Duration,
    sends: Mutex<Vec<(DeviceId, tokio::time::Instant)>>,
}

#[async_trait]
impl beams_core::PushGateway for PatientService {
    async fn send(&self, batch: &beams_core::Batch) -> Vec<beams_core::DeliveryOutcome> {
        let mut sends = self.sends.lock().unwrap();
        batch
            .recipients
            .iter()
            .map(|recipient| {
                let first = !sends.iter().any(|(id, _)| id == &recipient.device);
                sends.push((recipient.device.clone(), tokio::time::Instant::now()));
                if first && recipient.device == self.slow {
                    beams_core::DeliveryOutcome::RetryLater {
                        retry_after: Some(self.wait),
                        reason: "throttled".into(),
                    }
                } else {
                    beams_core::DeliveryOutcome::Delivered
                }
            })
            .collect()
    }
}

/// A retry waiting out a push service's `Retry-After` is part of the checkpoint, with its
/// due time: a node resuming the publish sends it when due, not at once.
#[tokio::test(start_paused = true)]
async fn a_retry_waiting_on_retry_after_is_checkpointed_and_waited_out_after_resume() {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);
    let (store, users, devices) = populated().await;
    let slow = devices[0].clone();
    let service = Arc::new(PatientService {
        slow: slow.clone(),
        wait: WAIT,
        sends: Mutex::new(Vec::new()),
    });
    let journal = Arc::new(Recording::default());
    let beams = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        Arc::clone(&store),
    )
    .gateway(Platform::Fcm, service.clone() as _)
    .publish_config(PublishConfig::default().with_lookup_batch(NonZeroUsize::new(100).unwrap()))
    .journal(journal.clone(), JournalConfig::new("node-a"))
    .build();
    let publication = beams
        .accept(PublishTargetKind::Users, &body(&users))
        .await
        .unwrap();
    let record = journal.record(publication.id()).await.unwrap().unwrap();
    let accepted_at = record.entry.accepted_at.as_unix_millis();
    publication.deliver().await;

    // The checkpoint written once every page was sent still holds the retry, due a minute on.
    let waiting = journal
        .checkpoints
        .lock()
        .unwrap()
        .iter()
        .map(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).unwrap())
        .find(|progress| {
            progress["cursor"]["next"] == USERS
                && !progress["retries"].as_array().unwrap().is_empty()
        })
        .expect("a checkpoint past every page with the retry in it");
    let retry = &waiting["retries"][0];
    assert_eq!(retry["devices"][0][0], slow.as_str());
    let due = retry["notBefore"].as_i64().unwrap();
    assert!(
        due - accepted_at >= 59_000,
        "due a minute on: {}",
        due - accepted_at
    );

    // Another node resumes from that checkpoint: only the retry is left, and it waits.
    let resumed_journal = Arc::new(MemoryPublishJournal::new());
    let dead = Lease {
        owner: "node-a".into(),
        until: Timestamp::from_unix_millis(1),
    };
    resumed_journal
        .accept(&record.entry, &dead, 10)
        .await
        .unwrap();
    let progress = serde_json::to_vec(&waiting).unwrap();
    assert!(
        resumed_journal
            .checkpoint(&record.entry.id, &dead, &progress)
            .await
            .unwrap()
    );
    let later = Arc::new(PatientService {
        slow: DeviceId::generate(Platform::Fcm),
        wait: WAIT,
        sends: Mutex::new(Vec::new()),
    });
    let other = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        Arc::clone(&store),
    )
    .gateway(Platform::Fcm, later.clone() as _)
    .journal(resumed_journal.clone(), JournalConfig::new("node-b"))
    .build();
    let started = tokio::time::Instant::now();
    let mut resumed = other.resume_all().await.unwrap();
    let report = resumed.pop().expect("the publish").deliver().await;
    let sends = later.sends.lock().unwrap().clone();
    assert_eq!(sends.len(), 1, "only the waiting retry is sent: {sends:?}");
    assert_eq!(sends[0].0, slow);
    let waited = sends[0].1 - started;
    assert!(
        waited >= WAIT - std::time::Duration::from_secs(2),
        "sent after {waited:?}"
    );
    assert_eq!(
        report.platform(Platform::Fcm).delivered,
        USERS,
        "every device counted once"
    );
}

#[tokio::test]
async fn a_publish_to_an_interest_resumes_after_the_last_device_checkpointed() {
    let (store, _, devices) = populated().await;
    let news = beams_core::Interest::new("news").unwrap();
    for device in &devices {
        store.add_interest(device, &news, 10).await.unwrap();
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "interests": ["news"],
        "fcm": {"notification": {"title": "News"}},
    }))
    .unwrap();
    let first = Arc::new(Recording::default());
    let gateway = Arc::new(FakePushGateway::new());
    // Pages of 10 lookups × 10 = 100 devices.
    let beams = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        Arc::clone(&store),
    )
    .gateway(Platform::Fcm, gateway.clone() as _)
    .publish_config(PublishConfig::default().with_lookup_batch(NonZeroUsize::new(10).unwrap()))
    .journal(first.clone(), JournalConfig::new("node-a"))
    .build();
    let publication = beams
        .accept(PublishTargetKind::Interests, &body)
        .await
        .unwrap();
    let record = first.record(publication.id()).await.unwrap().unwrap();
    publication.deliver().await;
    let checkpoints = first.checkpoints.lock().unwrap().clone();
    let middle = checkpoints[checkpoints.len() / 2].clone();
    let progress: serde_json::Value = serde_json::from_slice(&middle).unwrap();
    let after =
        DeviceId::parse(progress["cursor"]["after"].as_str().expect("a device id")).unwrap();

    let journal = Arc::new(MemoryPublishJournal::new());
    let dead = Lease {
        owner: "node-a".into(),
        until: Timestamp::from_unix_millis(1),
    };
    journal.accept(&record.entry, &dead, 10).await.unwrap();
    assert!(
        journal
            .checkpoint(&record.entry.id, &dead, &middle)
            .await
            .unwrap()
    );
    let resumed_gateway = Arc::new(FakePushGateway::new());
    let other = engine(&store, journal, "node-b", &resumed_gateway);
    let mut resumed = other.resume_all().await.unwrap();
    let report = resumed.pop().expect("the publish").deliver().await;

    let sent: HashSet<DeviceId> = resumed_gateway
        .sent()
        .into_iter()
        .map(|r| r.device)
        .collect();
    let expected: HashSet<DeviceId> = devices.iter().filter(|id| **id > after).cloned().collect();
    assert!(
        !expected.is_empty() && expected.len() < devices.len(),
        "a cursor in the middle"
    );
    assert_eq!(sent, expected, "exactly the subscribers after the cursor");
    assert_eq!(
        report.platform(Platform::Fcm).delivered,
        USERS,
        "counts carried over"
    );
}
