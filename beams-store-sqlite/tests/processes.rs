//! The limit across processes, and the devices and the publish journal across a crash: the
//! test binary runs itself as a second process (the ignored `child_process` test, steered by
//! environment variables).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use beams_core::testing::fixtures::{policy, push_token, user};
use beams_core::testing::{journal_entry, lease};
use beams_core::{
    Acceptance, AssociationOutcome, AssociationPolicy, AssociationRequest, DeviceId,
    DeviceMetadata, DeviceRegistration, DeviceStore, JournalState, Platform, PublishId,
    PublishJournal, Timestamp, WhenFull,
};
use beams_store_sqlite::{SqliteDeviceStore, rusqlite};

const ROLE: &str = "BEAMS_SQLITE_CHILD_ROLE";
const DB: &str = "BEAMS_SQLITE_CHILD_DB";
const LIMIT: usize = 5;
const SHARED_USER: &str = "shared";
/// Every child stops by itself after this long, should its parent fail to stop it.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn limit() -> AssociationPolicy {
    policy(LIMIT, WhenFull::EvictOldest)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts")
}

fn spawn_child(role: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child process starts")
}

/// Registers `count` devices numbered from `first` and returns their ids.
async fn register_many(store: &SqliteDeviceStore, first: u64, count: u64) -> Vec<DeviceId> {
    let mut ids = Vec::new();
    for n in first..first + count {
        let device = store
            .register_device(DeviceRegistration {
                id: DeviceId::generate(Platform::Fcm),
                token: push_token(Platform::Fcm, n),
                metadata: DeviceMetadata::default(),
                at: Timestamp::from_unix_millis(n as i64),
            })
            .await
            .expect("register_device succeeds")
            .into_device()
            .expect("a new token registers");
        ids.push(device.id);
    }
    ids
}

/// Associates every device with the shared user, round after round (evicted devices come
/// back and evict others), checking after each write that the user is within the limit.
async fn contend(store: &SqliteDeviceStore, devices: &[DeviceId], rounds: usize) -> usize {
    let shared = user(SHARED_USER);
    let mut writes = 0;
    for round in 0..rounds {
        for (i, device) in devices.iter().enumerate() {
            let request = AssociationRequest {
                device: device.clone(),
                user: shared.clone(),
                policy: limit(),
                at: Timestamp::from_unix_millis((round * devices.len() + i) as i64),
            };
            store.associate(&request).await.expect("associate succeeds");
            writes += 1;
            let seen = store
                .devices_of_user(&shared)
                .await
                .expect("devices_of_user succeeds");
            assert!(
                seen.len() <= LIMIT,
                "saw {} devices over the limit",
                seen.len()
            );
        }
    }
    writes
}

