//! Rules for changing a registered device: its metadata, and its push token.

use super::fixtures::{
    assert_device_gone, associate, metadata, push_token, register, stored, token_holder, user,
};
use crate::{AssociationPolicy, DeviceId, DeviceStore, Platform, StoreErrorKind, Timestamp};

/// `update_metadata` changes the metadata and nothing else; an absent device gives `None`.
pub async fn metadata_can_be_replaced<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let device = register(&store, Platform::Apns, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;
    let before = stored(&store, &device.id).await;

    let updated = store
        .update_metadata(&device.id, metadata("7.0.0"))
        .await
        .expect("update_metadata succeeds")
        .expect("the device exists");
    assert_eq!(updated.metadata, metadata("7.0.0"));
    assert_eq!(
        crate::Device {
            metadata: before.metadata.clone(),
            ..updated.clone()
        },
        before,
        "nothing but the metadata changes"
    );
    assert_eq!(stored(&store, &device.id).await, updated);

    let absent = DeviceId::generate(Platform::Apns);
    let none = store
        .update_metadata(&absent, metadata("1"))
        .await
        .expect("update_metadata succeeds");
    assert_eq!(none, None);
}

/// `update_token` keeps id, user and creation time, takes the new token and registration
/// time; the old token finds nothing, the new one finds the device.
pub async fn a_token_can_be_refreshed<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let device = register(&store, Platform::Fcm, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;
    let new_token = push_token(Platform::Fcm, 2);

    let refreshed = store
        .update_token(
            &device.id,
            new_token.clone(),
            Timestamp::from_unix_millis(30),
        )
        .await
        .expect("update_token succeeds")
        .expect("the device exists");
    assert_eq!(refreshed.id, device.id);
    assert_eq!(refreshed.token, new_token);
    assert_eq!(
        refreshed.token_registered_at,
        Timestamp::from_unix_millis(30)
    );
    assert_eq!(refreshed.created_at, device.created_at);
    assert_eq!(
        refreshed.user.as_ref(),
        Some(&alice),
        "a refresh keeps the user"
    );
    assert_eq!(stored(&store, &device.id).await, refreshed);
    assert_eq!(token_holder(&store, &device.token).await, None);
    assert_eq!(
        token_holder(&store, &new_token).await,
        Some(device.id.clone())
    );

    let absent = DeviceId::generate(Platform::Fcm);
    let none = store
        .update_token(
            &absent,
            push_token(Platform::Fcm, 3),
            Timestamp::from_unix_millis(40),
        )
        .await
        .expect("update_token succeeds");
    assert_eq!(none, None);
}

/// Refreshing to a token another device of the platform holds deletes that device.
pub async fn a_refreshed_token_moves_from_the_device_that_had_it<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let moving = register(&store, Platform::Fcm, 1, 10).await;
    let holder = register(&store, Platform::Fcm, 2, 10).await;
    associate(&store, &holder.id, &alice, AssociationPolicy::default(), 20).await;

    let refreshed = store
        .update_token(
            &moving.id,
            holder.token.clone(),
            Timestamp::from_unix_millis(30),
        )
        .await
        .expect("update_token succeeds")
        .expect("the device exists");
    assert_eq!(refreshed.token, holder.token);
    assert_device_gone(
        &store,
        &crate::Device {
            token: push_token(Platform::Fcm, 99),
            ..holder.clone()
        },
    )
    .await;
    assert!(
        store
            .devices_of_user(&alice)
            .await
            .expect("devices_of_user succeeds")
            .is_empty()
    );
    assert_eq!(token_holder(&store, &holder.token).await, Some(moving.id));
}

/// `update_token` with a token of another platform fails with `Precondition` and changes
/// nothing (the device that holds that token elsewhere included), whether or not the device
/// exists.
pub async fn a_token_of_another_platform_is_refused<S: DeviceStore>(store: S) {
    let fcm = register(&store, Platform::Fcm, 1, 10).await;
    let apns = register(&store, Platform::Apns, 2, 10).await;
    let absent = DeviceId::generate(Platform::Fcm);
    for id in [&fcm.id, &absent] {
        let refused = store
            .update_token(id, apns.token.clone(), Timestamp::from_unix_millis(30))
            .await
            .expect_err("an APNs token is no FCM token");
        assert!(
            matches!(refused.kind(), StoreErrorKind::Precondition { .. }),
            "refused as a broken precondition, not {:?}",
            refused.kind()
        );
    }
    assert_eq!(stored(&store, &fcm.id).await, fcm);
    assert_eq!(stored(&store, &apns.id).await, apns);
    assert_eq!(store.device(&absent).await.expect("read succeeds"), None);
}
