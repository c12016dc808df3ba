//! The publish journal's conformance suite, every rule, on a store in a temporary
//! directory; and a journal's publishes, unfinished with progress or finished, survive
//! closing and reopening the store.

use beams_core::testing::{Guarded, journal_entry, lease};
use beams_core::{Acceptance, JournalRecord, JournalState, PublishJournal, Timestamp};
use beams_store_sled::{SledDeviceStore, SledPublishJournal};
use tempfile::TempDir;

#[allow(
    dead_code,
    reason = "the journal's tests reopen the store, never raw sled"
)]
mod released;

/// A journal and the temporary directory its store lives in, dropped after it.
async fn in_a_directory() -> Guarded<SledPublishJournal, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SledDeviceStore::open(dir.path().join("beams")).expect("a new store opens");
    Guarded::new(store.journal(), dir)
}

mod directory {
    beams_core::publish_journal_conformance!(super::in_a_directory);
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_and_finished_publishes_survive_reopening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("beams");
    let (unfinished, finished, finished_at) = {
        let journal = SledDeviceStore::open(&path)
            .expect("a new store opens")
            .journal();
        let (unfinished, finished) = (journal_entry(10), journal_entry(20));
        for entry in [&unfinished, &finished] {
            let acceptance = journal
                .accept(entry, &lease("node-a", 100), 10)
                .await
                .expect("accept succeeds");
            assert_eq!(acceptance, Acceptance::Accepted);
        }
        assert!(
            journal
                .checkpoint(&unfinished.id, &lease("node-a", 200), b"page 3")
                .await
                .expect("checkpoint succeeds")
        );
        let at = Timestamp::from_unix_millis(150);
        assert!(
            journal
                .finish(&finished.id, "node-a", b"the report", at)
                .await
                .expect("finish succeeds")
        );
        (unfinished, finished, at)
    };

    let journal = released::open_store(&path).journal();
    assert_eq!(
        journal.record(&unfinished.id).await.expect("record"),
        Some(JournalRecord {
            entry: unfinished.clone(),
            state: JournalState::Unfinished {
                lease: lease("node-a", 200),
                progress: Some(b"page 3".to_vec()),
            },
        })
    );
    assert_eq!(
        journal.record(&finished.id).await.expect("record"),
        Some(JournalRecord {
            entry: finished.clone(),
            state: JournalState::Finished {
                at: finished_at,
                report: b"the report".to_vec(),
            },
        })
    );
    assert_eq!(journal.unfinished().await.expect("unfinished"), 1);
    let resumed = journal
        .claim(
            &lease("node-a/2", 300),
            Timestamp::from_unix_millis(0),
            Some("node-a"),
        )
        .await
        .expect("claim succeeds")
        .expect("the node takes its own publish back");
    assert_eq!(resumed.entry, unfinished, "the indexes survived too");
    assert_eq!(
        journal
            .forget_finished(Timestamp::from_unix_millis(151))
            .await
            .expect("forget succeeds"),
        1
    );
}
