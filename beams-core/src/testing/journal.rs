//! The rules of the [`PublishJournal`](crate::PublishJournal) contract, one function each.

use std::collections::HashSet;
use std::sync::Arc;

use crate::{
    Acceptance, JournalEntry, JournalState, Lease, PublishId, PublishJournal, PublishTargetKind,
    StoreErrorKind, Timestamp,
};

/// A publish to users accepted at `at` (milliseconds).
pub fn journal_entry(at: i64) -> JournalEntry {
    JournalEntry {
        id: PublishId::generate(),
        kind: PublishTargetKind::Users,
        body: br#"{"users":["alice"],"fcm":{"notification":{"title":"Hi"}}}"#.to_vec(),
        accepted_at: Timestamp::from_unix_millis(at),
    }
}

/// A lease held by `owner` until `until` (milliseconds).
pub fn lease(owner: &str, until: i64) -> Lease {
    Lease {
        owner: owner.to_owned(),
        until: Timestamp::from_unix_millis(until),
    }
}

const ROOM: usize = 1000;

async fn accepted<J: PublishJournal + ?Sized>(journal: &J, entry: &JournalEntry, lease: &Lease) {
    let acceptance = journal
        .accept(entry, lease, ROOM)
        .await
        .expect("accept succeeds");
    assert_eq!(acceptance, Acceptance::Accepted);
}

async fn state<J: PublishJournal + ?Sized>(journal: &J, id: &PublishId) -> JournalState {
    journal
        .record(id)
        .await
        .expect("record succeeds")
        .expect("the publish is journaled")
        .state
}

/// `accept` stores the entry unfinished, leased as given, with no progress.
pub async fn an_accepted_publish_reads_back_unfinished_and_leased<J: PublishJournal>(journal: J) {
    let entry = journal_entry(10);
    accepted(&journal, &entry, &lease("node-a", 100)).await;
    let record = journal
        .record(&entry.id)
        .await
        .expect("record succeeds")
        .expect("journaled");
    assert_eq!(record.entry, entry, "the entry reads back byte for byte");
    assert_eq!(
        record.state,
        JournalState::Unfinished {
            lease: lease("node-a", 100),
            progress: None
        }
    );
}

/// An unknown id reads as `None`, and changes to it answer `false` and create nothing.
pub async fn an_unknown_publish_reads_as_none<J: PublishJournal>(journal: J) {
    let id = PublishId::generate();
    let owner = lease("node-a", 100);
    assert_eq!(journal.record(&id).await.expect("record"), None);
    assert!(
        !journal
            .checkpoint(&id, &owner, b"p")
            .await
            .expect("checkpoint")
    );
    assert!(!journal.renew(&id, &owner).await.expect("renew"));
    let at = Timestamp::from_unix_millis(5);
    assert!(
        !journal
            .finish(&id, "node-a", b"r", at)
            .await
            .expect("finish")
    );
    assert_eq!(journal.record(&id).await.expect("record"), None);
    assert_eq!(journal.unfinished().await.expect("unfinished"), 0);
}

/// Accepting an id twice fails with `Precondition` and keeps the first.
pub async fn accepting_an_id_twice_is_refused<J: PublishJournal>(journal: J) {
    let entry = journal_entry(10);
    accepted(&journal, &entry, &lease("node-a", 100)).await;
    let again = JournalEntry {
        body: b"{}".to_vec(),
        ..entry.clone()
    };
    let err = journal
        .accept(&again, &lease("node-b", 200), ROOM)
        .await
        .expect_err("the id is taken");
    assert!(
        matches!(err.kind(), StoreErrorKind::Precondition { .. }),
        "{err:?}"
    );
    let record = journal
        .record(&entry.id)
        .await
        .expect("record")
        .expect("kept");
    assert_eq!(record.entry, entry);
}

/// Past the bound, `accept` answers `Full` and stores nothing; finished ones do not count.
pub async fn accepting_past_the_bound_is_refused<J: PublishJournal>(journal: J) {
    let owner = lease("node-a", 100);
    let mut entries = Vec::new();
    for n in 0..3 {
        let entry = journal_entry(n);
        let acceptance = journal.accept(&entry, &owner, 3).await.expect("accept");
        assert_eq!(acceptance, Acceptance::Accepted);
        entries.push(entry);
    }
    let refused = journal_entry(4);
    let acceptance = journal.accept(&refused, &owner, 3).await.expect("accept");
    assert_eq!(acceptance, Acceptance::Full { unfinished: 3 });
    assert_eq!(journal.record(&refused.id).await.expect("record"), None);

    let at = Timestamp::from_unix_millis(50);
    assert!(
        journal
            .finish(&entries[0].id, "node-a", b"r", at)
            .await
            .expect("finish")
    );
    let acceptance = journal.accept(&refused, &owner, 3).await.expect("accept");
    assert_eq!(
        acceptance,
        Acceptance::Accepted,
        "a finished publish frees its place"
    );
}

