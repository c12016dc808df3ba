//! The `Beams` engine: the device lifecycle of Authenticated Users, end to end on the
//! in-memory store.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use beams_core::{
    AssociationPolicy, Beams, BeamsError, Clock, DeadToken, DeviceMetadata, DeviceStore,
    EndpointRules, InstanceId, ManualClock, MemoryDeviceStore, Platform, Rule, SecretKey,
    Timestamp, TokenError, WhenFull,
};

const APNS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const FCM: &str = "dGVzdA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_1cq8m";

struct Fixture {
    beams: Beams,
    store: MemoryDeviceStore,
    clock: ManualClock,
}

fn fixture(policy: AssociationPolicy) -> Fixture {
    let store = MemoryDeviceStore::new();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let beams = Beams::builder(
        InstanceId::new("00000000-0000-0000-0000-000000000000").unwrap(),
        SecretKey::new("SECRETKEY").unwrap(),
        store.clone(),
    )
    .policy(policy)
    .clock(Arc::new(clock.clone()))
    .build();
    Fixture {
        beams,
        store,
        clock,
    }
}

use beams_core::testing::fixtures::{TEST_AUTH as AUTH, TEST_P256DH as P256DH, user};

/// Browser `PushSubscription` JSON.
fn web_json(endpoint: &str) -> String {
    format!(
        r#"{{"endpoint":"{endpoint}","expirationTime":null,"keys":{{"p256dh":"{P256DH}","auth":"{AUTH}"}}}}"#
    )
}

/// What the official web SDK sends: base64 of the subscription JSON.
fn web_subscription(n: u32) -> String {
    let json = web_json(&format!("https://push.example.net/send/{n}"));
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn fcm(n: u32) -> String {
    format!("{FCM}-{n}")
}

impl Fixture {
    async fn register(&self, platform: Platform, raw: &str) -> beams_core::Device {
        self.clock.advance(Duration::from_secs(1));
        self.beams
            .register_device(platform, raw, DeviceMetadata::default())
            .await
            .unwrap()
    }

    fn token_for(&self, name: &str) -> String {
        self.beams.issue_token(&user(name)).unwrap().token
    }
}

#[tokio::test]
async fn registers_devices_on_every_platform_from_client_tokens() {
    let f = fixture(AssociationPolicy::default());
    let apns = f.register(Platform::Apns, &APNS.to_uppercase()).await;
    let fcm = f.register(Platform::Fcm, FCM).await;
    let web = f.register(Platform::Web, &web_subscription(1)).await;
    assert_eq!(apns.platform(), Platform::Apns);
    assert_eq!(apns.token.key(), APNS, "APNs tokens are stored lowercase");
    assert_eq!(fcm.id.platform(), Platform::Fcm);
    assert_eq!(web.token.key(), "https://push.example.net/send/1");
    assert_eq!(f.store.len(), 3);
}

#[tokio::test]
async fn invalid_registrations_name_the_field_and_store_nothing() {
    let f = fixture(AssociationPolicy::default());
    let cases = [
        (Platform::Apns, "not-hex", "token"),
        (Platform::Fcm, "", "token"),
        (Platform::Web, "bm90IGpzb24=", "token"),
        (
            Platform::Web,
            r#"{"endpoint":"http://push.example.net/x","keys":{"p256dh":"","auth":""}}"#,
            "endpoint",
        ),
    ];
    for (platform, raw, field) in cases {
        let err = f
            .beams
            .register_device(platform, raw, DeviceMetadata::default())
            .await
            .unwrap_err();
        let BeamsError::Invalid(err) = err else {
            panic!("{raw:?} gave {err:?}");
        };
        assert_eq!(err.field(), field, "{raw:?}");
    }
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn loopback_http_subscriptions_need_the_opt_in() {
    let json = web_json("http://127.0.0.1:8080/push/1");

    let strict = fixture(AssociationPolicy::default());
    let err = strict
        .beams
        .register_device(Platform::Web, &json, DeviceMetadata::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BeamsError::Invalid(ref e) if e.rule() == &Rule::InsecureUrl));

    let store = MemoryDeviceStore::new();
    let lenient = Beams::builder(
        InstanceId::new("i").unwrap(),
        SecretKey::new("k").unwrap(),
        store,
    )
    .endpoint_rules(EndpointRules {
        allow_loopback: true,
    })
    .build();
    assert!(
        lenient
            .register_device(Platform::Web, &json, DeviceMetadata::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn association_takes_the_user_from_the_token() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Fcm, FCM).await;
    let association = f
        .beams
        .associate_device(&device.id, &f.token_for("alice"))
        .await
        .unwrap();
    assert_eq!(association.user, user("alice"));
    assert!(!association.unchanged);
    let again = f
        .beams
        .associate_device(&device.id, &f.token_for("alice"))
        .await
        .unwrap();
    assert!(again.unchanged);
    assert_eq!(
        f.beams.device(&device.id).await.unwrap().user,
        Some(user("alice"))
    );
}

#[tokio::test]
async fn refused_tokens_change_nothing() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Apns, APNS).await;
    let stale = f.token_for("alice");
    f.clock.advance(Duration::from_secs(24 * 60 * 60 + 31));
    let err = f
        .beams
        .associate_device(&device.id, "garbage")
        .await
        .unwrap_err();
    assert!(
        matches!(err, BeamsError::Token(TokenError::Malformed { .. })),
        "{err:?}"
    );
    let err = f
        .beams
        .associate_device(&device.id, &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, BeamsError::Token(TokenError::Expired { .. })));
    assert_eq!(f.beams.device(&device.id).await.unwrap().user, None);
}

