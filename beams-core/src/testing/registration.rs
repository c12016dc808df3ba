//! Rules for registering, reading and removing devices.

use super::fixtures::{
    assert_device_gone, associate, metadata, push_token, register, stored, token_holder, user,
    user_device_ids,
};
use crate::{
    AssociationPolicy, Device, DeviceId, DeviceRegistration, DeviceStore, EndpointRules, Interest,
    Platform, PushToken, RegistrationOutcome, RegistrationRefusal, StoreErrorKind, Timestamp,
    WebSubscription,
};

/// Registers `registration`, which must make or renew a device, and answers which it did.
async fn registered<S: DeviceStore + ?Sized>(
    store: &S,
    registration: DeviceRegistration,
) -> RegistrationOutcome {
    store
        .register_device(registration)
        .await
        .expect("register_device succeeds")
}

/// `register_device` stores what it was given; `device` reads it back unchanged.
pub async fn registered_device_can_be_read_back<S: DeviceStore>(store: S) {
    for (n, platform) in Platform::ALL.into_iter().enumerate() {
        let registration = DeviceRegistration {
            id: DeviceId::generate(platform),
            token: push_token(platform, n as u64),
            metadata: metadata("2.3.4"),
            at: Timestamp::from_unix_millis(1_000 + n as i64),
        };
        let RegistrationOutcome::Registered(device) =
            registered(&store, registration.clone()).await
        else {
            panic!("a new token registers a new device");
        };
        assert_eq!(device.id, registration.id);
        assert_eq!(device.token, registration.token);
        assert_eq!(device.metadata, registration.metadata);
        assert_eq!(device.created_at, registration.at);
        assert_eq!(device.token_registered_at, registration.at);
        assert_eq!(device.user, None);
        assert_eq!(device.associated_at, None);
        assert_eq!(stored(&store, &device.id).await, device);
    }
}

/// Reading, removing, or removing by token an absent device gives `None`.
pub async fn unknown_device_reads_as_none<S: DeviceStore>(store: S) {
    let absent = DeviceId::generate(Platform::Web);
    assert_eq!(store.device(&absent).await.expect("read succeeds"), None);
    assert_eq!(
        store.remove_device(&absent).await.expect("remove succeeds"),
        None
    );
    let token = push_token(Platform::Web, 404);
    assert_eq!(
        store
            .remove_device_by_token(&token, Timestamp::from_unix_millis(i64::MAX))
            .await
            .expect("remove_device_by_token succeeds"),
        None
    );
}

/// A known token renews its device when the renewal rule allows: same id, creation time, user,
/// association time and interests; new metadata and registration time.
pub async fn registering_a_known_token_renews_its_device<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let sports = Interest::new("sports").expect("a valid interest");
    // An APNs device with a user (the iOS SDK registers its token at every launch), and a Web
    // Push device registered again with its own keys.
    for platform in [Platform::Apns, Platform::Web] {
        let first = register(&store, platform, 7, 100).await;
        associate(&store, &first.id, &alice, AssociationPolicy::default(), 150).await;
        store
            .add_interest(&first.id, &sports, 10)
            .await
            .expect("add_interest succeeds")
            .expect("the device exists");
        let before = stored(&store, &first.id).await;

        let outcome = registered(
            &store,
            DeviceRegistration {
                id: DeviceId::generate(platform),
                token: push_token(platform, 7),
                metadata: metadata("9.9.9"),
                at: Timestamp::from_unix_millis(200),
            },
        )
        .await;

        let RegistrationOutcome::Renewed(renewed) = outcome else {
            panic!("{platform}: a known token renews its device, got {outcome:?}");
        };
        assert_eq!(
            renewed,
            Device {
                metadata: metadata("9.9.9"),
                token_registered_at: Timestamp::from_unix_millis(200),
                ..before
            },
            "{platform}: only the metadata and the registration time change"
        );
        assert_eq!(
            renewed.user.as_ref(),
            Some(&alice),
            "a registration keeps the user"
        );
        assert_eq!(stored(&store, &first.id).await, renewed);
        assert!(user_device_ids(&store, &alice).await.contains(&first.id));
        let interests = store
            .interests_of_device(&first.id, None, 10)
            .await
            .expect("interests_of_device succeeds");
        assert_eq!(
            interests,
            Some(vec![sports.clone()]),
            "{platform}: interests kept"
        );
    }
}

/// The same Web Push endpoint with other keys is not the browser's: refused, nothing changes.
pub async fn a_known_web_endpoint_with_other_keys_is_refused<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let first = register(&store, Platform::Web, 3, 100).await;
    associate(&store, &first.id, &alice, AssociationPolicy::default(), 150).await;
    let before = stored(&store, &first.id).await;
    let PushToken::Web(subscription) = &first.token else {
        panic!("a web fixture is a web token");
    };
    let mut other_auth = *subscription.auth();
    other_auth[0] ^= 0xff;
    let impostor = WebSubscription::from_bytes(
        subscription.endpoint(),
        subscription.p256dh(),
        &other_auth,
        EndpointRules::default(),
    )
    .expect("a valid subscription");

    let outcome = registered(
        &store,
        DeviceRegistration {
            id: DeviceId::generate(Platform::Web),
            token: PushToken::Web(impostor),
            metadata: metadata("6.6.6"),
            at: Timestamp::from_unix_millis(200),
        },
    )
    .await;

    assert_eq!(
        outcome,
        RegistrationOutcome::Refused(RegistrationRefusal::OtherKeys)
    );
    assert_eq!(stored(&store, &first.id).await, before, "nothing changed");
}

