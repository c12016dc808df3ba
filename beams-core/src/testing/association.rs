//! Rules for associating a device with a user.

use super::fixtures::{associate, register, stored, user, user_device_ids};
use crate::{
    AssociationOutcome, AssociationPolicy, AssociationRefusal, AssociationRequest, DeviceId,
    DeviceStore, Platform, Timestamp,
};

/// Association sets the device's user and time and lists it among the user's devices.
pub async fn association_links_device_and_user<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let device = register(&store, Platform::Fcm, 1, 10).await;
    let outcome = associate(&store, &device.id, &alice, AssociationPolicy::default(), 50).await;
    assert_eq!(outcome, AssociationOutcome::Associated { evicted: vec![] });

    let after = stored(&store, &device.id).await;
    assert_eq!(after.user.as_ref(), Some(&alice));
    assert_eq!(after.associated_at, Some(Timestamp::from_unix_millis(50)));
    assert_eq!(after.token, device.token);
    assert_eq!(after.created_at, device.created_at);
    assert_eq!(user_device_ids(&store, &alice).await, vec![device.id]);
}

/// Associating again with the same user answers `AlreadyAssociated` and keeps the time.
pub async fn reassociating_with_the_same_user_changes_nothing<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let device = register(&store, Platform::Apns, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 50).await;
    let before = stored(&store, &device.id).await;

    let again = associate(&store, &device.id, &alice, AssociationPolicy::default(), 90).await;
    assert_eq!(again, AssociationOutcome::AlreadyAssociated);
    assert_eq!(stored(&store, &device.id).await, before);
    assert_eq!(user_device_ids(&store, &alice).await, vec![device.id]);
}

/// A device of another user is refused with `UserMismatch`, and nothing changes.
pub async fn association_with_another_user_is_refused<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let bob = user("bob");
    let device = register(&store, Platform::Web, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 50).await;
    let before = stored(&store, &device.id).await;

    let outcome = associate(&store, &device.id, &bob, AssociationPolicy::default(), 60).await;
    assert_eq!(
        outcome,
        AssociationOutcome::Refused(AssociationRefusal::UserMismatch)
    );
    assert_eq!(stored(&store, &device.id).await, before);
    assert!(user_device_ids(&store, &bob).await.is_empty());
    assert_eq!(
        user_device_ids(&store, &alice).await,
        vec![device.id.clone()]
    );

    // Once the device is gone (logout), its token may register again and go to bob.
    store
        .remove_device(&device.id)
        .await
        .expect("remove succeeds");
    let fresh = register(&store, Platform::Web, 1, 70).await;
    let outcome = associate(&store, &fresh.id, &bob, AssociationPolicy::default(), 80).await;
    assert_eq!(outcome, AssociationOutcome::Associated { evicted: vec![] });
}

/// Associating an absent device answers `None` and creates nothing.
pub async fn association_of_an_unknown_device_is_none<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let absent = DeviceId::generate(Platform::Fcm);
    let outcome = store
        .associate(&AssociationRequest {
            device: absent.clone(),
            user: alice.clone(),
            policy: AssociationPolicy::default(),
            at: Timestamp::from_unix_millis(50),
        })
        .await
        .expect("associate succeeds");
    assert_eq!(outcome, None);
    assert!(user_device_ids(&store, &alice).await.is_empty());
    assert_eq!(store.device(&absent).await.expect("read succeeds"), None);
}

/// `devices_of_user` lists oldest association first, ties by device id.
pub async fn devices_of_a_user_are_listed_in_association_order<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let mut devices = Vec::new();
    for n in 0..6 {
        devices.push(register(&store, Platform::ALL[n % 3], n as u64, 10).await);
    }
    // Associated out of registration order, two pairs sharing a time.
    let times = [500, 100, 300, 100, 300, 200];
    for (device, at) in devices.iter().zip(times) {
        associate(&store, &device.id, &alice, AssociationPolicy::default(), at).await;
    }
    let mut expected: Vec<(i64, DeviceId)> = devices
        .iter()
        .zip(times)
        .map(|(d, at)| (at, d.id.clone()))
        .collect();
    expected.sort();
    let expected: Vec<DeviceId> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(user_device_ids(&store, &alice).await, expected);
}
