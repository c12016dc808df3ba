//! Values the conformance rules build their scenarios from; backends' own tests may use them
//! too (crash and concurrency tests register devices the same way).

use std::num::NonZeroUsize;

use crate::{
    ApnsToken, AssociationOutcome, AssociationPolicy, AssociationRequest, Device, DeviceId,
    DeviceMetadata, DeviceRegistration, DeviceStore, EndpointRules, FcmToken, Platform, PushToken,
    RegistrationOutcome, Timestamp, UserId, WebSubscription, WhenFull,
};

/// A browser public key (uncompressed P-256 point) for test subscriptions.
pub const TEST_P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
/// A browser auth secret (16 bytes) for test subscriptions.
pub const TEST_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

/// A distinct, valid push token for `platform`, numbered `n`.
pub fn push_token(platform: Platform, n: u64) -> PushToken {
    match platform {
        Platform::Apns => {
            let hex = format!("{n:016x}").repeat(4);
            PushToken::Apns(ApnsToken::new(hex).expect("test APNs token is valid"))
        }
        Platform::Fcm => PushToken::Fcm(
            FcmToken::new(format!("fcm:APA91b-test_{n:08}")).expect("test FCM token is valid"),
        ),
        Platform::Web => PushToken::Web(
            WebSubscription::from_parts(
                &format!("https://push.example.net/send/{n}"),
                TEST_P256DH,
                TEST_AUTH,
                EndpointRules::default(),
            )
            .expect("test subscription is valid"),
        ),
    }
}

/// A user id; panics on an invalid one, as a test fixture should.
pub fn user(name: &str) -> UserId {
    UserId::new(name).expect("test user id is valid")
}

/// A policy with `limit` devices per platform.
pub fn policy(limit: usize, when_full: WhenFull) -> AssociationPolicy {
    AssociationPolicy::new(
        NonZeroUsize::new(limit).expect("test limit is positive"),
        when_full,
    )
}

/// Metadata an SDK might send.
pub fn metadata(sdk_version: &str) -> DeviceMetadata {
    DeviceMetadata::new([("sdkVersion", sdk_version)]).expect("test metadata is valid")
}

/// Registers device number `n` on `platform` at `at` (milliseconds): a new device, or the
/// device that has the token renewed (which must be allowed).
pub async fn register<S: DeviceStore + ?Sized>(
    store: &S,
    platform: Platform,
    n: u64,
    at: i64,
) -> Device {
    let outcome = store
        .register_device(DeviceRegistration {
            id: DeviceId::generate(platform),
            token: push_token(platform, n),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(at),
        })
        .await
        .expect("register_device succeeds");
    match outcome {
        RegistrationOutcome::Registered(device) | RegistrationOutcome::Renewed(device) => device,
        RegistrationOutcome::Refused(refusal) => panic!("registration refused: {refusal:?}"),
    }
}

/// Associates `device`, which must exist, with `user` under `policy` at `at` (milliseconds).
pub async fn associate<S: DeviceStore + ?Sized>(
    store: &S,
    device: &DeviceId,
    user: &UserId,
    policy: AssociationPolicy,
    at: i64,
) -> AssociationOutcome {
    store
        .associate(&AssociationRequest {
            device: device.clone(),
            user: user.clone(),
            policy,
            at: Timestamp::from_unix_millis(at),
        })
        .await
        .expect("associate succeeds")
        .expect("the device exists")
}

/// The stored device, which must exist.
pub async fn stored<S: DeviceStore + ?Sized>(store: &S, id: &DeviceId) -> Device {
    store
        .device(id)
        .await
        .expect("device read succeeds")
        .expect("device exists")
}

/// The ids of a user's devices, in the store's order.
pub async fn user_device_ids<S: DeviceStore + ?Sized>(store: &S, user: &UserId) -> Vec<DeviceId> {
    store
        .devices_of_user(user)
        .await
        .expect("devices_of_user succeeds")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// Which device a push token leads to, found the way a dead-token report finds it: by
/// removing the device that has the token. So probe last, once nothing else is to be checked
/// of the device.
pub async fn token_holder<S: DeviceStore + ?Sized>(
    store: &S,
    token: &PushToken,
) -> Option<DeviceId> {
    store
        .remove_device_by_token(token, Timestamp::from_unix_millis(i64::MAX))
        .await
        .expect("remove_device_by_token succeeds")
        .map(|device| device.id)
}

/// Asserts that no read finds `device` any more and that its token leads to no device.
pub async fn assert_device_gone<S: DeviceStore + ?Sized>(store: &S, device: &Device) {
    let by_id = store
        .device(&device.id)
        .await
        .expect("device read succeeds");
    assert_eq!(by_id, None, "device {} is gone", device.id);
    assert_eq!(
        token_holder(store, &device.token).await,
        None,
        "no device has the token of {}",
        device.id
    );
}