#[tokio::test]
async fn a_device_of_another_user_is_refused_until_stopped() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Web, &web_subscription(1)).await;
    f.beams
        .associate_device(&device.id, &f.token_for("alice"))
        .await
        .unwrap();
    let err = f
        .beams
        .associate_device(&device.id, &f.token_for("bob"))
        .await
        .unwrap_err();
    assert!(matches!(err, BeamsError::UserMismatch { .. }));
    assert!(
        !err.to_string().contains("alice"),
        "the other user is not revealed"
    );

    f.beams.stop_device(&device.id).await.unwrap();
    let fresh = f.register(Platform::Web, &web_subscription(1)).await;
    let association = f
        .beams
        .associate_device(&fresh.id, &f.token_for("bob"))
        .await
        .unwrap();
    assert_eq!(association.user, user("bob"));
}

#[tokio::test]
async fn the_limit_evicts_the_oldest_or_refuses_as_configured() {
    let two = NonZeroUsize::new(2).unwrap();
    let evicting = fixture(AssociationPolicy::new(two, WhenFull::EvictOldest));
    let mut ids: Vec<beams_core::DeviceId> = Vec::new();
    for n in 0..3 {
        let device = evicting.register(Platform::Fcm, &fcm(n)).await;
        let association = evicting
            .beams
            .associate_device(&device.id, &evicting.token_for("alice"))
            .await
            .unwrap();
        if n == 2 {
            assert_eq!(association.evicted, vec![ids[0].clone()]);
        } else {
            assert!(association.evicted.is_empty());
        }
        ids.push(device.id);
    }
    assert_eq!(evicting.beams.device(&ids[0]).await.unwrap().user, None);

    let refusing = fixture(AssociationPolicy::new(two, WhenFull::Refuse));
    for n in 0..3 {
        let device = refusing.register(Platform::Fcm, &fcm(n)).await;
        let result = refusing
            .beams
            .associate_device(&device.id, &refusing.token_for("alice"))
            .await;
        if n == 2 {
            let err = result.unwrap_err();
            assert!(matches!(
                err,
                BeamsError::DeviceLimitReached {
                    limit: 2,
                    platform: Platform::Fcm
                }
            ));
            assert_eq!(
                err.to_string(),
                "user already has reached the maximum of 2 devices on fcm"
            );
        } else {
            result.unwrap();
        }
    }
}

