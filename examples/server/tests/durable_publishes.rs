//! An accepted publish survives the server: the binary is killed (SIGKILL) in the middle of
//! delivering two publishes to 2,000 users with two browsers each, through a slow loopback
//! push service, and started again on the same data directory. Every device receives the
//! notification at least once, and only the pages in flight at the kill are sent again.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use beams_core::{
    AssociationPolicy, AssociationRequest, DeviceId, DeviceMetadata, DeviceRegistration,
    DeviceStore, Platform, PushToken, Timestamp, UserId,
};
use beams_store_sqlite::SqliteDeviceStore;
use beams_test_support::server_process::ServerProcess;
use beams_test_support::web_push_mock::PushService;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const INSTANCE: &str = "8e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b";
const SECRET: &str = "durable-publish-secret-key-0123456789abcd";
const USERS: usize = 2000;
const DEVICES_PER_USER: usize = 2;
/// Users per publish (the most one publish may name).
const PER_PUBLISH: usize = 1000;
/// Users per store lookup: the server's page.
const PAGE_USERS: usize = 100;
/// Pages a publish may have unfinished at once (the one sending, the one looked up ahead).
const PAGES_IN_FLIGHT: usize = 2;
const KILL_AFTER: usize = 800;
const LIMIT: Duration = Duration::from_secs(90);

/// The binary on `data_dir`, its warnings in `log`.
fn start(data_dir: &Path, log: &Path) -> ServerProcess {
    start_with(data_dir, log, &[])
}

/// [`start`] with more flags.
fn start_with(data_dir: &Path, log: &Path, more: &[&str]) -> ServerProcess {
    let mut flags = vec![
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--instance-id",
        INSTANCE,
        "--secret-key",
        SECRET,
        "--allow-loopback-http-endpoints",
        "--auth-example",
        "off",
    ];
    flags.extend_from_slice(more);
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_beams-server")),
        &flags,
        std::fs::File::create(log).unwrap(),
    )
    .unwrap()
}

/// `users` users with two browsers each, straight into the server's database.
async fn populate(store: &dyn DeviceStore, users: usize, push: &PushService) -> Vec<String> {
    let mut paths = Vec::new();
    for n in 0..users {
        let user = UserId::new(format!("user-{n:04}")).unwrap();
        for k in 0..DEVICES_PER_USER {
            let name = format!("u{n}-d{k}");
            let subscription = push.subscribe(&name);
            let id = DeviceId::generate(Platform::Web);
            store
                .register_device(DeviceRegistration {
                    id: id.clone(),
                    token: PushToken::Web(subscription),
                    metadata: DeviceMetadata::default(),
                    at: Timestamp::from_unix_millis(1),
                })
                .await
                .unwrap();
            store
                .associate(&AssociationRequest {
                    device: id,
                    user: user.clone(),
                    policy: AssociationPolicy::default(),
                    at: Timestamp::from_unix_millis(2),
                })
                .await
                .unwrap();
            paths.push(format!("/push/{name}"));
        }
    }
    paths
}

async fn publish(base: &str, users: &[String]) -> u16 {
    publish_answer(base, users).await.0
}

/// The status, `Retry-After` and body a publish is answered with.
async fn publish_answer(base: &str, users: &[String]) -> (u16, Option<String>, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let body = serde_json::json!({
        "users": users,
        "web": {"notification": {"title": "Durable", "body": "at least once"}},
    });
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "{base}/publish_api/v1/instances/{INSTANCE}/publishes/users"
        ))
        .header("authorization", format!("Bearer {SECRET}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        serde_json::from_slice(&body).unwrap_or_default(),
    )
}

