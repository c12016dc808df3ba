//! Bytes on disk that do not decode give `StoreErrorKind::Corrupt` naming the key, never a
//! panic, and the failed operation changes nothing. A subscription whose device is missing is
//! skipped.

use beams_core::testing::fixtures::{associate, metadata, push_token, register, user};
use beams_core::{
    AssociationPolicy, DeviceId, DeviceRegistration, DeviceStore, Interest, Platform,
    StoreErrorKind, Timestamp,
};
use beams_store_sled::{SledDeviceStore, sled};

/// A store on a sled database the test can also write to by hand.
fn store_and_db() -> (SledDeviceStore, sled::Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = sled::Config::new()
        .path(dir.path().join("devices"))
        .open()
        .expect("sled opens");
    let store = SledDeviceStore::from_db(db.clone()).expect("the store opens");
    (store, db, dir)
}

fn corrupt_at(key: &str) -> StoreErrorKind {
    StoreErrorKind::Corrupt {
        key: key.to_owned(),
    }
}

#[tokio::test]
async fn a_device_that_does_not_decode_is_corrupt_and_named() {
    let (store, db, _dir) = store_and_db();
    let alice = user("alice");
    let device = register(&store, Platform::Fcm, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;

    let devices = db.open_tree("beams.devices").expect("devices tree");
    devices
        .insert(device.id.as_str(), &b"{not json"[..])
        .expect("raw write");
    let expected = corrupt_at(&format!("beams.devices/{}", device.id));

    let err = store
        .device(&device.id)
        .await
        .expect_err("device read fails");
    assert_eq!(err.kind(), &expected);
    assert!(
        std::error::Error::source(&err).is_some(),
        "the decode error is kept"
    );
    let err = store
        .devices_of_user(&alice)
        .await
        .expect_err("listing fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .remove_device_by_token(&device.token, Timestamp::from_unix_millis(i64::MAX))
        .await
        .expect_err("removal by token fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .associate(&beams_core::AssociationRequest {
            device: device.id.clone(),
            user: user("bob"),
            policy: AssociationPolicy::default(),
            at: beams_core::Timestamp::from_unix_millis(30),
        })
        .await
        .expect_err("association fails");
    assert_eq!(err.kind(), &expected);
    let err = store.remove_user(&alice).await.expect_err("removal fails");
    assert_eq!(err.kind(), &expected);
}

#[tokio::test]
async fn a_device_that_fails_validation_is_corrupt() {
    let (store, db, _dir) = store_and_db();
    let device = register(&store, Platform::Apns, 1, 10).await;
    let devices = db.open_tree("beams.devices").expect("devices tree");
    let json = String::from_utf8(devices.get(device.id.as_str()).unwrap().unwrap().to_vec())
        .expect("JSON is UTF-8");
    // Well-formed JSON, but the APNs token is no longer hex.
    let bad = json.replace(device.token.key(), "zz");
    devices
        .insert(device.id.as_str(), bad.as_bytes())
        .expect("raw write");
    let err = store.device(&device.id).await.expect_err("read fails");
    assert_eq!(
        err.kind(),
        &corrupt_at(&format!("beams.devices/{}", device.id))
    );
}

#[tokio::test]
async fn a_user_list_that_does_not_decode_is_corrupt_and_named() {
    let (store, db, _dir) = store_and_db();
    let alice = user("alice");
    let device = register(&store, Platform::Web, 1, 10).await;
    associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;

    let users = db.open_tree("beams.users").expect("users tree");
    let (key, _) = users
        .first()
        .expect("raw read")
        .expect("alice's list is stored");
    users.insert(key, &b"\x00\x01"[..]).expect("raw write");

    let expected = corrupt_at("beams.users/alice/web");
    let err = store
        .devices_of_user(&alice)
        .await
        .expect_err("listing fails");
    assert_eq!(err.kind(), &expected);
    let other = register(&store, Platform::Web, 2, 10).await;
    let err = store
        .associate(&beams_core::AssociationRequest {
            device: other.id.clone(),
            user: alice.clone(),
            policy: AssociationPolicy::default(),
            at: beams_core::Timestamp::from_unix_millis(30),
        })
        .await
        .expect_err("association fails");
    assert_eq!(err.kind(), &expected);
    // Nothing of the failed association was applied.
    assert_eq!(
        store.device(&other.id).await.expect("read succeeds"),
        Some(other)
    );
}

#[tokio::test]
async fn a_token_index_entry_that_does_not_decode_is_corrupt_and_named() {
    let (store, db, _dir) = store_and_db();
    let device = register(&store, Platform::Fcm, 7, 10).await;
    let tokens = db.open_tree("beams.tokens").expect("tokens tree");
    let (key, _) = tokens.first().expect("raw read").expect("one token");
    tokens
        .insert(key, &b"not-a-device-id"[..])
        .expect("raw write");
    let expected = corrupt_at(&format!("beams.tokens/fcm/{}", device.token.key()));
    let err = store
        .remove_device_by_token(&device.token, Timestamp::from_unix_millis(i64::MAX))
        .await
        .expect_err("removal by token fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .register_device(DeviceRegistration {
            id: DeviceId::generate(Platform::Fcm),
            token: device.token.clone(),
            metadata: metadata("2.0.0"),
            at: Timestamp::from_unix_millis(20),
        })
        .await
        .expect_err("registering the token again fails");
    assert_eq!(err.kind(), &expected);
    assert_eq!(
        store.device(&device.id).await.expect("read succeeds"),
        Some(device),
        "the failed calls changed nothing"
    );
}

fn interest(name: &str) -> Interest {
    Interest::new(name).expect("test interest is valid")
}

/// The interests-tree key of a subscription, by the documented layout.
fn subscription(name: &str, id: &str) -> Vec<u8> {
    [name.as_bytes(), b"\0", id.as_bytes()].concat()
}

