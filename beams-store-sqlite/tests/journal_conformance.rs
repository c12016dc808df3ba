//! The beams-core publish journal conformance suite, every rule, on SQLite: in a file and in
//! memory; and what only a file shows: the journal survives closing and reopening it, and a
//! damaged row is reported by its id and column.

use beams_core::testing::{Guarded, journal_entry, lease};
use beams_core::{
    Acceptance, JournalRecord, JournalState, PublishId, PublishJournal, StoreErrorKind, Timestamp,
};
use beams_store_sqlite::{SqliteDeviceStore, SqlitePublishJournal, rusqlite};
use tempfile::TempDir;

/// A journal in a temporary file, which lives as long as the journal.
async fn in_a_file() -> Guarded<SqlitePublishJournal, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteDeviceStore::open(dir.path().join("beams.db"))
        .await
        .expect("a new database opens");
    Guarded::new(store.journal(), dir)
}

mod file {
    beams_core::publish_journal_conformance!(super::in_a_file);
}

mod memory {
    beams_core::publish_journal_conformance!(async || {
        beams_store_sqlite::SqliteDeviceStore::open_in_memory()
            .expect("opens in memory")
            .journal()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_progress_and_finished_reports_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    let (unfinished, finished) = (journal_entry(10), journal_entry(20));
    {
        let journal = SqliteDeviceStore::open(&path)
            .await
            .expect("a new database opens")
            .journal();
        for entry in [&unfinished, &finished] {
            let acceptance = journal
                .accept(entry, &lease("node-a", 100), 10)
                .await
                .expect("accept");
            assert_eq!(acceptance, Acceptance::Accepted);
        }
        assert!(
            journal
                .checkpoint(&unfinished.id, &lease("node-a", 200), b"page 3")
                .await
                .expect("checkpoint")
        );
        let at = Timestamp::from_unix_millis(50);
        assert!(
            journal
                .finish(&finished.id, "node-a", b"the report", at)
                .await
                .expect("finish")
        );
    }

    let journal = SqliteDeviceStore::open(&path)
        .await
        .expect("the database reopens")
        .journal();
    let record = |id: PublishId| {
        let journal = journal.clone();
        async move {
            journal
                .record(&id)
                .await
                .expect("record")
                .expect("the publish is kept")
        }
    };
    assert_eq!(
        record(unfinished.id.clone()).await,
        JournalRecord {
            entry: unfinished.clone(),
            state: JournalState::Unfinished {
                lease: lease("node-a", 200),
                progress: Some(b"page 3".to_vec()),
            },
        }
    );
    assert_eq!(
        record(finished.id.clone()).await,
        JournalRecord {
            entry: finished.clone(),
            state: JournalState::Finished {
                at: Timestamp::from_unix_millis(50),
                report: b"the report".to_vec(),
            },
        }
    );
    assert_eq!(journal.unfinished().await.expect("unfinished"), 1);
    let resumed = journal
        .claim(
            &lease("node-a/2", 300),
            Timestamp::from_unix_millis(150),
            Some("node-a"),
        )
        .await
        .expect("claim")
        .expect("the restarted node takes its publish back");
    assert_eq!(resumed.entry.id, unfinished.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_row_is_corrupt_naming_its_id_and_column() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams.db");
    let journal = SqliteDeviceStore::open(&path)
        .await
        .expect("a new database opens")
        .journal();
    rusqlite::Connection::open(&path)
        .expect("raw connection")
        .execute_batch(
            "INSERT INTO publishes (id, kind, accepted_at, state, lease_owner, lease_until) \
             VALUES ('not-a-publish-id', 'users', 1, 'unfinished', 'gone', 1); \
             INSERT INTO publish_bodies (id, body) VALUES ('not-a-publish-id', X'7B7D');",
        )
        .expect("a row with a bad id");

    let err = journal
        .claim(
            &lease("node-a/2", 500),
            Timestamp::from_unix_millis(100),
            Some("node-a"),
        )
        .await
        .expect_err("the row does not decode");
    match err.kind() {
        StoreErrorKind::Corrupt { key } => {
            assert_eq!(key, r#"publishes row "not-a-publish-id", column id"#)
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    let owner: String = raw
        .query_row("SELECT lease_owner FROM publishes", [], |row| row.get(0))
        .expect("the row is there");
    assert_eq!(owner, "gone", "the failed claim was rolled back");
}

/// 200 accepts at once under a bound of 150 — written in shared transactions as they pile up
/// — accept exactly 150; accepts of an id already journaled, among them, fail alone; then
/// 150 finishes at once each finish their publish once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepts_and_finishes_at_once_keep_the_bound_exact_and_fail_alone() {
    const ACCEPTS: usize = 200;
    const BOUND: usize = 150;
    let file = in_a_file().await;
    let journal = std::sync::Arc::new((*file).clone());
    let repeated = journal_entry(0);
    let held = lease("node", 1_000);
    assert_eq!(
        journal
            .accept(&repeated, &held, BOUND)
            .await
            .expect("accept"),
        Acceptance::Accepted
    );
    let tasks: Vec<_> = (0..ACCEPTS)
        .map(|n| {
            let journal = std::sync::Arc::clone(&journal);
            let entry = if n % 10 == 0 {
                repeated.clone()
            } else {
                journal_entry(n as i64)
            };
            let held = held.clone();
            tokio::spawn(
                async move { (entry.id.clone(), journal.accept(&entry, &held, BOUND).await) },
            )
        })
        .collect();
    let (mut accepted, mut full, mut repeats) = (vec![repeated.id.clone()], 0, 0);
    for task in tasks {
        match task.await.expect("an accept finishes") {
            (id, Ok(Acceptance::Accepted)) => accepted.push(id),
            (_, Ok(Acceptance::Full { unfinished })) => {
                assert_eq!(unfinished, BOUND);
                full += 1;
            }
            (id, Err(err)) => {
                assert!(
                    matches!(err.kind(), StoreErrorKind::Precondition { .. }),
                    "{err}"
                );
                assert_eq!(id, repeated.id);
                repeats += 1;
            }
        }
    }
    assert_eq!(accepted.len(), BOUND);
    assert_eq!(repeats, ACCEPTS / 10);
    assert_eq!(full, ACCEPTS - ACCEPTS / 10 - (BOUND - 1));
    assert_eq!(journal.unfinished().await.expect("unfinished"), BOUND);

    let finishes: Vec<_> = accepted
        .iter()
        .chain(accepted.iter())
        .cloned()
        .map(|id| {
            let journal = std::sync::Arc::clone(&journal);
            tokio::spawn(async move {
                let at = Timestamp::from_unix_millis(5);
                journal.finish(&id, "node", b"r", at).await.expect("finish")
            })
        })
        .collect();
    let mut finished = 0;
    for finish in finishes {
        finished += usize::from(finish.await.expect("a finish finishes"));
    }
    assert_eq!(finished, BOUND, "each publish finishes once");
    assert_eq!(journal.unfinished().await.expect("unfinished"), 0);
}
