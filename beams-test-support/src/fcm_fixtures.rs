//! Fixtures for the FCM tests: a throwaway RSA key and its service-account key file, payloads,
//! deliveries, and a gateway configured for the loopback mock.

#![allow(clippy::unwrap_used, reason = "a fixture stops at the first surprise")]

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use beams_core::testing::fixtures::push_token;
use beams_core::{
    Batch, DeviceId, InstanceId, ManualClock, Payload, Platform, PublishId, Recipient, Timestamp,
};
use serde_json::{Value, json};

/// The Firebase project of the test key.
pub const PROJECT: &str = "beams-test";
/// The service account of the test key.
pub const CLIENT_EMAIL: &str = "beams@beams-test.iam.gserviceaccount.com";
/// The scope an assertion must ask for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A throwaway RSA key: PKCS#8 PEM for the key file, PKCS#1 DER public key for the mock.
#[derive(Clone)]
pub struct TestKey {
    /// The private key, PKCS#8 PEM, as a key file holds it.
    pub pem: String,
    /// The public key, PKCS#1 DER, for the mock to verify assertions with.
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").finish_non_exhaustive()
    }
}

impl TestKey {
    /// A new key (slow: prefer [`shared`](Self::shared)).
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = pair.as_der().unwrap();
        let encoded = STANDARD.encode(pkcs8.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        TestKey {
            pem,
            public_key: pair.public_key().as_ref().to_vec(),
        }
    }

    /// One key per test binary: generating RSA keys is slow.
    pub fn shared() -> &'static TestKey {
        static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
        KEY.get_or_init(TestKey::generate)
    }
}

/// A service-account key file as the Firebase console makes it.
pub fn service_account_json(key: &TestKey, token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": key.pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

/// A clock at a fixed, known time.
pub fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_unix_secs(1_700_000_000))
}

/// A payload whose `fcm` section is `body`.
pub fn payload(body: Value) -> Arc<Payload> {
    Arc::new(Payload {
        publish_id: PublishId::generate(),
        instance: InstanceId::new("00000000-0000-0000-0000-000000000000").unwrap(),
        platform: Platform::Fcm,
        body,
    })
}

/// The registration token of test device `n`.
pub fn token(n: u64) -> String {
    push_token(Platform::Fcm, n).key().to_owned()
}

/// A batch of `payload` to each device numbered in `devices`.
pub fn batch(payload: &Arc<Payload>, devices: std::ops::Range<u64>) -> Batch {
    Batch {
        payload: Arc::clone(payload),
        recipients: devices
            .map(|n| Recipient {
                device: DeviceId::generate(Platform::Fcm),
                token: push_token(Platform::Fcm, n),
            })
            .collect(),
    }
}

/// Runs `test`, failing it if it takes more than 30 seconds.
pub async fn bounded<F: std::future::Future>(test: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(30), test)
        .await
        .unwrap_or_else(|_| panic!("the test took more than 30 s"))
}