/// A checkpoint by the owner replaces the progress and extends the lease.
pub async fn a_checkpoint_keeps_progress_and_renews_the_lease<J: PublishJournal>(journal: J) {
    let entry = journal_entry(10);
    accepted(&journal, &entry, &lease("node-a", 100)).await;
    assert!(
        journal
            .checkpoint(&entry.id, &lease("node-a", 200), b"page 1")
            .await
            .expect("checkpoint")
    );
    assert!(
        journal
            .checkpoint(&entry.id, &lease("node-a", 300), b"page 2")
            .await
            .expect("checkpoint")
    );
    assert_eq!(
        state(&journal, &entry.id).await,
        JournalState::Unfinished {
            lease: lease("node-a", 300),
            progress: Some(b"page 2".to_vec())
        }
    );
    assert!(
        journal
            .renew(&entry.id, &lease("node-a", 400))
            .await
            .expect("renew")
    );
    assert_eq!(
        state(&journal, &entry.id).await,
        JournalState::Unfinished {
            lease: lease("node-a", 400),
            progress: Some(b"page 2".to_vec())
        },
        "a renewal keeps the progress"
    );
}

/// Another owner can neither checkpoint, renew nor finish; nothing changes.
pub async fn only_the_owner_checkpoints_renews_or_finishes<J: PublishJournal>(journal: J) {
    let entry = journal_entry(10);
    accepted(&journal, &entry, &lease("node-a", 100)).await;
    assert!(
        journal
            .checkpoint(&entry.id, &lease("node-a", 100), b"mine")
            .await
            .expect("checkpoint")
    );
    let other = lease("node-b", 900);
    assert!(
        !journal
            .checkpoint(&entry.id, &other, b"theirs")
            .await
            .expect("checkpoint")
    );
    assert!(!journal.renew(&entry.id, &other).await.expect("renew"));
    let at = Timestamp::from_unix_millis(50);
    assert!(
        !journal
            .finish(&entry.id, "node-b", b"r", at)
            .await
            .expect("finish")
    );
    assert_eq!(
        state(&journal, &entry.id).await,
        JournalState::Unfinished {
            lease: lease("node-a", 100),
            progress: Some(b"mine".to_vec())
        }
    );
}

/// `finish` keeps the report; the publish is then neither unfinished nor claimable.
pub async fn a_finished_publish_keeps_its_report<J: PublishJournal>(journal: J) {
    let entry = journal_entry(10);
    accepted(&journal, &entry, &lease("node-a", 100)).await;
    let at = Timestamp::from_unix_millis(60);
    assert!(
        journal
            .finish(&entry.id, "node-a", b"the report", at)
            .await
            .expect("finish")
    );
    assert_eq!(
        state(&journal, &entry.id).await,
        JournalState::Finished {
            at,
            report: b"the report".to_vec()
        }
    );
    assert_eq!(journal.unfinished().await.expect("unfinished"), 0);
    let late = Timestamp::from_unix_millis(1_000_000);
    assert_eq!(
        journal
            .claim(&lease("node-a", 2_000_000), late, Some("node-a"))
            .await
            .expect("claim"),
        None
    );
    assert!(
        !journal
            .checkpoint(&entry.id, &lease("node-a", 100), b"p")
            .await
            .expect("checkpoint")
    );
    assert!(
        !journal
            .renew(&entry.id, &lease("node-a", 100))
            .await
            .expect("renew")
    );
    assert!(
        !journal
            .finish(&entry.id, "node-a", b"again", at)
            .await
            .expect("finish")
    );
}

/// `claim` takes lapsed leases only, oldest accepted first, and leases them to the claimer.
pub async fn claims_take_lapsed_leases_oldest_first<J: PublishJournal>(journal: J) {
    let (older, newer, live) = (journal_entry(10), journal_entry(20), journal_entry(5));
    accepted(&journal, &newer, &lease("node-a", 100)).await;
    accepted(&journal, &older, &lease("node-a", 100)).await;
    accepted(&journal, &live, &lease("node-c", 10_000)).await;

    let now = Timestamp::from_unix_millis(100);
    let taker = lease("node-b", 500);
    let first = journal
        .claim(&taker, now, None)
        .await
        .expect("claim")
        .expect("one lapsed");
    assert_eq!(first.entry.id, older.id, "oldest accepted first");
    assert_eq!(
        first.state,
        JournalState::Unfinished {
            lease: taker.clone(),
            progress: None
        }
    );
    let second = journal.claim(&taker, now, None).await.expect("claim");
    // Without a node, only lapsed leases count: `older` is node-b's now and live.
    assert_eq!(second.map(|r| r.entry.id), Some(newer.id.clone()));

    let none = journal
        .claim(&lease("node-e", 500), now, None)
        .await
        .expect("claim");
    assert_eq!(none, None, "live leases of others are not taken");
    assert_eq!(
        state(&journal, &live.id).await,
        JournalState::Unfinished {
            lease: lease("node-c", 10_000),
            progress: None
        }
    );
}

