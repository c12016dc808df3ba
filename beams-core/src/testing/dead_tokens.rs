//! Rules for removing a device when its push service says its token is dead.

use super::fixtures::{assert_device_gone, associate, register, user, user_device_ids};
use crate::{AssociationPolicy, DeviceStore, Platform, Timestamp};

/// A dead token removes the device that has it, association included.
pub async fn dead_token_removes_its_device<S: DeviceStore>(store: S) {
    let alice = user("alice");
    for (n, platform) in Platform::ALL.into_iter().enumerate() {
        let device = register(&store, platform, n as u64, 100).await;
        associate(
            &store,
            &device.id,
            &alice,
            AssociationPolicy::default(),
            150,
        )
        .await;
        // The cutoff equal to the registration time still covers it.
        let removed = store
            .remove_device_by_token(&device.token, Timestamp::from_unix_millis(100))
            .await
            .expect("remove_device_by_token succeeds")
            .expect("the device is removed");
        assert_eq!(removed.id, device.id);
        assert_device_gone(&store, &device).await;
    }
    assert!(user_device_ids(&store, &alice).await.is_empty());
}

/// A device whose token was registered after the cutoff survives.
pub async fn dead_token_spares_a_reregistered_device<S: DeviceStore>(store: S) {
    let device = register(&store, Platform::Apns, 1, 100).await;
    // The push service answered for a send made at 150; the app registered again at 200.
    let renewed = register(&store, Platform::Apns, 1, 200).await;
    assert_eq!(renewed.id, device.id);
    let removed = store
        .remove_device_by_token(&device.token, Timestamp::from_unix_millis(150))
        .await
        .expect("remove_device_by_token succeeds");
    assert_eq!(removed, None);
    assert_eq!(
        store.device(&device.id).await.expect("read succeeds"),
        Some(renewed)
    );
}

/// A token no device has removes nothing.
pub async fn dead_token_for_an_unknown_token_removes_nothing<S: DeviceStore>(store: S) {
    let kept = register(&store, Platform::Fcm, 1, 100).await;
    let unknown = super::fixtures::push_token(Platform::Fcm, 2);
    let removed = store
        .remove_device_by_token(&unknown, Timestamp::from_unix_millis(i64::MAX))
        .await
        .expect("remove_device_by_token succeeds");
    assert_eq!(removed, None);
    assert!(
        store
            .device(&kept.id)
            .await
            .expect("read succeeds")
            .is_some()
    );
}