/// Receipts per subscription path.
fn receipts(push: &PushService) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for received in push.received() {
        *counts.entry(received.path).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_accepted_before_a_kill_reach_every_device_after_the_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let push = PushService::start().await;
    push.answer_after(Duration::from_millis(20));
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = SqliteDeviceStore::open(data_dir.join("beams.db"))
        .await
        .unwrap();
    let paths = populate(&store, USERS, &push).await;
    drop(store);

    let mut server = start(&data_dir, &temp.path().join("first.log"));
    let base = format!("http://{}", server.addr);
    let users: Vec<String> = (0..USERS).map(|n| format!("user-{n:04}")).collect();
    for chunk in users.chunks(PER_PUBLISH) {
        assert_eq!(publish(&base, chunk).await, 200, "the publish is accepted");
    }

    let started = Instant::now();
    while push.received().len() < KILL_AFTER {
        assert!(started.elapsed() < LIMIT, "deliveries began");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill_now().unwrap();
    let before = push.received().len();
    assert!(
        before < paths.len(),
        "killed mid-delivery ({before} of {})",
        paths.len()
    );

    let _restarted = start(&data_dir, &temp.path().join("restarted.log"));
    let started = Instant::now();
    loop {
        let reached = receipts(&push).len();
        if reached == paths.len() {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "after the restart {reached} of {} devices were reached",
            paths.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let anything still in flight land before counting duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let counts = receipts(&push);
    assert!(push.problems().is_empty(), "{:?}", push.problems());
    let most = counts.values().copied().max().unwrap();
    assert!(
        most <= 2,
        "no device gets it more than twice (once plus a resent page): {most}"
    );
    let twice = counts.values().filter(|&&n| n == 2).count();
    let publishes = USERS / PER_PUBLISH;
    let bound = publishes * PAGES_IN_FLIGHT * PAGE_USERS * DEVICES_PER_USER;
    assert!(
        twice <= bound,
        "only the pages in flight at the kill are sent again: {twice} devices twice, at most {bound}"
    );
    eprintln!(
        "{before} deliveries before the kill; {twice} of {} devices received it twice",
        paths.len()
    );
}

/// Past `--max-unfinished-publishes`, a publish is answered 429 with a `Retry-After` and
/// nothing is accepted; once the publish in the way finishes, publishing works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_answers_429_with_retry_after() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let push = PushService::start().await;
    push.answer_after(Duration::from_millis(1500));
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = SqliteDeviceStore::open(data_dir.join("beams.db"))
        .await
        .unwrap();
    let paths = populate(&store, 1, &push).await;
    drop(store);
    let _server = start_with(
        &data_dir,
        &temp.path().join("server.log"),
        &["--max-unfinished-publishes", "1"],
    );
    let base = format!("http://{}", _server.addr);
    let users = vec!["user-0000".to_owned()];
    assert_eq!(publish(&base, &users).await, 200, "the first is accepted");
    let (status, retry_after, body) = publish_answer(&base, &users).await;
    assert_eq!(status, 429, "{body}");
    let seconds: u64 = retry_after.expect("a Retry-After").parse().unwrap();
    assert!(seconds >= 1, "{seconds}");
    assert_eq!(body["error"], "Too Many Requests", "{body}");

    let started = Instant::now();
    loop {
        if publish(&base, &users).await == 200 {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "accepting again once the first finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = receipts(&push);
    assert!(
        counts.len() == paths.len(),
        "the first publish was delivered"
    );
}

/// Two servers on one PostgreSQL schema with a 3-second lease: the one delivering is killed,
/// and the other takes its publish over and finishes it within the lease and a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_server_finishes_a_publish_whose_server_died() {
    const NODE_USERS: usize = 400;
    let Some(schema) = beams_test_support::postgres::TestSchema::create().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let push = PushService::start().await;
    push.answer_after(Duration::from_millis(20));
    let store = beams_store_postgres::PostgresDeviceStore::connect(&schema.url())
        .await
        .unwrap();
    let paths = populate(&store, NODE_USERS, &push).await;
    drop(store);

    let url = schema.url();
    let shared = [
        "--store",
        "postgres",
        "--database",
        url.as_str(),
        "--publish-lease",
        "3",
    ];
    let (a_dir, b_dir) = (temp.path().join("a"), temp.path().join("b"));
    let mut a = start_with(&a_dir, &temp.path().join("a.log"), &shared);
    let _b = start_with(&b_dir, &temp.path().join("b.log"), &shared);
    let users: Vec<String> = (0..NODE_USERS).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(publish(&format!("http://{}", a.addr), &users).await, 200);

    let started = Instant::now();
    while push.received().len() < 100 {
        assert!(started.elapsed() < LIMIT, "deliveries began");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    a.kill_now().unwrap();
    let killed = Instant::now();
    let before = push.received().len();
    assert!(before < paths.len(), "killed mid-delivery");

    // A's requests in flight may still land just after the kill: settle, then wait for B.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = push.received().len();
    let mut resumed_after = None;
    loop {
        if resumed_after.is_none() && push.received().len() > settled {
            resumed_after = Some(killed.elapsed());
        }
        if receipts(&push).len() == paths.len() {
            break;
        }
        assert!(
            killed.elapsed() < LIMIT,
            "{} of {} devices reached after the kill",
            receipts(&push).len(),
            paths.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = killed.elapsed();
    let resumed_after = resumed_after.unwrap_or(took);
    // B starts within the lease (3 s) and its next look (every second), with room for a
    // loaded machine; the rest is delivery at the push service's pace.
    assert!(
        resumed_after < Duration::from_secs(6),
        "the other server began {resumed_after:?} after the kill"
    );
    let most = receipts(&push).values().copied().max().unwrap();
    assert!(most <= 2, "no device more than twice: {most}");
    eprintln!(
        "{before} deliveries before the kill; the other server began {resumed_after:?} and \
         finished {took:?} after it"
    );
}

/// A graceful stop no longer waits for every publish: with a one-second shutdown timeout the
/// server stops mid-delivery, and the next start finishes what it left in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_leaves_unfinished_publishes_to_the_next_start() {
    const STOP_USERS: usize = 500;
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let push = PushService::start().await;
    push.answer_after(Duration::from_millis(20));
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = SqliteDeviceStore::open(data_dir.join("beams.db"))
        .await
        .unwrap();
    let paths = populate(&store, STOP_USERS, &push).await;
    drop(store);
    let flags = ["--shutdown-timeout", "1"];
    let mut server = start_with(&data_dir, &temp.path().join("first.log"), &flags);
    let users: Vec<String> = (0..STOP_USERS).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(
        publish(&format!("http://{}", server.addr), &users).await,
        200
    );
    let started = Instant::now();
    while push.received().len() < 100 {
        assert!(started.elapsed() < LIMIT, "deliveries began");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = server.terminate().unwrap();
    assert!(status.success(), "a clean exit: {status}");
    assert!(
        receipts(&push).len() < paths.len(),
        "stopped before the publish finished"
    );

    let _next = start_with(&data_dir, &temp.path().join("next.log"), &flags);
    let started = Instant::now();
    while receipts(&push).len() < paths.len() {
        assert!(
            started.elapsed() < LIMIT,
            "{} of {} devices reached after the restart",
            receipts(&push).len(),
            paths.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
