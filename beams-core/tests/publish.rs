//! Publishing to users with the in-memory store and scriptable gateways: fan-out, outcomes,
//! retries on a paused clock, the breaker, validation, reports and observers.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beams_core::testing::fixtures::{associate, push_token, register, user};
use beams_core::{
    AssociationPolicy, Batch, Beams, BeamsError, BreakerPolicy, DeliveryEvent, DeliveryOutcome,
    DeviceId, DeviceResult, DeviceStore, FakePushGateway, InstanceId, MemoryDeviceStore, Platform,
    PublishConfig, PublishObserver, PublishReport, PublishRequest, PushGateway, RetryPolicy, Rule,
    SecretKey, SkipReason, Timestamp, UserId, async_trait,
};
use serde_json::json;

fn request(users: &[UserId], platforms: &[Platform]) -> PublishRequest {
    let mut request = PublishRequest::to_users(users.iter().cloned()).unwrap();
    for platform in platforms {
        request = request
            .with_section(*platform, json!({"notification": {"title": "Hi"}}))
            .unwrap();
    }
    request
}

fn engine(
    store: impl DeviceStore + 'static,
    gateways: &[(Platform, Arc<dyn PushGateway>)],
    config: PublishConfig,
) -> Beams {
    let mut builder = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        store,
    )
    .publish_config(config);
    for (platform, gateway) in gateways {
        builder = builder.gateway(*platform, Arc::clone(gateway));
    }
    builder.build()
}

/// `per_platform` devices of each user on each of `platforms`.
async fn populate(
    store: &MemoryDeviceStore,
    users: &[UserId],
    platforms: &[Platform],
    per_platform: usize,
) -> Vec<DeviceId> {
    let mut ids = Vec::new();
    let mut n = 0;
    for u in users {
        for platform in platforms {
            for _ in 0..per_platform {
                let device = register(store, *platform, n, 1).await;
                associate(store, &device.id, u, AssociationPolicy::default(), 2).await;
                ids.push(device.id);
                n += 1;
            }
        }
    }
    ids
}

fn users(n: usize) -> Vec<UserId> {
    (0..n).map(|i| user(&format!("user-{i}"))).collect()
}

#[tokio::test]
async fn every_device_of_a_thousand_users_gets_exactly_one_delivery() {
    let store = MemoryDeviceStore::new();
    let everyone = users(1000);
    let devices = populate(&store, &everyone, &Platform::ALL, 2).await;
    let fakes: Vec<FakePushGateway> = Platform::ALL
        .iter()
        .map(|_| FakePushGateway::new())
        .collect();
    let gateways: Vec<(Platform, Arc<dyn PushGateway>)> = Platform::ALL
        .into_iter()
        .zip(&fakes)
        .map(|(p, f)| (p, Arc::new(f.clone()) as Arc<dyn PushGateway>))
        .collect();
    let beams = engine(store, &gateways, PublishConfig::default());

    let report = beams
        .publish(request(&everyone, &Platform::ALL))
        .await
        .unwrap();

    let mut seen: HashMap<DeviceId, usize> = HashMap::new();
    for (platform, fake) in Platform::ALL.into_iter().zip(&fakes) {
        let sent = fake.sent();
        assert!(sent.iter().all(|d| d.token.platform() == platform));
        // One payload per platform per publish, shared by every batch.
        let calls = fake.calls();
        assert!(
            calls
                .windows(2)
                .all(|w| Arc::ptr_eq(&w[0].payload, &w[1].payload))
        );
        assert!(calls.iter().all(|call| call.platform() == platform));
        assert_eq!(calls[0].payload.publish_id, report.publish_id);
        assert!(
            calls.iter().all(|call| call.recipients.len() <= 100),
            "batches of at most 100"
        );
        for delivery in sent {
            *seen.entry(delivery.device).or_default() += 1;
        }
        let counts = report.platform(platform);
        assert_eq!(
            (counts.targeted, counts.delivered, counts.failed),
            (2000, 2000, 0)
        );
    }
    assert_eq!(seen.len(), devices.len());
    assert!(seen.values().all(|&n| n == 1), "each device exactly once");
    assert_eq!(report.devices_targeted, 6000);
    assert_eq!(report.users, 1000);
}

