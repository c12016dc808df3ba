//! Rules for storing every field faithfully, in memory and across a reopen.

use std::path::PathBuf;

use super::fixtures::{associate, metadata, push_token, register, stored, token_holder, user};
use crate::{
    AssociationPolicy, Device, DeviceId, DeviceMetadata, DeviceRegistration, DeviceStore,
    EndpointRules, Platform, PushToken, RegistrationOutcome, Timestamp, WebSubscription,
};

/// Every field of every platform's token reads back equal.
pub async fn device_fields_round_trip<S: DeviceStore>(store: S) {
    let subscription = WebSubscription::from_parts(
        "https://updates.push.services.example.org:8443/wpush/v2/gAAAAABh?x=1&y=%2F",
        super::fixtures::TEST_P256DH,
        super::fixtures::TEST_AUTH,
        EndpointRules::default(),
    )
    .expect("subscription is valid");
    let rich = DeviceMetadata::new([
        ("sdkVersion", "1.2.3"),
        ("iosVersion", "17.4"),
        ("unicode", "ü—🚀"),
        ("empty", ""),
    ])
    .expect("metadata is valid");
    let tokens = [
        push_token(Platform::Apns, u64::MAX),
        push_token(Platform::Fcm, 0),
        PushToken::Web(subscription),
    ];
    let alice = user("alice");
    for (n, token) in tokens.into_iter().enumerate() {
        let registration = DeviceRegistration {
            id: DeviceId::generate(token.platform()),
            token,
            metadata: rich.clone(),
            at: Timestamp::from_unix_millis(-5 + n as i64),
        };
        let outcome = store
            .register_device(registration)
            .await
            .expect("register_device succeeds");
        let RegistrationOutcome::Registered(device) = outcome else {
            panic!("a new token registers a new device, got {outcome:?}");
        };
        let at = i64::MAX - n as i64;
        associate(&store, &device.id, &alice, AssociationPolicy::default(), at).await;
        let read = stored(&store, &device.id).await;
        let expected = Device {
            user: Some(alice.clone()),
            associated_at: Some(Timestamp::from_unix_millis(at)),
            ..device
        };
        assert_eq!(read, expected);
    }
}

/// What was written before closing is read back after reopening at the same path.
///
/// `open_at` opens (creating if needed) the backend's store under the given directory; the
/// store is dropped to close it.
pub async fn data_survives_reopen<S, F>(open_at: F)
where
    S: DeviceStore,
    F: AsyncFn(PathBuf) -> S,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let alice = user("alice");
    let (devices, removed) = {
        let store = open_at(dir.path().to_path_buf()).await;
        let mut devices = Vec::new();
        for (n, platform) in Platform::ALL.into_iter().cycle().take(6).enumerate() {
            let device = register(&store, platform, n as u64, 10).await;
            if n % 2 == 0 {
                associate(
                    &store,
                    &device.id,
                    &alice,
                    AssociationPolicy::default(),
                    n as i64,
                )
                .await;
            }
            devices.push(device.id);
        }
        let removed = devices.pop().expect("six devices");
        store
            .remove_device(&removed)
            .await
            .expect("remove succeeds");
        let mut snapshot = Vec::new();
        for id in &devices {
            snapshot.push(stored(&store, id).await);
        }
        (snapshot, removed)
    };

    let store = open_at(dir.path().to_path_buf()).await;
    for device in &devices {
        assert_eq!(&stored(&store, &device.id).await, device);
    }
    assert_eq!(store.device(&removed).await.expect("read succeeds"), None);
    let alices: Vec<&Device> = devices.iter().filter(|d| d.user.is_some()).collect();
    let listed = store
        .devices_of_user(&alice)
        .await
        .expect("devices_of_user succeeds");
    assert_eq!(listed.iter().collect::<Vec<_>>(), alices);

    // The reopened store still enforces its rules on old data.
    let renewed = register(&store, Platform::Apns, 0, 99).await;
    assert_eq!(renewed.id, devices[0].id);
    assert_eq!(renewed.metadata, metadata("1.0.0"));
    for device in &devices {
        assert_eq!(
            token_holder(&store, &device.token).await.as_ref(),
            Some(&device.id),
            "the token of {} still leads to it",
            device.id
        );
    }
}
