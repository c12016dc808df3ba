//! Bytes on disk that do not decode give `StoreErrorKind::Corrupt` naming the key, never a
//! panic, and the failed operation changes nothing.

use beams_core::testing::fixtures::{associate, register, user};
use beams_core::{AssociationPolicy, DeviceStore, Platform, StoreErrorKind};
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
    let err = store.user_devices(&alice).await.expect_err("listing fails");
    assert_eq!(err.kind(), &expected);
    let err = store
        .device_by_token(&device.token)
        .await
        .expect_err("lookup fails");
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
    let err = store.user_devices(&alice).await.expect_err("listing fails");
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
    let err = store
        .device_by_token(&device.token)
        .await
        .expect_err("lookup fails");
    assert_eq!(
        err.kind(),
        &corrupt_at(&format!("beams.tokens/fcm/{}", device.token.key()))
    );
}