#[tokio::test]
async fn platforms_without_a_section_or_a_gateway_are_skipped_and_counted() {
    let store = MemoryDeviceStore::new();
    let alice = vec![user("alice")];
    populate(&store, &alice, &Platform::ALL, 3).await;
    let fcm = FakePushGateway::new();
    let web = FakePushGateway::new();
    let beams = engine(
        store,
        &[
            (Platform::Fcm, Arc::new(fcm.clone())),
            (Platform::Web, Arc::new(web.clone())),
        ],
        PublishConfig::default(),
    );
    // APNs has a section but no gateway; web has a gateway but no section.
    let report = beams
        .publish(request(&alice, &[Platform::Apns, Platform::Fcm]))
        .await
        .unwrap();
    assert_eq!(
        report.platform(Platform::Apns).skip_reason,
        Some(SkipReason::NoGateway)
    );
    assert_eq!(
        report.platform(Platform::Web).skip_reason,
        Some(SkipReason::NoSection)
    );
    assert_eq!(report.platform(Platform::Apns).skipped, 3);
    assert_eq!(report.platform(Platform::Web).skipped, 3);
    assert_eq!(report.platform(Platform::Fcm).delivered, 3);
    assert_eq!(fcm.sent().len(), 3);
    assert!(web.calls().is_empty());
}

#[tokio::test]
async fn each_outcome_does_what_it_must_to_the_store() {
    let store = MemoryDeviceStore::new();
    let alice = user("alice");
    let mut devices = Vec::new();
    for n in 0..4 {
        let device = register(&store, Platform::Apns, n, 1_000).await;
        associate(&store, &device.id, &alice, AssociationPolicy::default(), 2).await;
        devices.push(device);
    }
    let fake = FakePushGateway::new();
    let dead = |dead_since| DeliveryOutcome::TokenDead {
        dead_since,
        reason: "Unregistered".into(),
    };
    // 0 delivered; 1 dead; 2 dead, but APNs last saw it invalid before it registered; 3 rejected.
    fake.answer_for_token(&devices[1].token, dead(None));
    fake.answer_for_token(
        &devices[2].token,
        dead(Some(Timestamp::from_unix_millis(500))),
    );
    fake.answer_for_token(
        &devices[3].token,
        DeliveryOutcome::Rejected {
            reason: "PayloadTooLarge".into(),
        },
    );
    let beams = engine(
        store.clone(),
        &[(Platform::Apns, Arc::new(fake.clone()))],
        PublishConfig::default().with_device_reports(true),
    );

    let report = beams
        .publish(request(std::slice::from_ref(&alice), &[Platform::Apns]))
        .await
        .unwrap();

    let apns = report.platform(Platform::Apns);
    assert_eq!(
        (
            apns.delivered,
            apns.invalidated,
            apns.dead_kept,
            apns.rejected
        ),
        (1, 1, 1, 1)
    );
    let mut left: Vec<DeviceId> = store
        .devices_of_user(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    left.sort();
    let mut kept = vec![
        devices[0].id.clone(),
        devices[2].id.clone(),
        devices[3].id.clone(),
    ];
    kept.sort();
    assert_eq!(left, kept, "only the dead token's device is removed");
    let results: HashMap<DeviceId, DeviceResult> = report
        .devices
        .into_iter()
        .map(|d| (d.device, d.result))
        .collect();
    assert_eq!(results[&devices[0].id], DeviceResult::Delivered);
    assert_eq!(results[&devices[1].id], DeviceResult::Invalidated);
    assert_eq!(results[&devices[2].id], DeviceResult::DeadKept);
    assert_eq!(
        results[&devices[3].id],
        DeviceResult::Rejected("PayloadTooLarge".into())
    );
}

#[tokio::test]
async fn a_config_failure_stops_the_platform_and_keeps_every_device() {
    let store = MemoryDeviceStore::new();
    let everyone = users(10);
    populate(&store, &everyone, &[Platform::Fcm, Platform::Web], 2).await;
    let fcm = FakePushGateway::new();
    fcm.answer_by_default(DeliveryOutcome::ConfigFailure {
        reason: "THIRD_PARTY_AUTH_ERROR".into(),
    });
    let web = FakePushGateway::new();
    let config = PublishConfig::default()
        .with_delivery_batch(NonZeroUsize::new(4).unwrap())
        .with_max_in_flight(NonZeroUsize::new(1).unwrap());
    let beams = engine(
        store.clone(),
        &[
            (Platform::Fcm, Arc::new(fcm.clone())),
            (Platform::Web, Arc::new(web.clone())),
        ],
        config,
    );

    let report = beams
        .publish(request(&everyone, &[Platform::Fcm, Platform::Web]))
        .await
        .unwrap();

    assert_eq!(
        fcm.calls().len(),
        1,
        "nothing more is sent with a failed credential"
    );
    let counts = report.platform(Platform::Fcm);
    assert_eq!((counts.failed, counts.delivered), (20, 0));
    assert_eq!(
        counts.config_failure.as_deref(),
        Some("THIRD_PARTY_AUTH_ERROR")
    );
    assert_eq!(
        report.platform(Platform::Web).delivered,
        20,
        "other platforms carry on"
    );
    assert_eq!(store.len(), 40, "no device is removed");
}

/// A gateway that answers from a script, one outcome per call for the whole batch, and notes
/// when each call came on tokio's (paused) clock.
#[derive(Debug, Default)]
struct ScriptedGateway {
    answers: Mutex<VecDeque<DeliveryOutcome>>,
    calls: Mutex<Vec<tokio::time::Instant>>,
}

#[async_trait]
impl PushGateway for ScriptedGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        self.calls.lock().unwrap().push(tokio::time::Instant::now());
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(DeliveryOutcome::Delivered);
        vec![answer; batch.recipients.len()]
    }
}

