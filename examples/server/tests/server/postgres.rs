//! Two `beams-server` processes on one PostgreSQL database: a device registered on one is
//! associated on the other, publishes through either reach it, and a user deleted on one is
//! gone for both. And the ways `--store postgres` refuses to start: each a clear line on
//! standard error, soon, never showing the database password.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::http::Method;
use serde_json::{Value, json};

use beams_test_support::postgres::TestSchema;
use beams_test_support::server_process::ServerProcess;
use beams_test_support::web_push_mock::PushService;

use crate::support::{Api, INSTANCE, LIMIT, SECRET, token_for, web_token};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_beams-server"))
}

/// The flags of a node of the test instance on `database`, its files in `data_dir`.
fn node_flags(data_dir: &Path, database: &str) -> Vec<String> {
    [
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--instance-id",
        INSTANCE,
        "--secret-key",
        SECRET,
        "--store",
        "postgres",
        "--database",
        database,
        "--db-pool-size",
        "4",
        "--allow-loopback-http-endpoints",
        "--auth-example",
        "off",
        "--registrations-per-minute",
        "0",
        "--interest-changes-per-minute",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

/// Starts a node off the async workers (starting waits for its `listening on` line).
async fn start_node(flags: Vec<String>) -> ServerProcess {
    tokio::task::spawn_blocking(move || {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        ServerProcess::start(binary(), &flags, Stdio::inherit())
    })
    .await
    .unwrap()
    .unwrap()
}

/// Sends SIGTERM and waits (bounded) for a clean exit: by then every publish the node
/// accepted has been delivered, so what the push service has not received was never sent.
async fn terminate(mut node: ServerProcess) {
    let pid = node.pid.to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_messages(push: &PushService, count: usize) {
    tokio::time::timeout(LIMIT, async {
        while push.received().len() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} messages within the limit: {:?}", push.received()));
}

/// The title of the notification in the `n`th message the push service received.
fn title_of(push: &PushService, n: usize) -> String {
    let message: Value = serde_json::from_slice(&push.received()[n].plaintext).unwrap();
    message["notification"]["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn banner_store_line(node: &ServerProcess) -> &str {
    node.banner
        .iter()
        .find_map(|line| line.trim_start().strip_prefix("store:"))
        .unwrap_or_else(|| panic!("no store line in {:?}", node.banner))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_share_devices_users_and_deletions() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let push = PushService::start().await;
    let temp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (temp.path().join("node-a"), temp.path().join("node-b"));

    // Every node of an instance signs Web Push with one VAPID key: browsers subscribed with
    // its public key. A creates it; B is given A's.
    let node_a = start_node(node_flags(&dir_a, &schema.url())).await;
    let vapid_key: PathBuf = dir_a.join("vapid-private-key.pem");
    let mut flags_b = node_flags(&dir_b, &schema.url());
    flags_b.extend(["--vapid-key".to_owned(), vapid_key.display().to_string()]);
    let node_b = start_node(flags_b).await;
    let store = banner_store_line(&node_a);
    assert!(store.starts_with("postgres at postgres://"), "{store}");
    assert!(
        store.contains(schema.name()),
        "the search_path shows: {store}"
    );
    let (a, b) = (Api::at(&node_a.addr), Api::at(&node_b.addr));
    let vapid_path = a.device_api("/web-vapid-public-key");
    assert_eq!(
        a.get(&vapid_path).await.json(),
        b.get(&vapid_path).await.json()
    );

    // Registered on A, associated on B, seen associated on A.
    let alice = a
        .register("web", &web_token(&push.subscribe("alice-browser")))
        .await;
    assert_eq!(b.set_user(&alice, &token_for("alice")).await.status, 200);
    let seen = a.get(&a.device_api(&format!("/devices/web/{alice}"))).await;
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(seen.json()["userId"], "alice");

    // A publish to alice through either node reaches her browser.
    for (node, title) in [(&a, "through A"), (&b, "through B")] {
        let answer = node
            .publish(&json!({"users": ["alice"], "web": {"notification": {"title": title}}}))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    wait_for_messages(&push, 2).await;
    let mut titles = [title_of(&push, 0), title_of(&push, 1)];
    titles.sort();
    assert_eq!(titles, ["through A", "through B"]);
    assert!(
        push.received()
            .iter()
            .all(|message| message.path == "/push/alice-browser")
    );

    // Bob registers on B and is associated on A: he is there for the publish below to reach.
    let bob = b
        .register("web", &web_token(&push.subscribe("bob-browser")))
        .await;
    assert_eq!(a.set_user(&bob, &token_for("bob")).await.status, 200);

    // Alice's account is deleted on B: A no longer knows her device.
    let authorization = format!("Bearer {SECRET}");
    let deleted = b
        .send(
            Method::DELETE,
            &format!("/customer_api/v1/instances/{INSTANCE}/users/alice"),
            &[("authorization", authorization.as_str())],
            Bytes::new(),
        )
        .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let gone = a.get(&a.device_api(&format!("/devices/web/{alice}"))).await;
    assert_eq!(gone.status, 404, "{gone:?}");

    // A publish to both through A reaches bob alone; A's clean stop waits for its delivery.
    let answer = a
        .publish(&json!({"users": ["alice", "bob"], "web": {"notification": {"title": "after"}}}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    terminate(node_a).await;
    let received = push.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[2].path, "/push/bob-browser");
    assert_eq!(title_of(&push, 2), "after");
    assert!(push.problems().is_empty(), "{:?}", push.problems());
    terminate(node_b).await;
}

/// Runs the binary with `flags`, expecting it to exit (within the limit) with a failure;
/// returns what it wrote to standard error.
async fn refused_start(flags: Vec<String>) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BEAMS_")) {
        command.env_remove(name);
    }
    let mut child = command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .args(&flags)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{flags:?}: still starting after {LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{flags:?} started: {stderr}");
    stderr
}

/// The last line of standard error: the one `main` writes for the error that stopped it.
fn error_line(stderr: &str) -> &str {
    stderr.lines().last().unwrap_or_default()
}

#[tokio::test]
async fn postgres_without_a_database_url_refuses_to_start_naming_the_flag() {
    let stderr = refused_start(vec!["--store".into(), "postgres".into()]).await;
    let line = error_line(&stderr);
    assert!(
        line.starts_with("beams-server: --database: is required with --store postgres"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unusable_postgres_flags_refuse_to_start_naming_the_flag() {
    let postgres = |extra: &[&str]| {
        let mut flags: Vec<String> = ["--store", "postgres", "--database"]
            .map(String::from)
            .to_vec();
        flags.extend(extra.iter().map(|flag| (*flag).to_owned()));
        flags
    };
    for (flags, expected) in [
        (
            postgres(&["postgres://beams:hunter2@127.0.0.1:notaport/beams"]),
            "beams-server: --database: is not a PostgreSQL connection string",
        ),
        (
            postgres(&["postgres://127.0.0.1:1/beams", "--db-pool-size", "0"]),
            "beams-server: --db-pool-size: must be at least 1",
        ),
        (
            postgres(&[
                "postgres://127.0.0.1:1/beams",
                "--database-ca",
                "/nonexistent/database-ca.pem",
            ]),
            "beams-server: --database-ca: /nonexistent/database-ca.pem",
        ),
        (
            ["--database-ca", "/nonexistent/database-ca.pem"]
                .map(String::from)
                .to_vec(),
            "beams-server: --database-ca: applies to --store postgres only",
        ),
    ] {
        let stderr = refused_start(flags.clone()).await;
        assert!(
            error_line(&stderr).starts_with(expected),
            "{flags:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[tokio::test]
async fn an_unreachable_database_stops_startup_in_one_line_without_the_password() {
    let stderr = refused_start(
        ["--store", "postgres", "--database"]
            .map(String::from)
            .into_iter()
            .chain(["postgres://beams:hunter2@127.0.0.1:1/beams".to_owned()])
            .collect(),
    )
    .await;
    let line = error_line(&stderr);
    assert!(
        line.starts_with(
            "beams-server: could not open the postgres store at \
             postgres://beams:***@127.0.0.1:1/beams: device store: storage unavailable"
        ),
        "{stderr}"
    );
    assert!(line.contains("is PostgreSQL running"), "{line}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_server_stops_startup_saying_so() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    schema
        .client()
        .await
        .batch_execute(
            "CREATE TABLE beams_schema (version integer PRIMARY KEY); \
             INSERT INTO beams_schema VALUES (999)",
        )
        .await
        .unwrap();
    let stderr = refused_start(
        ["--store", "postgres", "--database"]
            .map(String::from)
            .into_iter()
            .chain([schema.url()])
            .collect(),
    )
    .await;
    let line = error_line(&stderr);
    assert!(
        line.starts_with("beams-server: could not open the postgres store at postgres://"),
        "{stderr}"
    );
    assert!(
        line.contains("storage layout version 999 is not supported"),
        "{line}"
    );
    assert!(
        line.contains("a newer beams-server migrated this database"),
        "{line}"
    );
}
