//! The server binary killed (SIGKILL) in the middle of a storm of associations, then started
//! again on the same data directory: every association it answered 200 is still there, with
//! its user, and no user has more devices than the limit.
//!
//! The limit is 5 with the refuse policy, so an association answered 200 is never undone by a
//! later one (no eviction). The kill comes after a number of 200 answers, not after a time, so
//! it always lands mid-storm whatever the machine's speed.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beams_core::{DeviceStore, InstanceId, Platform, SecretKey, TokenIssuer, UserId};
use beams_store_sqlite::SqliteDeviceStore;
use beams_test_support::server_process::ServerProcess;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::Notify;

const INSTANCE: &str = "5d2c8b1a-3e4f-4a6b-8c7d-9e0f1a2b3c4d";
const SECRET: &str = "crash-test-secret-key-0123456789abcdef012";

/// Every wait is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);
/// Concurrent clients in the storm, and the devices each associates, one request each.
const TASKS: usize = 64;
const DEVICES_PER_TASK: usize = 24;
/// Users, each wanted by 8 or 16 devices: with 5 allowed, there are 600 possible successes.
const USERS: usize = 120;
const DEVICE_LIMIT: usize = 5;
/// 200 answers before the kill: about half of what the storm would get.
const KILL_AFTER: usize = 300;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The binary on `data_dir`, with the refuse policy and no per-client limits (the storm is
/// many clients on one address).
fn start(data_dir: &Path) -> ServerProcess {
    let limit = DEVICE_LIMIT.to_string();
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_beams-server")),
        &[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--instance-id",
            INSTANCE,
            "--secret-key",
            SECRET,
            "--device-limit",
            &limit,
            "--device-limit-policy",
            "refuse",
            "--registrations-per-minute",
            "0",
            "--interest-changes-per-minute",
            "0",
            "--auth-example",
            "off",
        ],
        Stdio::null(),
    )
    .unwrap()
}

/// One request, bounded; the status and JSON body, or why there was none.
async fn send(
    client: &HttpClient,
    method: Method,
    url: String,
    headers: &[(&str, &str)],
    body: String,
) -> Result<(u16, Value), String> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let exchange = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(LIMIT, exchange)
        .await
        .map_err(|_| "no answer within the limit".to_owned())?
}

fn device_api(base: &str, rest: &str) -> String {
    format!("{base}/device_api/v1/instances/{INSTANCE}{rest}")
}

fn user(n: usize) -> String {
    format!("crash-user-{n}")
}

/// Which user task `task` asks for with its `k`th device: 8 tasks want the same user at once.
fn wanted_user(task: usize, k: usize) -> usize {
    (k * 8 + task / 8) % USERS
}

/// What the storm saw.
#[derive(Default)]
struct Storm {
    /// (device, user) for every association answered 200.
    associated: Mutex<Vec<(String, usize)>>,
    successes: AtomicUsize,
    refused: AtomicUsize,
    /// Requests cut off by the kill.
    interrupted: AtomicUsize,
    /// Anything else before the kill: a failure of the server under load.
    unexpected: Mutex<Vec<String>>,
    killing: AtomicBool,
    reached: Notify,
}