fn retry_later(after: Option<Duration>) -> DeliveryOutcome {
    DeliveryOutcome::RetryLater {
        retry_after: after,
        reason: "503".into(),
    }
}

async fn one_device_engine(
    gateway: Arc<ScriptedGateway>,
    config: PublishConfig,
) -> (Beams, PublishRequest) {
    let store = MemoryDeviceStore::new();
    let alice = vec![user("alice")];
    populate(&store, &alice, &[Platform::Web], 1).await;
    (
        engine(store, &[(Platform::Web, gateway)], config),
        request(&alice, &[Platform::Web]),
    )
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_with_growing_delays_and_stop_at_the_limit() {
    let gateway = Arc::new(ScriptedGateway::default());
    gateway
        .answers
        .lock()
        .unwrap()
        .extend(vec![retry_later(None); 10]);
    let retry = RetryPolicy::default()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_secs(1));
    let (beams, request) =
        one_device_engine(gateway.clone(), PublishConfig::default().with_retry(retry)).await;

    let report = beams.publish(request).await.unwrap();

    let calls = gateway.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 5, "the first send and four retries");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let ceiling = Duration::from_secs(1 << n);
        assert!(
            *gap >= ceiling / 2 && *gap <= ceiling,
            "retry {} waited {gap:?}",
            n + 1
        );
    }
    assert!(
        gaps.windows(2).all(|w| w[1] >= w[0]),
        "delays grow: {gaps:?}"
    );
    let web = report.platform(Platform::Web);
    assert_eq!((web.retried, web.failed, web.delivered), (4, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let gateway = Arc::new(ScriptedGateway::default());
    gateway
        .answers
        .lock()
        .unwrap()
        .push_back(retry_later(Some(Duration::from_secs(120))));
    let (beams, request) = one_device_engine(gateway.clone(), PublishConfig::default()).await;

    let report = beams.publish(request).await.unwrap();

    let calls = gateway.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert!(calls[1] - calls[0] >= Duration::from_secs(120));
    assert_eq!(report.platform(Platform::Web).delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_retries() {
    let gateway = Arc::new(ScriptedGateway::default());
    gateway
        .answers
        .lock()
        .unwrap()
        .push_back(retry_later(Some(Duration::from_secs(600))));
    let config = PublishConfig::default().with_deadline(Duration::from_secs(60));
    let (beams, request) = one_device_engine(gateway.clone(), config).await;

    let report = beams.publish(request).await.unwrap();

    assert_eq!(gateway.calls.lock().unwrap().len(), 1);
    assert_eq!(report.platform(Platform::Web).failed, 1);
}

#[tokio::test(start_paused = true)]
async fn an_unrepresentable_retry_after_ends_the_retries_without_a_panic() {
    let gateway = Arc::new(ScriptedGateway::default());
    gateway
        .answers
        .lock()
        .unwrap()
        .push_back(retry_later(Some(Duration::MAX)));
    let config = PublishConfig::default().with_deadline(Duration::MAX);
    let (beams, request) = one_device_engine(gateway.clone(), config).await;

    let report = beams.publish(request).await.unwrap();

    assert_eq!(gateway.calls.lock().unwrap().len(), 1);
    assert_eq!(report.platform(Platform::Web).failed, 1);
}

#[tokio::test]
async fn the_breaker_trips_on_mass_invalidation_and_deletes_nothing() {
    let store = MemoryDeviceStore::new();
    let everyone = users(30);
    populate(&store, &everyone, &[Platform::Apns], 1).await;
    let fake = FakePushGateway::new();
    fake.answer_by_default(DeliveryOutcome::TokenDead {
        dead_since: None,
        reason: "BadDeviceToken".into(),
    });
    let beams = engine(
        store.clone(),
        &[(Platform::Apns, Arc::new(fake))],
        PublishConfig::default(),
    );

    let report = beams
        .publish(request(&everyone, &[Platform::Apns]))
        .await
        .unwrap();

    let apns = report.platform(Platform::Apns);
    assert!(
        apns.breaker_tripped,
        "a suspected configuration error is reported"
    );
    assert_eq!((apns.invalidated, apns.dead_kept), (0, 30));
    assert_eq!(store.len(), 30, "nothing is deleted");
}

#[tokio::test]
async fn below_the_breakers_share_dead_tokens_are_removed() {
    let store = MemoryDeviceStore::new();
    let everyone = users(30);
    populate(&store, &everyone, &[Platform::Apns], 1).await;
    let fake = FakePushGateway::new();
    for n in 0..5 {
        fake.answer_for_token(
            &push_token(Platform::Apns, n),
            DeliveryOutcome::TokenDead {
                dead_since: None,
                reason: "Unregistered".into(),
            },
        );
    }
    let config = PublishConfig::default().with_breaker(BreakerPolicy::new(0.5, 20));
    let beams = engine(store.clone(), &[(Platform::Apns, Arc::new(fake))], config);

    let report = beams
        .publish(request(&everyone, &[Platform::Apns]))
        .await
        .unwrap();

    let apns = report.platform(Platform::Apns);
    assert!(!apns.breaker_tripped);
    assert_eq!((apns.invalidated, apns.delivered), (5, 25));
    assert_eq!(store.len(), 25);
}

#[tokio::test]
async fn invalid_requests_are_refused_before_anything_is_sent() {
    let store = MemoryDeviceStore::new();
    populate(&store, &[user("alice")], &[Platform::Fcm], 1).await;
    let fake = FakePushGateway::new();
    let beams = engine(
        store,
        &[(Platform::Fcm, Arc::new(fake.clone()))],
        PublishConfig::default(),
    );
    let section = json!({"notification": {}});
    let thousand_and_one: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let bodies = [
        (json!({"users": [], "fcm": section}), "users"),
        (json!({"users": thousand_and_one, "fcm": section}), "users"),
        (json!({"users": ["x".repeat(165)], "fcm": section}), "users"),
        (json!({"users": ["alice"]}), "apns, fcm or web"),
        (json!({"users": ["alice"], "fcm": "not an object"}), "fcm"),
    ];
    for (body, field) in bodies {
        let err = PublishRequest::from_json(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field(), field, "{body}");
    }
    let without_section = PublishRequest::to_users([user("alice")]).unwrap();
    assert!(matches!(
        beams.publish(without_section).await,
        Err(BeamsError::Invalid(e)) if e.field() == "apns, fcm or web"
    ));
    assert!(PublishRequest::to_users(Vec::new()).is_err());
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn payloads_carry_the_pusher_data_and_are_checked_when_the_publish_arrives() {
    let store = MemoryDeviceStore::new();
    populate(
        &store,
        &[user("alice")],
        &[Platform::Fcm, Platform::Apns],
        1,
    )
    .await;
    let fcm = FakePushGateway::new();
    let apns = FakePushGateway::new();
    let beams = engine(
        store,
        &[
            (Platform::Fcm, Arc::new(fcm.clone())),
            (Platform::Apns, Arc::new(apns.clone())),
        ],
        PublishConfig::default(),
    );
    let body = json!({"users": ["alice"],
                      "fcm": {"notification": {"title": "Hi"}, "data": {"k": "v"}},
                      "apns": {"aps": {"alert": "Hi"}}});
    let publication = beams
        .publication(PublishRequest::from_json(body.to_string().as_bytes()).unwrap())
        .unwrap();
    let id = publication.id().clone();
    let report = publication.deliver().await;
    assert_eq!(report.platform(Platform::Fcm).delivered, 1);
    assert_eq!(report.platform(Platform::Apns).delivered, 1);
    let sent = fcm.calls()[0].payload.body.clone();
    assert_eq!(sent["data"]["k"], "v");
    let pusher: serde_json::Value =
        serde_json::from_str(sent["data"]["pusher"].as_str().unwrap()).unwrap();
    assert_eq!(pusher["publishId"], id.as_str());
    assert_eq!(pusher["instanceId"], "instance");
    assert_eq!(
        apns.calls()[0].payload.body["data"]["pusher"],
        json!({"instanceId": "instance", "publishId": id.as_str()})
    );

    // A customer `pusher` key, and what a gateway says its push service would refuse, are
    // refused before anything is sent.
    let own_pusher = json!({"users": ["alice"], "apns": {"aps": {}, "data": {"pusher": {}}}});
    let refused = beams
        .publication(PublishRequest::from_json(own_pusher.to_string().as_bytes()).unwrap())
        .unwrap_err();
    assert!(matches!(&refused, BeamsError::Invalid(e) if e.field() == "apns.data.pusher"));
    fcm.refuse_payloads("fcm.data.k must be a string");
    let refused = beams
        .publication(PublishRequest::from_json(body.to_string().as_bytes()).unwrap())
        .unwrap_err();
    let BeamsError::Invalid(invalid) = refused else {
        panic!("not a validation error: {refused:?}");
    };
    assert_eq!(invalid.field(), "fcm");
    assert_eq!(
        invalid.rule(),
        &Rule::Unsendable {
            reason: "fcm.data.k must be a string".into()
        }
    );
    assert_eq!((fcm.calls().len(), apns.calls().len()), (1, 1));
}

#[derive(Debug, Default)]
struct Recorder {
    events: Mutex<Vec<(String, DeviceId, u32)>>,
    finished: Mutex<Vec<PublishReport>>,
}

impl PublishObserver for Recorder {
    fn delivery(&self, event: &DeliveryEvent<'_>) {
        self.events.lock().unwrap().push((
            event.user.map(ToString::to_string).unwrap_or_default(),
            event.device.clone(),
            event.attempt,
        ));
    }

    fn finished(&self, report: &PublishReport) {
        self.finished.lock().unwrap().push(report.clone());
    }
}

#[tokio::test]
async fn works_through_trait_objects_and_tells_the_observer() {
    let store = MemoryDeviceStore::new();
    let everyone = users(3);
    let devices = populate(&store, &everyone, &[Platform::Fcm], 2).await;
    let store: Arc<dyn DeviceStore> = Arc::new(store);
    let gateway: Arc<dyn PushGateway> = Arc::new(FakePushGateway::new());
    let recorder = Arc::new(Recorder::default());
    let beams = Beams::builder(
        InstanceId::new("instance").unwrap(),
        SecretKey::new("secret").unwrap(),
        store,
    )
    .gateway(Platform::Fcm, gateway)
    .publish_observer(recorder.clone())
    .build();

    let publication = beams
        .publication(request(&everyone, &[Platform::Fcm]))
        .unwrap();
    let id = publication.id().clone();
    let report = tokio::spawn(publication.deliver()).await.unwrap();

    assert_eq!(report.publish_id, id);
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(events.len(), devices.len());
    assert!(events.iter().all(|(_, _, attempt)| *attempt == 1));
    assert!(events.iter().any(|(u, _, _)| u == "user-2"));
    assert_eq!(recorder.finished.lock().unwrap().len(), 1);
}

fn interest(name: &str) -> beams_core::Interest {
    beams_core::Interest::new(name).unwrap()
}

#[tokio::test]
async fn a_publish_to_interests_reaches_each_subscribed_device_once() {
    let store = MemoryDeviceStore::new();
    let published: Vec<beams_core::Interest> = ["i1", "i2", "i3", "i4", "i5"]
        .into_iter()
        .map(interest)
        .collect();
    // One device subscribed to 3 of the 5, others to one each, one to none of them, and one
    // associated with a user (interests reach devices with or without users).
    let many = register(&store, Platform::Web, 0, 1).await;
    for name in &published[1..4] {
        store.add_interest(&many.id, name, 10).await.unwrap();
    }
    let mut expected = vec![many.id.clone()];
    for n in 1..2500_u64 {
        let device = register(&store, Platform::ALL[n as usize % 3], n, 1).await;
        store
            .add_interest(&device.id, &published[n as usize % 5], 10)
            .await
            .unwrap();
        expected.push(device.id);
    }
    associate(
        &store,
        &expected[1],
        &user("alice"),
        AssociationPolicy::default(),
        2,
    )
    .await;
    let outsider = register(&store, Platform::Fcm, 9_999, 1).await;
    store
        .add_interest(&outsider.id, &interest("other"), 10)
        .await
        .unwrap();

    let fake = FakePushGateway::new();
    let gateways: Vec<(Platform, Arc<dyn PushGateway>)> = Platform::ALL
        .into_iter()
        .map(|p| (p, Arc::new(fake.clone()) as Arc<dyn PushGateway>))
        .collect();
    let beams = engine(store, &gateways, PublishConfig::default());
    let mut request = PublishRequest::to_interests(published.clone()).unwrap();
    for platform in Platform::ALL {
        request = request
            .with_section(platform, json!({"notification": {"title": "Hi"}}))
            .unwrap();
    }

    let report = beams.publish(request).await.unwrap();

    let mut sent: Vec<DeviceId> = fake.sent().into_iter().map(|d| d.device).collect();
    sent.sort();
    expected.sort();
    assert_eq!(
        sent, expected,
        "every subscribed device exactly once, the outsider never"
    );
    assert_eq!(report.devices_targeted, 2500);
    assert_eq!(report.interests, 5);
    let delivered: usize = report.platforms.iter().map(|(_, p)| p.delivered).sum();
    assert_eq!(delivered, 2500);
}

#[tokio::test]
async fn engine_interest_calls_validate_and_report() {
    let store = MemoryDeviceStore::new();
    let device = register(&store, Platform::Fcm, 1, 1).await;
    let beams = Beams::builder(
        InstanceId::new("i").unwrap(),
        SecretKey::new("k").unwrap(),
        store,
    )
    .max_interests_per_device(2)
    .build();
    let set = beams
        .set_device_interests(
            &device.id,
            vec![interest("b"), interest("a"), interest("b")],
        )
        .await
        .unwrap();
    assert_eq!(set, vec![interest("a"), interest("b")]);
    assert!(matches!(
        beams.add_device_interest(&device.id, &interest("c")).await,
        Err(BeamsError::TooManyInterests { max: 2 })
    ));
    assert!(matches!(
        beams
            .set_device_interests(
                &device.id,
                vec![interest("x"), interest("y"), interest("z")]
            )
            .await,
        Err(BeamsError::TooManyInterests { max: 2 })
    ));
    assert!(
        beams
            .remove_device_interest(&device.id, &interest("a"))
            .await
            .unwrap()
    );
    assert!(
        !beams
            .add_device_interest(&device.id, &interest("b"))
            .await
            .unwrap()
    );
    let page = beams
        .interests_of_device(&device.id, None, 100)
        .await
        .unwrap();
    assert_eq!(page, vec![interest("b")]);
    let absent = DeviceId::generate(Platform::Fcm);
    assert!(matches!(
        beams.add_device_interest(&absent, &interest("a")).await,
        Err(BeamsError::DeviceNotFound { .. })
    ));
}