#[tokio::test]
async fn a_subscription_of_a_missing_device_is_skipped() {
    let (store, db, _dir) = store_and_db();
    let news = interest("news");
    let mut subscribed = Vec::new();
    for n in 0..2 {
        let device = register(&store, Platform::Fcm, n, 10).await;
        store
            .add_interest(&device.id, &news, 10)
            .await
            .expect("add_interest succeeds");
        subscribed.push(device.id);
    }
    subscribed.sort();
    // An APNs id sorts before every FCM id, so the missing device comes first in a listing.
    let missing = DeviceId::generate(Platform::Apns);
    db.open_tree("beams.interests")
        .expect("interests tree")
        .insert(subscription("news", missing.as_str()), &b""[..])
        .expect("raw write");
    db.open_tree("beams.device_interests")
        .expect("device interests tree")
        .insert(missing.as_str(), &b"\x04news"[..])
        .expect("raw write");

    let ids = |devices: Vec<beams_core::Device>| -> Vec<DeviceId> {
        devices.into_iter().map(|d| d.id).collect()
    };
    let all = store
        .subscribers_page(std::slice::from_ref(&news), None, 10)
        .await
        .expect("the listing skips the missing device");
    assert_eq!(ids(all), subscribed);
    // A page is short only at the end: the missing device does not take the first page's place.
    let first = store
        .subscribers_page(std::slice::from_ref(&news), None, 1)
        .await
        .expect("listing succeeds");
    assert_eq!(ids(first), subscribed[..1]);
    assert_eq!(
        store
            .interests_of_device(&missing, None, 10)
            .await
            .expect("read succeeds"),
        None,
        "no device, whatever its list says"
    );

    // A device registered under that id starts with no interests.
    store
        .register_device(DeviceRegistration {
            id: missing.clone(),
            token: push_token(Platform::Apns, 9),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(20),
        })
        .await
        .expect("registration succeeds");
    assert_eq!(
        store
            .interests_of_device(&missing, None, 10)
            .await
            .expect("read succeeds"),
        Some(vec![])
    );
    let all = store
        .subscribers_page(std::slice::from_ref(&news), None, 10)
        .await
        .expect("listing succeeds");
    assert_eq!(ids(all), subscribed);
}

#[tokio::test]
async fn an_interest_list_that_does_not_decode_is_corrupt_and_named() {
    let (store, db, _dir) = store_and_db();
    let news = interest("news");
    let device = register(&store, Platform::Web, 1, 10).await;
    store
        .add_interest(&device.id, &news, 10)
        .await
        .expect("add_interest succeeds");
    db.open_tree("beams.device_interests")
        .expect("device interests tree")
        .insert(device.id.as_str(), &b"\x09news"[..])
        .expect("raw write");
    let expected = corrupt_at(&format!("beams.device_interests/{}", device.id));

    let err = store
        .interests_of_device(&device.id, None, 10)
        .await
        .expect_err("listing fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .add_interest(&device.id, &interest("sports"), 10)
        .await
        .expect_err("subscribing fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .remove_interest(&device.id, &news)
        .await
        .expect_err("unsubscribing fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .remove_device(&device.id)
        .await
        .expect_err("removal fails");
    assert_eq!(err.kind(), &expected);
    // Nothing of the failed writes was applied.
    assert_eq!(
        store.device(&device.id).await.expect("read succeeds"),
        Some(device.clone())
    );
    let found = store
        .subscribers_page(&[news, interest("sports")], None, 10)
        .await
        .expect("listing succeeds");
    assert_eq!(found, vec![device]);
}

#[tokio::test]
async fn an_interest_key_that_does_not_decode_is_corrupt_and_named() {
    let (store, db, _dir) = store_and_db();
    let news = interest("news");
    let device = register(&store, Platform::Apns, 1, 10).await;
    store
        .add_interest(&device.id, &news, 10)
        .await
        .expect("add_interest succeeds");
    db.open_tree("beams.interests")
        .expect("interests tree")
        .insert(subscription("news", "not-a-device"), &b""[..])
        .expect("raw write");
    let err = store
        .subscribers_page(&[news], None, 10)
        .await
        .expect_err("listing fails");
    assert_eq!(err.kind(), &corrupt_at("beams.interests/news/not-a-device"));
}

#[tokio::test]
async fn a_publish_that_does_not_decode_is_corrupt_and_named() {
    use beams_core::testing::{journal_entry, lease};
    use beams_core::{Acceptance, PublishJournal};

    let (store, db, _dir) = store_and_db();
    let journal = store.journal();
    let entry = journal_entry(10);
    let acceptance = journal
        .accept(&entry, &lease("node-a", 100), 10)
        .await
        .expect("accept succeeds");
    assert_eq!(acceptance, Acceptance::Accepted);
    db.open_tree("beams.publishes")
        .expect("publishes tree")
        .insert(entry.id.as_str(), &b"\x01\x00garbage"[..])
        .expect("raw write");
    let expected = corrupt_at(&format!("beams.publishes/{}", entry.id));

    let err = journal.record(&entry.id).await.expect_err("read fails");
    assert_eq!(err.kind(), &expected);
    let err = journal
        .checkpoint(&entry.id, &lease("node-a", 200), b"p")
        .await
        .expect_err("checkpoint fails");
    assert_eq!(err.kind(), &expected);
    let err = journal
        .claim(
            &lease("node-a/2", 200),
            Timestamp::from_unix_millis(0),
            Some("node-a"),
        )
        .await
        .expect_err("claim fails");
    assert_eq!(err.kind(), &expected);
    assert_eq!(
        journal.unfinished().await.expect("the count still reads"),
        1,
        "the failed writes changed nothing"
    );
}