/// With `node`, publishes leased to `node` or `node/…` are claimable whatever the lease's
/// end; one leased to an owner that only starts with the same letters is not.
pub async fn a_node_takes_its_own_publishes_back<J: PublishJournal>(journal: J) {
    let (bare, sub, lookalike) = (journal_entry(10), journal_entry(20), journal_entry(30));
    accepted(&journal, &bare, &lease("node-a", 10_000)).await;
    accepted(&journal, &sub, &lease("node-a/7", 10_000)).await;
    accepted(&journal, &lookalike, &lease("node-ab", 10_000)).await;
    assert!(
        journal
            .checkpoint(&bare.id, &lease("node-a", 10_000), b"halfway")
            .await
            .expect("checkpoint")
    );
    let now = Timestamp::from_unix_millis(100);
    let claim = |owner: &'static str, node: Option<&'static str>| {
        let journal = &journal;
        async move {
            journal
                .claim(&lease(owner, 20_000), now, node)
                .await
                .expect("claim")
        }
    };
    assert_eq!(
        claim("node-a/1", None).await,
        None,
        "live leases without a node"
    );
    let back = claim("node-a/1", Some("node-a"))
        .await
        .expect("its own publish");
    assert_eq!(back.entry.id, bare.id, "oldest first");
    assert_eq!(
        back.state,
        JournalState::Unfinished {
            lease: lease("node-a/1", 20_000),
            progress: Some(b"halfway".to_vec())
        },
        "resumed from its progress, leased to the claimer"
    );
    let next = claim("node-a/1", Some("node-a"))
        .await
        .expect("its other publish, under another of its owners");
    assert_eq!(next.entry.id, sub.id);
    assert_eq!(
        claim("node-a/1", Some("node-a")).await,
        None,
        "what the claimer holds already is not claimed again"
    );
    let later = claim("node-a/9", Some("node-a"))
        .await
        .expect("a later run of the node takes it back");
    assert_eq!(later.entry.id, bare.id);
    assert_eq!(
        state(&journal, &lookalike.id).await,
        JournalState::Unfinished {
            lease: lease("node-ab", 10_000),
            progress: None
        },
        "another node's, though its id starts the same"
    );
}

/// Many claimers at once take every lapsed publish exactly once between them.
pub async fn concurrent_claims_take_each_publish_once<J: PublishJournal + 'static>(journal: J) {
    const PUBLISHES: usize = 40;
    let journal = Arc::new(journal);
    let mut ids = HashSet::new();
    for n in 0..PUBLISHES {
        let entry = journal_entry(n as i64);
        accepted(&*journal, &entry, &lease("gone", 1)).await;
        ids.insert(entry.id);
    }
    let now = Timestamp::from_unix_millis(100);
    let claimers: Vec<_> = (0..8)
        .map(|node| {
            let journal = Arc::clone(&journal);
            tokio::spawn(async move {
                let mine = lease(&format!("node-{node}"), 1_000_000);
                let mut taken = Vec::new();
                // A claimer's own publishes are claimable again: finish each one taken.
                while let Some(record) = journal.claim(&mine, now, None).await.expect("claim") {
                    let at = Timestamp::from_unix_millis(200);
                    assert!(
                        journal
                            .finish(&record.entry.id, &mine.owner, b"r", at)
                            .await
                            .expect("finish")
                    );
                    taken.push(record.entry.id);
                }
                taken
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.expect("a claimer finishes"));
    }
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(
        claimed.len(),
        PUBLISHES,
        "each publish claimed once: {claimed:?}"
    );
    assert_eq!(unique, ids);
}

/// `unfinished` counts accepted publishes not finished.
pub async fn unfinished_counts_what_is_not_finished<J: PublishJournal>(journal: J) {
    let entries: Vec<_> = (0..4).map(journal_entry).collect();
    for entry in &entries {
        accepted(&journal, entry, &lease("node-a", 100)).await;
    }
    let at = Timestamp::from_unix_millis(50);
    assert!(
        journal
            .finish(&entries[1].id, "node-a", b"r", at)
            .await
            .expect("finish")
    );
    assert_eq!(journal.unfinished().await.expect("unfinished"), 3);
}

/// `forget_finished` deletes what finished before the time, and nothing unfinished.
pub async fn forgetting_removes_reports_finished_before_a_time<J: PublishJournal>(journal: J) {
    let entries: Vec<_> = (0..3).map(journal_entry).collect();
    for entry in &entries {
        accepted(&journal, entry, &lease("node-a", 100)).await;
    }
    let (early, late) = (
        Timestamp::from_unix_millis(50),
        Timestamp::from_unix_millis(150),
    );
    assert!(
        journal
            .finish(&entries[0].id, "node-a", b"r0", early)
            .await
            .expect("finish")
    );
    assert!(
        journal
            .finish(&entries[1].id, "node-a", b"r1", late)
            .await
            .expect("finish")
    );
    let forgotten = journal
        .forget_finished(Timestamp::from_unix_millis(100))
        .await
        .expect("forget");
    assert_eq!(forgotten, 1);
    assert_eq!(journal.record(&entries[0].id).await.expect("record"), None);
    assert!(
        journal
            .record(&entries[1].id)
            .await
            .expect("record")
            .is_some()
    );
    assert!(
        journal
            .record(&entries[2].id)
            .await
            .expect("record")
            .is_some()
    );
}