async fn associate_all(
    client: HttpClient,
    base: String,
    task: usize,
    devices: Vec<String>,
    tokens: Arc<Vec<String>>,
    storm: Arc<Storm>,
) {
    for (k, device) in devices.into_iter().enumerate() {
        let wanted = wanted_user(task, k);
        let authorization = format!("Bearer {}", tokens[wanted]);
        let answer = send(
            &client,
            Method::PUT,
            device_api(&base, &format!("/devices/fcm/{device}/user")),
            &[("authorization", authorization.as_str())],
            String::new(),
        )
        .await;
        match answer {
            Ok((200, _)) => {
                storm.associated.lock().unwrap().push((device, wanted));
                if storm.successes.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    storm.reached.notify_one();
                }
            }
            Ok((422, _)) => {
                storm.refused.fetch_add(1, Ordering::Relaxed);
            }
            _ if storm.killing.load(Ordering::SeqCst) => {
                storm.interrupted.fetch_add(1, Ordering::Relaxed);
                return;
            }
            other => {
                storm
                    .unexpected
                    .lock()
                    .unwrap()
                    .push(format!("{device} for {}: {other:?}", user(wanted)));
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_association_answered_before_a_kill_survives_it_within_the_limit() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("beams-data");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut first = start(&data_dir);

    let registering: Vec<_> = (0..TASKS)
        .map(|task| {
            let (client, base) = (client.clone(), format!("http://{}", first.addr));
            tokio::spawn(async move {
                let mut devices = Vec::new();
                for k in 0..DEVICES_PER_TASK {
                    let body = serde_json::json!({
                        "token": format!("crash{task:03}x{k:03}:APA91bHun4MxP5egoKMwt2KZFBaFUH"),
                        "metadata": {"sdkVersion": "2.0.0"}
                    });
                    let (status, answer) = send(
                        &client,
                        Method::POST,
                        device_api(&base, "/devices/fcm"),
                        &[("content-type", "application/json")],
                        body.to_string(),
                    )
                    .await
                    .unwrap();
                    assert_eq!(status, 200, "{answer}");
                    devices.push(answer["id"].as_str().unwrap().to_owned());
                }
                devices
            })
        })
        .collect();
    let mut devices = Vec::new();
    for task in registering {
        devices.push(task.await.unwrap());
    }

    let issuer = TokenIssuer::new(
        &InstanceId::new(INSTANCE).unwrap(),
        &SecretKey::new(SECRET).unwrap(),
    );
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..USERS)
            .map(|n| issuer.issue(&UserId::new(user(n)).unwrap()).unwrap().token)
            .collect(),
    );
    let storm = Arc::new(Storm::default());
    let storming: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(task, devices)| {
            tokio::spawn(associate_all(
                client.clone(),
                format!("http://{}", first.addr),
                task,
                devices,
                Arc::clone(&tokens),
                Arc::clone(&storm),
            ))
        })
        .collect();
    tokio::time::timeout(LIMIT, storm.reached.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{KILL_AFTER} associations answered 200 within the limit; got {}, unexpected: {:?}",
                storm.successes.load(Ordering::SeqCst),
                storm.unexpected.lock().unwrap()
            )
        });
    storm.killing.store(true, Ordering::SeqCst);
    first.kill_now().unwrap();
    for task in storming {
        tokio::time::timeout(LIMIT, task)
            .await
            .expect("every client stops within the limit")
            .unwrap();
    }
    let unexpected = storm.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers before the kill: {unexpected:?}"
    );
    assert!(
        storm.interrupted.load(Ordering::Relaxed) > 0,
        "the kill cut requests off mid-storm"
    );
    let associated = storm.associated.lock().unwrap().clone();
    assert!(associated.len() >= KILL_AFTER);
    assert!(
        associated.len() < USERS * DEVICE_LIMIT,
        "the storm was not over at the kill"
    );

    let mut second = start(&data_dir);
    for (device, wanted) in &associated {
        let (status, answer) = send(
            &client,
            Method::GET,
            device_api(
                &format!("http://{}", second.addr),
                &format!("/devices/fcm/{device}"),
            ),
            &[],
            String::new(),
        )
        .await
        .unwrap();
        assert_eq!(
            status, 200,
            "{device} answered 200 before the kill: {answer}"
        );
        assert_eq!(
            answer["userId"],
            user(*wanted),
            "{device} was associated with {} before the kill",
            user(*wanted)
        );
    }
    second.kill_now().unwrap();

    let store = SqliteDeviceStore::open(data_dir.join("beams.db"))
        .await
        .unwrap();
    let mut per_user = BTreeMap::new();
    for n in 0..USERS {
        let devices = store
            .devices_of_user(&UserId::new(user(n)).unwrap())
            .await
            .unwrap();
        assert!(devices.iter().all(|d| d.platform() == Platform::Fcm));
        assert!(
            devices.len() <= DEVICE_LIMIT,
            "{} has {} devices, over the limit of {DEVICE_LIMIT}",
            user(n),
            devices.len()
        );
        per_user.insert(n, devices.len());
    }
    let stored: usize = per_user.values().sum();
    assert!(
        stored >= associated.len(),
        "{stored} associations stored, {} answered 200",
        associated.len()
    );
}