#[tokio::test]
async fn stop_and_delete_user_remove_devices() {
    let f = fixture(AssociationPolicy::default());
    let alice = user("alice");
    let mut ids = Vec::new();
    for (platform, raw) in [
        (Platform::Apns, APNS.to_owned()),
        (Platform::Fcm, FCM.to_owned()),
        (Platform::Web, web_subscription(9)),
    ] {
        let device = f.register(platform, &raw).await;
        f.beams
            .associate_device(&device.id, &f.token_for("alice"))
            .await
            .unwrap();
        ids.push(device.id);
    }
    let stopped = f.beams.stop_device(&ids[0]).await.unwrap();
    assert_eq!(stopped.user, Some(alice.clone()));
    assert!(matches!(
        f.beams.stop_device(&ids[0]).await,
        Err(BeamsError::DeviceNotFound { .. })
    ));
    let mut deleted: Vec<_> = f
        .beams
        .delete_user(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    deleted.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(f.store.is_empty());
    assert!(
        f.beams
            .delete_user(&user("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn dead_tokens_remove_devices_unless_registered_again_since() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Apns, APNS).await;
    let sent_at = f.clock.now();

    // The app registers the same token again after the send: the verdict is stale.
    f.register(Platform::Apns, APNS).await;
    let dead = DeadToken {
        token: device.token.clone(),
        sent_at,
        dead_since: None,
    };
    assert_eq!(f.beams.remove_dead_token(&dead).await.unwrap(), None);
    assert_eq!(f.store.len(), 1);

    // APNs says the token was dead at a time before its last registration: still stale.
    let later = f.clock.now();
    let dead = DeadToken {
        token: device.token.clone(),
        sent_at: later.saturating_add(Duration::from_secs(5)),
        dead_since: Some(later.saturating_sub(Duration::from_millis(1))),
    };
    assert_eq!(f.beams.remove_dead_token(&dead).await.unwrap(), None);

    // A verdict that covers the registration removes the device.
    let dead = DeadToken {
        token: device.token.clone(),
        sent_at: later.saturating_add(Duration::from_secs(5)),
        dead_since: Some(later),
    };
    let removed = f.beams.remove_dead_token(&dead).await.unwrap().unwrap();
    assert_eq!(removed.id, device.id);
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn the_engines_store_is_the_one_it_reads_and_writes() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Fcm, FCM).await;
    f.beams
        .associate_device(&device.id, &f.token_for("alice"))
        .await
        .unwrap();
    let store: &Arc<dyn DeviceStore> = f.beams.store();
    // What the engine wrote is there…
    let listed = store.devices_of_user(&user("alice")).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| &d.id).collect::<Vec<_>>(),
        vec![&device.id]
    );
    // …and what is written there, the engine sees.
    store.remove_device(&device.id).await.unwrap().unwrap();
    assert!(matches!(
        f.beams.device(&device.id).await,
        Err(BeamsError::DeviceNotFound { .. })
    ));
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn metadata_and_tokens_can_change_on_a_known_device() {
    let f = fixture(AssociationPolicy::default());
    let device = f.register(Platform::Fcm, FCM).await;
    f.beams
        .associate_device(&device.id, &f.token_for("alice"))
        .await
        .unwrap();
    let metadata = DeviceMetadata::new([("sdkVersion", "2.0.0")]).unwrap();
    let updated = f
        .beams
        .update_metadata(&device.id, metadata.clone())
        .await
        .unwrap();
    assert_eq!(updated.metadata, metadata);

    let refreshed = f.beams.refresh_token(&device.id, &fcm(7)).await.unwrap();
    assert_eq!(refreshed.token.key(), fcm(7));
    assert_eq!(refreshed.user, Some(user("alice")));

    let err = f
        .beams
        .refresh_token(&device.id, "not a token!")
        .await
        .unwrap_err();
    assert!(matches!(err, BeamsError::Invalid(ref e) if e.field() == "token"));
    let absent = beams_core::DeviceId::generate(Platform::Fcm);
    assert!(matches!(
        f.beams
            .update_metadata(&absent, DeviceMetadata::default())
            .await,
        Err(BeamsError::DeviceNotFound { .. })
    ));
}
