//! Rules for looking up and deleting users' devices.

use std::collections::HashSet;

use super::fixtures::{associate, register, user, user_device_ids};
use crate::{AssociationPolicy, DeviceId, DeviceStore, Platform, UserId};

/// `devices_of_users` returns every device of every listed user once; unknown and repeated users
/// add nothing.
pub async fn devices_of_many_users_in_one_call<S: DeviceStore>(store: S) {
    let users: Vec<UserId> = (0..20).map(|i| user(&format!("user-{i}"))).collect();
    let mut expected = HashSet::new();
    let mut n = 0;
    for (i, u) in users.iter().enumerate() {
        for _ in 0..(i % 4) {
            let device = register(&store, Platform::ALL[n % 3], n as u64, 10).await;
            associate(
                &store,
                &device.id,
                u,
                AssociationPolicy::default(),
                n as i64,
            )
            .await;
            expected.insert(device.id);
            n += 1;
        }
    }
    // A registered device with no user never shows up.
    register(&store, Platform::Fcm, 9_999, 10).await;

    let mut asked = users.clone();
    asked.push(user("nobody"));
    asked.extend(users.iter().take(5).cloned());
    let found = store
        .devices_of_users(&asked)
        .await
        .expect("devices_of_users succeeds");
    let ids: Vec<DeviceId> = found.iter().map(|d| d.id.clone()).collect();
    let unique: HashSet<DeviceId> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "each device once");
    assert_eq!(unique, expected);
    for device in &found {
        assert!(device.user.as_ref().is_some_and(|u| users.contains(u)));
    }

    let some = store
        .devices_of_users(&users[..4])
        .await
        .expect("devices_of_users succeeds");
    assert_eq!(some.len(), 1 + 2 + 3);
    assert!(
        store
            .devices_of_users(&[])
            .await
            .expect("devices_of_users succeeds")
            .is_empty()
    );
}

/// `remove_user` deletes every device of the user on every platform, and no other.
pub async fn removing_a_user_removes_all_their_devices<S: DeviceStore>(store: S) {
    let alice = user("alice");
    let bob = user("bob");
    let mut alices = HashSet::new();
    for (n, platform) in Platform::ALL.into_iter().cycle().take(9).enumerate() {
        let device = register(&store, platform, n as u64, 10).await;
        associate(
            &store,
            &device.id,
            &alice,
            AssociationPolicy::default(),
            n as i64,
        )
        .await;
        alices.insert(device.id);
    }
    let bobs = register(&store, Platform::Fcm, 100, 10).await;
    associate(&store, &bobs.id, &bob, AssociationPolicy::default(), 5).await;
    let unassociated = register(&store, Platform::Apns, 101, 10).await;

    let removed = store
        .remove_user(&alice)
        .await
        .expect("remove_user succeeds");
    let removed: HashSet<DeviceId> = removed.into_iter().map(|d| d.id).collect();
    assert_eq!(removed, alices);
    for id in &alices {
        assert_eq!(store.device(id).await.expect("read succeeds"), None);
    }
    assert!(user_device_ids(&store, &alice).await.is_empty());
    assert_eq!(user_device_ids(&store, &bob).await, vec![bobs.id]);
    assert!(
        store
            .device(&unassociated.id)
            .await
            .expect("read succeeds")
            .is_some()
    );

    let again = store
        .remove_user(&alice)
        .await
        .expect("remove_user succeeds");
    assert!(again.is_empty(), "deleting an absent user deletes nothing");
}

/// User ids of any Unicode, up to 164 characters, are stored and matched exactly.
pub async fn unicode_and_longest_user_ids<S: DeviceStore>(store: S) {
    let names = [
        "é".repeat(164),
        "x".repeat(164),
        "👩‍👩‍👧".to_owned(),
        "ユーザー/with spaces+and%2Fodd'chars\";--".to_owned(),
        "CaseSensitive".to_owned(),
        "casesensitive".to_owned(),
        "e\u{301}".to_owned(),
        "\u{e9}".to_owned(),
        "nul\u{0}inside".to_owned(),
    ];
    let mut ids = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let u = user(name);
        let device = register(&store, Platform::Fcm, n as u64, 10).await;
        associate(&store, &device.id, &u, AssociationPolicy::default(), 5).await;
        ids.push((u, device.id));
    }
    for (u, id) in &ids {
        assert_eq!(
            user_device_ids(&store, u).await,
            vec![id.clone()],
            "user {u:?} has exactly its own device"
        );
        let device = store
            .device(id)
            .await
            .expect("read succeeds")
            .expect("exists");
        assert_eq!(device.user.as_ref(), Some(u));
    }
}
