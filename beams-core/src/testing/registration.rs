//! Rules for registering, reading and removing devices.

use super::fixtures::{
    assert_device_gone, associate, metadata, push_token, register, stored, token_holder, user,
    user_device_ids,
};
use crate::{
    AssociationPolicy, DeviceId, DeviceRegistration, DeviceStore, Platform, StoreErrorKind,
    Timestamp,
};

/// `register_device` stores what it was given; `device` reads it back unchanged.
pub async fn registered_device_can_be_read_back<S: DeviceStore>(store: S) {
    for (n, platform) in Platform::ALL.into_iter().enumerate() {
        let registration = DeviceRegistration {
            id: DeviceId::generate(platform),
            token: push_token(platform, n as u64),
            metadata: metadata("2.3.4"),
            at: Timestamp::from_unix_millis(1_000 + n as i64),
        };
        let device = store
            .register_device(registration.clone())
            .await
            .expect("register_device succeeds");
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

/// A known token renews its device: same id and creation time; new token, metadata and
/// registration time; no user.
pub async fn registering_a_known_token_renews_its_device<S: DeviceStore>(store: S) {
    let first = register(&store, Platform::Apns, 7, 100).await;
    let alice = user("alice");
    associate(&store, &first.id, &alice, AssociationPolicy::default(), 150).await;

    let renewed = store
        .register_device(DeviceRegistration {
            id: DeviceId::generate(Platform::Apns),
            token: push_token(Platform::Apns, 7),
            metadata: metadata("9.9.9"),
            at: Timestamp::from_unix_millis(200),
        })
        .await
        .expect("register_device succeeds");

    assert_eq!(renewed.id, first.id, "a known token keeps its device id");
    assert_eq!(renewed.created_at, first.created_at);
    assert_eq!(
        renewed.token_registered_at,
        Timestamp::from_unix_millis(200)
    );
    assert_eq!(renewed.metadata, metadata("9.9.9"));
    assert_eq!(renewed.user, None, "a registration proves no user");
    assert_eq!(renewed.associated_at, None);
    assert_eq!(stored(&store, &first.id).await, renewed);
    assert!(user_device_ids(&store, &alice).await.is_empty());
}

/// One device per platform and token key; the same key on two platforms is two devices.
pub async fn push_tokens_are_unique_per_platform<S: DeviceStore>(store: S) {
    let a = register(&store, Platform::Fcm, 1, 10).await;
    let b = register(&store, Platform::Fcm, 1, 20).await;
    assert_eq!(a.id, b.id);

    // An APNs token of hex digits is also a valid FCM token: same key, other platform.
    let apns = register(&store, Platform::Apns, 5, 30).await;
    let fcm_same_key = store
        .register_device(DeviceRegistration {
            id: DeviceId::generate(Platform::Fcm),
            token: crate::PushToken::Fcm(
                crate::FcmToken::new(apns.token.key()).expect("hex is a valid FCM token"),
            ),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(40),
        })
        .await
        .expect("register_device succeeds");
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
