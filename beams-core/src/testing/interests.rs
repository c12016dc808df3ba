//! Rules for Device Interests: a device's subscriptions and the devices of an interest.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use tokio::sync::Barrier;

use super::fixtures::{associate, register, user};
use crate::{
    AssociationPolicy, DeviceId, DeviceStore, Interest, InterestChange, Platform, Timestamp,
};

fn interest(name: &str) -> Interest {
    Interest::new(name).expect("test interest is valid")
}

async fn interests_of<S: DeviceStore + ?Sized>(store: &S, id: &DeviceId) -> Vec<Interest> {
    store
        .interests_of_device(id, None, usize::MAX)
        .await
        .expect("interests_of_device succeeds")
        .expect("the device exists")
}

async fn devices_of<S: DeviceStore + ?Sized>(store: &S, interests: &[Interest]) -> Vec<DeviceId> {
    store
        .subscribers_page(interests, None, usize::MAX)
        .await
        .expect("subscribers_page succeeds")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// Adding, removing and listing agree; listing is in name order and pages with `after`.
pub async fn interests_can_be_added_removed_and_listed<S: DeviceStore>(store: S) {
    let device = register(&store, Platform::Web, 1, 10).await;
    for name in ["zebra", "apple", "mango", "kiwi"] {
        let change = store
            .add_interest(&device.id, &interest(name), 10)
            .await
            .expect("add_interest succeeds");
        assert_eq!(change, Some(InterestChange::Added));
    }
    let again = store
        .add_interest(&device.id, &interest("kiwi"), 10)
        .await
        .expect("add_interest succeeds");
    assert_eq!(again, Some(InterestChange::AlreadySubscribed));
    let names = |list: Vec<Interest>| {
        list.into_iter()
            .map(Interest::into_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(interests_of(&store, &device.id).await),
        ["apple", "kiwi", "mango", "zebra"]
    );

    let page = store
        .interests_of_device(&device.id, None, 2)
        .await
        .expect("interests_of_device succeeds")
        .expect("the device exists");
    assert_eq!(names(page.clone()), ["apple", "kiwi"]);
    let rest = store
        .interests_of_device(&device.id, page.last(), 2)
        .await
        .expect("interests_of_device succeeds")
        .expect("the device exists");
    assert_eq!(names(rest), ["mango", "zebra"]);

    let removed = store
        .remove_interest(&device.id, &interest("mango"))
        .await
        .expect("remove_interest succeeds");
    assert_eq!(removed, Some(true));
    let absent = store
        .remove_interest(&device.id, &interest("mango"))
        .await
        .expect("remove_interest succeeds");
    assert_eq!(absent, Some(false));
    assert_eq!(
        names(interests_of(&store, &device.id).await),
        ["apple", "kiwi", "zebra"]
    );
    assert!(devices_of(&store, &[interest("mango")]).await.is_empty());
    assert_eq!(
        devices_of(&store, &[interest("kiwi")]).await,
        vec![device.id]
    );
}

/// Setting the interests replaces the whole set.
pub async fn setting_interests_replaces_the_whole_set<S: DeviceStore>(store: S) {
    let device = register(&store, Platform::Fcm, 1, 10).await;
    let first: BTreeSet<Interest> = ["a", "b", "c"].into_iter().map(interest).collect();
    assert_eq!(
        store
            .set_interests(&device.id, &first)
            .await
            .expect("set_interests succeeds"),
        Some(())
    );
    let second: BTreeSet<Interest> = ["c", "d"].into_iter().map(interest).collect();
    assert_eq!(
        store
            .set_interests(&device.id, &second)
            .await
            .expect("set_interests succeeds"),
        Some(())
    );
    assert_eq!(
        interests_of(&store, &device.id).await,
        second.iter().cloned().collect::<Vec<_>>()
    );
    assert!(
        devices_of(&store, &[interest("a"), interest("b")])
            .await
            .is_empty()
    );
    assert_eq!(
        devices_of(&store, &[interest("d")]).await,
        vec![device.id.clone()]
    );
    assert_eq!(
        store
            .set_interests(&device.id, &BTreeSet::new())
            .await
            .expect("set_interests succeeds"),
        Some(())
    );
    assert!(interests_of(&store, &device.id).await.is_empty());
}

/// Adding beyond the maximum answers `TooMany` and changes nothing.
pub async fn adding_beyond_the_maximum_is_refused<S: DeviceStore>(store: S) {
    let device = register(&store, Platform::Apns, 1, 10).await;
    for n in 0..3 {
        let change = store
            .add_interest(&device.id, &interest(&format!("i{n}")), 3)
            .await
            .expect("add_interest succeeds");
        assert_eq!(change, Some(InterestChange::Added));
    }
    let change = store
        .add_interest(&device.id, &interest("i3"), 3)
        .await
        .expect("add_interest succeeds");
    assert_eq!(change, Some(InterestChange::TooMany { max: 3 }));
    assert_eq!(interests_of(&store, &device.id).await.len(), 3);
    assert!(devices_of(&store, &[interest("i3")]).await.is_empty());
}

/// Interest calls on an absent device change nothing and answer `None`.
pub async fn interest_calls_on_an_unknown_device<S: DeviceStore>(store: S) {
    let absent = DeviceId::generate(Platform::Web);
    let one: BTreeSet<Interest> = [interest("x")].into_iter().collect();
    assert_eq!(
        store
            .set_interests(&absent, &one)
            .await
            .expect("set_interests succeeds"),
        None
    );
    let change = store
        .add_interest(&absent, &interest("x"), 10)
        .await
        .expect("add_interest succeeds");
    assert_eq!(change, None);
    assert_eq!(
        store
            .remove_interest(&absent, &interest("x"))
            .await
            .expect("remove_interest succeeds"),
        None
    );
    assert_eq!(
        store
            .interests_of_device(&absent, None, 10)
            .await
            .expect("interests_of_device succeeds"),
        None
    );
    assert!(devices_of(&store, &[interest("x")]).await.is_empty());
}

/// A device subscribed to 3 of the 5 interests published to is found once; the listing is in
/// device-id order and pages with `after`.
pub async fn a_device_in_several_published_interests_is_found_once<S: DeviceStore>(store: S) {
    let published: Vec<Interest> = ["i1", "i2", "i3", "i4", "i5"]
        .into_iter()
        .map(interest)
        .collect();
    let many = register(&store, Platform::Web, 1, 10).await;
    let subset: BTreeSet<Interest> = published[1..4].iter().cloned().collect();
    store
        .set_interests(&many.id, &subset)
        .await
        .expect("set_interests succeeds");
    let mut expected = vec![many.id.clone()];
    for n in 2..12 {
        let device = register(&store, Platform::ALL[n % 3], n as u64, 10).await;
        store
            .add_interest(&device.id, &published[n % 5], 10)
            .await
            .expect("add_interest succeeds");
        expected.push(device.id);
    }
    let outsider = register(&store, Platform::Fcm, 99, 10).await;
    store
        .add_interest(&outsider.id, &interest("other"), 10)
        .await
        .expect("add_interest succeeds");
    expected.sort();

    let found = devices_of(&store, &published).await;
    assert_eq!(found, expected, "each subscribed device once, in id order");

    let mut paged = Vec::new();
    let mut after: Option<DeviceId> = None;
    loop {
        let page = store
            .subscribers_page(&published, after.as_ref(), 4)
            .await
            .expect("subscribers_page succeeds");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = page.last().map(|d| d.id.clone());
        paged.extend(page.into_iter().map(|d| d.id));
    }
    assert_eq!(paged, expected, "pages cover every device once");
}

/// Deleting a device, by id, by user, by dead token, or by a token moving to another device,
/// removes its subscriptions.
pub async fn removing_a_device_removes_its_subscriptions<S: DeviceStore>(store: S) {
    let news = interest("news");
    let alice = user("alice");
    let mut ids = Vec::new();
    for n in 0..5 {
        let device = register(&store, Platform::Fcm, n, 10).await;
        store
            .add_interest(&device.id, &news, 10)
            .await
            .expect("add_interest succeeds");
        ids.push(device);
    }
    store
        .remove_device(&ids[0].id)
        .await
        .expect("remove succeeds");
    associate(&store, &ids[1].id, &alice, AssociationPolicy::default(), 20).await;
    store
        .remove_user(&alice)
        .await
        .expect("remove_user succeeds");
    store
        .remove_device_by_token(&ids[2].token, Timestamp::from_unix_millis(10))
        .await
        .expect("remove_device_by_token succeeds");
    store
        .update_token(
            &ids[4].id,
            ids[3].token.clone(),
            Timestamp::from_unix_millis(30),
        )
        .await
        .expect("update_token succeeds");
    assert_eq!(devices_of(&store, &[news]).await, vec![ids[4].id.clone()]);
}

/// Registering a known token again keeps the device's interests (Beams answers them as its
/// `initialInterestSet`).
pub async fn a_renewed_device_keeps_its_interests<S: DeviceStore>(store: S) {
    let device = register(&store, Platform::Apns, 1, 10).await;
    store
        .add_interest(&device.id, &interest("sports"), 10)
        .await
        .expect("add_interest succeeds");
    let renewed = register(&store, Platform::Apns, 1, 20).await;
    assert_eq!(renewed.id, device.id);
    assert_eq!(
        interests_of(&store, &device.id).await,
        vec![interest("sports")]
    );
}

/// Many tasks subscribing and unsubscribing at once leave each device's interests and the
/// interest index in agreement.
pub async fn concurrent_subscriptions_stay_consistent<S: DeviceStore + 'static>(store: S) {
    const TASKS: usize = 64;
    let store = Arc::new(store);
    let names: Vec<Interest> = (0..8).map(|n| interest(&format!("topic-{n}"))).collect();
    let mut devices = Vec::new();
    for n in 0..8 {
        devices.push(register(&*store, Platform::Web, n, 10).await.id);
    }
    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, start) = (store.clone(), start.clone());
            let (device, names) = (devices[t % devices.len()].clone(), names.clone());
            tokio::spawn(async move {
                start.wait().await;
                for step in 0..20 {
                    let name = &names[(t + step) % names.len()];
                    if (t + step) % 3 == 0 {
                        store
                            .remove_interest(&device, name)
                            .await
                            .expect("remove_interest succeeds");
                    } else {
                        store
                            .add_interest(&device, name, 100)
                            .await
                            .expect("add_interest succeeds");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("subscriber did not panic");
    }
    for name in &names {
        let indexed: HashSet<DeviceId> = devices_of(&*store, std::slice::from_ref(name))
            .await
            .into_iter()
            .collect();
        for device in &devices {
            let has = interests_of(&*store, device).await.contains(name);
            assert_eq!(
                has,
                indexed.contains(device),
                "{device} and {name} disagree"
            );
        }
    }
}