/// The second process: `contend` on its own devices at the same time as the parent, or an
/// association or a journal storm that runs until it is killed.
#[test]
#[ignore = "the process tests run it as their child process"]
fn child_process() {
    let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) else {
        panic!("run only by the process tests, which set {ROLE} and {DB}");
    };
    let db = PathBuf::from(db);
    runtime().block_on(async {
        let store = SqliteDeviceStore::open(&db)
            .await
            .expect("the child opens the database");
        let mut out = std::io::stdout().lock();
        match role.as_str() {
            "contend" => {
                let devices = register_many(&store, 10_000, 40).await;
                writeln!(out, "READY")
                    .and_then(|()| out.flush())
                    .expect("stdout");
                let go = db.with_extension("go");
                let started = Instant::now();
                while !go.exists() {
                    assert!(
                        started.elapsed() < CHILD_DEADLINE,
                        "the parent never said go"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let start = unix_millis();
                let writes = contend(&store, &devices, 10).await;
                let end = unix_millis();
                writeln!(out, "DONE {writes} {start} {end}")
                    .and_then(|()| out.flush())
                    .expect("stdout");
            }
            "storm" => storm(&store, &mut out).await,
            "journal" => journal_storm(&store, &mut out).await,
            other => panic!("unknown child role {other}"),
        }
    });
}

/// Registers a device and associates it with one of 20 users, forever (until killed or the
/// deadline), reporting each committed association as `ASSOC <device> <user> <evicted,…>`.
async fn storm(store: &SqliteDeviceStore, out: &mut impl Write) {
    let started = Instant::now();
    for n in 0_u64.. {
        assert!(
            started.elapsed() < CHILD_DEADLINE,
            "the parent never killed the storm"
        );
        let device = register_many(store, n, 1).await.remove(0);
        let owner = user(&format!("user-{}", n % 20));
        let request = AssociationRequest {
            device: device.clone(),
            user: owner.clone(),
            policy: limit(),
            at: Timestamp::from_unix_millis(n as i64),
        };
        let Some(AssociationOutcome::Associated { evicted }) =
            store.associate(&request).await.expect("associate succeeds")
        else {
            panic!("a fresh device is always associated");
        };
        let evicted: Vec<&str> = evicted.iter().map(DeviceId::as_str).collect();
        writeln!(out, "ASSOC {device} {owner} {}", evicted.join(","))
            .and_then(|()| out.flush())
            .expect("stdout");
    }
}

/// Journals publishes, checkpoints each and finishes every other one, forever (until killed
/// or the deadline), reporting each commit as `JOURNAL <stage> <id>`.
async fn journal_storm(store: &SqliteDeviceStore, out: &mut impl Write) {
    let journal = store.journal();
    let started = Instant::now();
    for n in 0_i64.. {
        assert!(
            started.elapsed() < CHILD_DEADLINE,
            "the parent never killed the storm"
        );
        let entry = journal_entry(n);
        let mut report = |stage: &str| {
            writeln!(out, "JOURNAL {stage} {}", entry.id)
                .and_then(|()| out.flush())
                .expect("stdout")
        };
        let acceptance = journal
            .accept(&entry, &lease("node-a", n), 1_000_000)
            .await
            .expect("accept succeeds");
        assert_eq!(acceptance, Acceptance::Accepted);
        report("accepted");
        let progress = format!("page {n}");
        let checkpointed = journal
            .checkpoint(&entry.id, &lease("node-a", n + 1), progress.as_bytes())
            .await
            .expect("checkpoint succeeds");
        assert!(checkpointed);
        report("checkpointed");
        if n % 2 == 0 {
            let at = Timestamp::from_unix_millis(n);
            let finished = journal
                .finish(&entry.id, "node-a", b"done", at)
                .await
                .expect("finish succeeds");
            assert!(finished);
            report("finished");
        }
    }
}

#[test]
fn the_limit_holds_for_two_processes_on_one_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("beams.db");
    runtime().block_on(async {
        let store = SqliteDeviceStore::open(&db)
            .await
            .expect("the database opens");
        let mine = register_many(&store, 0, 40).await;

        let mut child = spawn_child("contend", &db);
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = lines.find(|l| l.as_deref().is_ok_and(|l| l.ends_with("READY")));
        assert!(ready.is_some(), "the child got ready");
        std::fs::write(db.with_extension("go"), b"").expect("say go");

        let (start, writes, end) = (
            unix_millis(),
            contend(&store, &mine, 10).await,
            unix_millis(),
        );
        assert_eq!(writes, 400);
        // Read to the end, so the child never writes into a closed pipe.
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let done = rest
            .iter()
            .find_map(|l| Some(l[l.find("DONE ")? + 5..].to_owned()))
            .expect("the child finished its storm");
        let done: Vec<u128> = done
            .split(' ')
            .map(|n| n.parse().expect("a number"))
            .collect();
        assert_eq!(done[0], 400, "the child made all its writes");
        assert!(
            done[1] < end && start < done[2],
            "the two processes wrote at the same time: parent {start}..{end}, child {}..{}",
            done[1],
            done[2]
        );
        assert!(child.wait().expect("the child exits").success());

        let shared = store
            .devices_of_user(&user(SHARED_USER))
            .await
            .expect("devices_of_user");
        assert_eq!(shared.len(), LIMIT, "exactly the limit remains");
        // Both processes' devices competed for the same slots.
        assert_eq!(count_over_limit(&db), 0);
        assert_eq!(integrity_check(&db), "ok");
    });
}

#[test]
fn a_killed_writer_leaves_a_consistent_database_with_every_reported_commit() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("beams.db");
    let mut child = spawn_child("storm", &db);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reported = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while reported.len() < 300 {
        let line = lines
            .next()
            .expect("the storm reports before it is killed")
            .expect("readable output");
        if let Some(report) = assoc_report(&line) {
            reported.push(report);
        }
    }
    child.kill().expect("SIGKILL the storm mid-way");
    child.wait().expect("the storm is reaped");
    // Lines the child wrote before dying are still in the pipe.
    reported.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ASSOC ").map(str::to_owned)),
    );

    assert_eq!(integrity_check(&db), "ok");
    assert_eq!(count_over_limit(&db), 0, "no user exceeds the limit");
    assert_eq!(
        index_row_counts(&db),
        (true, true),
        "every index entry points at a row"
    );

    // Replay what the child reported; the store must agree, except for the one association
    // the child may have committed and not yet reported when it died.
    let mut expected: HashMap<String, Option<String>> = HashMap::new();
    for line in &reported {
        let mut parts = line.split(' ');
        let (Some(device), Some(owner)) = (parts.next(), parts.next()) else {
            panic!("malformed report {line:?}");
        };
        expected.insert(device.to_owned(), Some(owner.to_owned()));
        for evicted in parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|e| !e.is_empty())
        {
            expected.insert(evicted.to_owned(), None);
        }
    }
    let actual = runtime().block_on(async {
        let store = SqliteDeviceStore::open(&db)
            .await
            .expect("the database reopens");
        let mut actual = HashMap::new();
        for id in expected.keys() {
            let id = DeviceId::parse(id).expect("reported ids are valid");
            let device = store.device(&id).await.expect("read succeeds");
            let device = device.unwrap_or_else(|| panic!("reported device {id} is there"));
            actual.insert(id.to_string(), device.user.map(|u| u.to_string()));
        }
        actual
    });
    let differing: Vec<_> = expected
        .iter()
        .filter(|(id, user)| actual[*id] != **user)
        .collect();
    assert!(
        differing.len() <= 1
            && differing
                .iter()
                .all(|(id, user)| user.is_some() && actual[*id].is_none()),
        "only the one unreported association may have evicted a reported device: {differing:?}"
    );
    let unique: HashSet<&String> = reported.iter().collect();
    assert_eq!(unique.len(), reported.len());
}