/// An FCM token whose device has a user is not registered again (the Android SDK never does);
/// once the device has no user, the token renews it.
pub async fn a_known_fcm_token_of_a_signed_in_device_is_refused<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let first = register(&store, Platform::Fcm, 4, 100).await;
    associate(&store, &first.id, &alice, AssociationPolicy::default(), 150).await;
    let before = stored(&store, &first.id).await;
    let again = || DeviceRegistration {
        id: DeviceId::generate(Platform::Fcm),
        token: push_token(Platform::Fcm, 4),
        metadata: metadata("6.6.6"),
        at: Timestamp::from_unix_millis(200),
    };

    let outcome = registered(&store, again()).await;

    assert_eq!(
        outcome,
        RegistrationOutcome::Refused(RegistrationRefusal::SignedInDevice)
    );
    assert_eq!(stored(&store, &first.id).await, before, "nothing changed");

    // Evicted from alice's devices by a newer one (a limit of one), the device has no user,
    // and the token renews it.
    let newer = register(&store, Platform::Fcm, 5, 100).await;
    let one = crate::testing::fixtures::policy(1, crate::WhenFull::EvictOldest);
    associate(&store, &newer.id, &alice, one, 160).await;
    assert_eq!(stored(&store, &first.id).await.user, None);
    let outcome = registered(&store, again()).await;
    let RegistrationOutcome::Renewed(renewed) = outcome else {
        panic!("a device with no user is renewed, got {outcome:?}");
    };
    assert_eq!(renewed.id, first.id);
    assert_eq!(renewed.metadata, metadata("6.6.6"));
}

/// One device per platform and token key; the same key on two platforms is two devices.
pub async fn push_tokens_are_unique_per_platform<S: DeviceStore>(store: S) {
    let a = register(&store, Platform::Fcm, 1, 10).await;
    let b = register(&store, Platform::Fcm, 1, 20).await;
    assert_eq!(a.id, b.id);

    // An APNs token of hex digits is also a valid FCM token: same key, other platform.
    let apns = register(&store, Platform::Apns, 5, 30).await;
    let RegistrationOutcome::Registered(fcm_same_key) = registered(
        &store,
        DeviceRegistration {
            id: DeviceId::generate(Platform::Fcm),
            token: crate::PushToken::Fcm(
                crate::FcmToken::new(apns.token.key()).expect("hex is a valid FCM token"),
            ),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(40),
        },
    )
    .await
    else {
        panic!("the same key on another platform is another device");
    };
    assert_ne!(fcm_same_key.id, apns.id);
    assert_eq!(
        token_holder(&store, &apns.token).await,
        Some(apns.id),
        "the APNs token leads to the APNs device"
    );
    assert_eq!(
        token_holder(&store, &fcm_same_key.token).await,
        Some(fcm_same_key.id),
        "the same key as an FCM token leads to the FCM device"
    );
}

/// A registration whose id names another platform than its token fails with `Precondition`
/// and stores nothing.
pub async fn a_registration_of_mixed_platforms_is_refused<S: DeviceStore>(store: S) {
    let id = DeviceId::generate(Platform::Fcm);
    let token = push_token(Platform::Apns, 1);
    let refused = store
        .register_device(DeviceRegistration {
            id: id.clone(),
            token: token.clone(),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(10),
        })
        .await
        .expect_err("an FCM id cannot hold an APNs token");
    assert!(
        matches!(refused.kind(), StoreErrorKind::Precondition { .. }),
        "refused as a broken precondition, not {:?}",
        refused.kind()
    );
    assert_eq!(store.device(&id).await.expect("read succeeds"), None);
    assert_eq!(token_holder(&store, &token).await, None);
}

/// After `remove_device`, no read, user listing or token lookup finds the device.
pub async fn removing_a_device_removes_it_everywhere<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let device = register(&store, Platform::Web, 3, 10).await;
    let other = register(&store, Platform::Web, 4, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;
    associate(&store, &other.id, &alice, AssociationPolicy::default(), 30).await;

    let removed = store
        .remove_device(&device.id)
        .await
        .expect("remove succeeds")
        .expect("the device existed");
    assert_eq!(removed.id, device.id);
    assert_eq!(
        removed.user.as_ref(),
        Some(&alice),
        "the removed device is returned as stored"
    );

    assert_device_gone(&store, &device).await;
    assert_eq!(
        user_device_ids(&store, &alice).await,
        vec![other.id.clone()]
    );

    // The token is free again: registering it makes a new device.
    let again = register(&store, Platform::Web, 3, 40).await;
    assert_ne!(again.id, device.id);
}
