//! The per-user device limit: the 101st web device evicts the oldest by default, and is
//! refused with 422 under the refuse policy.

use beams_core::{Platform, UserId};
use serde_json::json;

use crate::support::{TestServer, example_web_token, token_for};

/// Registers 101 web devices and associates each with `user` in order; returns their ids
/// and the answer to the last association.
async fn associate_101(server: &TestServer, user: &str) -> (Vec<String>, crate::support::Answer) {
    let token = token_for(user);
    let mut devices = Vec::new();
    for n in 0..100 {
        let device = server
            .register("web", &example_web_token(&format!("d{n}")))
            .await;
        assert_eq!(
            server.set_user(&device, &token).await.status,
            200,
            "device {n}"
        );
        devices.push(device);
    }
    let last = server.register("web", &example_web_token("d100")).await;
    let answer = server.set_user(&last, &token).await;
    devices.push(last);
    (devices, answer)
}

async fn user_web_devices(server: &TestServer, user: &str) -> Vec<String> {
    server
        .state
        .beams()
        .store()
        .devices_of_user(&UserId::new(user).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.platform() == Platform::Web)
        .map(|d| d.id.to_string())
        .collect()
}

#[tokio::test]
async fn the_101st_device_evicts_the_oldest_by_default() {
    let server = TestServer::start(&[]).await;
    let (devices, answer) = associate_101(&server, "dana").await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let kept = user_web_devices(&server, "dana").await;
    assert_eq!(kept.len(), 100);
    assert!(!kept.contains(&devices[0]), "the oldest was evicted");
    assert!(kept.contains(&devices[100]));
    // The evicted device still exists, without a user.
    let oldest = server
        .get(&server.device_api(&format!("/devices/web/{}", devices[0])))
        .await;
    assert_eq!(oldest.json()["userId"], json!(null));
    server.stop().await;
}

#[tokio::test]
async fn the_101st_device_is_refused_with_the_refuse_policy() {
    let server = TestServer::start(&["--device-limit-policy", "refuse"]).await;
    let (devices, answer) = associate_101(&server, "erin").await;
    assert_eq!(
        answer.assert_error(422),
        "User already has reached the maximum of 100 devices."
    );
    let kept = user_web_devices(&server, "erin").await;
    assert_eq!(kept.len(), 100);
    assert!(kept.contains(&devices[0]));
    assert!(!kept.contains(&devices[100]));
    server.stop().await;
}