#[test]
fn a_killed_journal_writer_leaves_a_readable_journal_with_every_reported_commit() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("beams.db");
    let mut child = spawn_child("journal", &db);
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut reported = Vec::new();
    while reported.len() < 300 {
        let line = lines
            .next()
            .expect("the storm reports before it is killed")
            .expect("readable output");
        reported.extend(journal_report(&line));
    }
    child.kill().expect("SIGKILL the storm mid-way");
    child.wait().expect("the storm is reaped");
    reported.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| journal_report(&l)),
    );

    assert_eq!(integrity_check(&db), "ok");
    // Each publish's last reported stage; the one commit the child may have made and not
    // reported can only have taken its publish a stage further.
    let mut last: HashMap<String, String> = HashMap::new();
    for (stage, id) in reported {
        last.insert(id, stage);
    }
    runtime().block_on(async {
        let journal = SqliteDeviceStore::open(&db)
            .await
            .expect("the database reopens")
            .journal();
        let mut unfinished = 0;
        for (id, stage) in &last {
            let id = PublishId::parse(id).expect("reported ids are valid");
            let record = journal.record(&id).await.expect("the journal reads");
            let state = record
                .unwrap_or_else(|| panic!("reported publish {id} is kept"))
                .state;
            match (stage.as_str(), &state) {
                (_, JournalState::Finished { report, .. }) => assert_eq!(report, b"done"),
                ("checkpointed", JournalState::Unfinished { progress, .. }) => {
                    assert!(progress.is_some(), "{id}: the checkpoint is kept")
                }
                ("accepted", JournalState::Unfinished { .. }) => {}
                (stage, state) => panic!("{id} reported {stage}, reads {state:?}"),
            }
            unfinished += usize::from(matches!(state, JournalState::Unfinished { .. }));
        }
        let counted = journal.unfinished().await.expect("unfinished");
        assert!(
            counted == unfinished || counted == unfinished + 1,
            "{counted} unfinished, {unfinished} reported (and one unreported at most)"
        );
    });
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis()
}

/// The report in an `ASSOC …` line; the test harness may have printed its own
/// `test child_process ... ` before it on the same line.
fn assoc_report(line: &str) -> Option<String> {
    let start = line.find("ASSOC ")? + "ASSOC ".len();
    Some(line[start..].to_owned())
}

/// The `(stage, id)` of a `JOURNAL …` line, wherever the harness's output put it.
fn journal_report(line: &str) -> Option<(String, String)> {
    let start = line.find("JOURNAL ")? + "JOURNAL ".len();
    let (stage, id) = line[start..].split_once(' ')?;
    Some((stage.to_owned(), id.to_owned()))
}

fn raw(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).expect("raw connection opens")
}

fn integrity_check(db: &Path) -> String {
    raw(db)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check runs")
}

fn count_over_limit(db: &Path) -> i64 {
    raw(db)
        .query_row(
            "SELECT count(*) FROM (SELECT 1 FROM devices WHERE user_id IS NOT NULL \
             GROUP BY user_id, platform HAVING count(*) > ?1)",
            [LIMIT as i64],
            |row| row.get(0),
        )
        .expect("the limit query runs")
}

/// Whether each index has exactly the rows the table has (as far as it covers).
fn index_row_counts(db: &Path) -> (bool, bool) {
    let conn = raw(db);
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect(sql) };
    let table = count("SELECT count(*) FROM devices NOT INDEXED");
    let by_token =
        count("SELECT count(*) FROM devices INDEXED BY devices_by_token WHERE platform > ''");
    let associated = count("SELECT count(*) FROM devices NOT INDEXED WHERE user_id IS NOT NULL");
    let by_user =
        count("SELECT count(*) FROM devices INDEXED BY devices_by_user WHERE user_id IS NOT NULL");
    (table == by_token, associated == by_user)
}
