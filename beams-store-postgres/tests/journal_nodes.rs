//! Two nodes — two stores with pools of their own — sharing one publish journal: claims never
//! take a publish twice, the accept bound holds across them (passed by at most the accepts in
//! flight at once), and the kept count of unfinished publishes agrees with the rows.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use beams_core::testing::{journal_entry, lease};
use beams_core::{Acceptance, PublishJournal, Timestamp};
use beams_store_postgres::{PostgresOptions, PostgresPublishJournal};
use beams_test_support::postgres::TestSchema;

use support::node;

const CLAIMERS_PER_NODE: usize = 8;

/// Two journals on `schema`, each through a store with a pool of its own.
async fn two_nodes(schema: &TestSchema) -> [Arc<PostgresPublishJournal>; 2] {
    let options = || PostgresOptions::default().pool_size(CLAIMERS_PER_NODE);
    [
        Arc::new(node(schema, options()).await.journal()),
        Arc::new(node(schema, options()).await.journal()),
    ]
}

/// 200 publishes whose leases lapsed, claimed by eight claimers on each of two nodes at
/// once, each finishing what it takes: every publish is claimed exactly once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_on_two_nodes_take_each_publish_once() {
    const PUBLISHES: usize = 200;
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let nodes = two_nodes(&schema).await;
    let mut ids = HashSet::new();
    for n in 0..PUBLISHES {
        let entry = journal_entry(n as i64);
        let acceptance = nodes[n % 2]
            .accept(&entry, &lease("gone", 1), PUBLISHES)
            .await
            .expect("accept");
        assert_eq!(acceptance, Acceptance::Accepted);
        ids.insert(entry.id);
    }

    let now = Timestamp::from_unix_millis(100);
    let claimers: Vec<_> = (0..2 * CLAIMERS_PER_NODE)
        .map(|claimer| {
            let journal = Arc::clone(&nodes[claimer % 2]);
            tokio::spawn(async move {
                let mine = lease(&format!("claimer-{claimer}"), 1_000_000);
                let mut taken = Vec::new();
                // A claimer may take its own publishes back: finish each one taken.
                while let Some(record) = journal.claim(&mine, now, None).await.expect("claim") {
                    let at = Timestamp::from_unix_millis(200);
                    let finished = journal
                        .finish(&record.entry.id, &mine.owner, b"r", at)
                        .await
                        .expect("finish");
                    assert!(finished, "the claimer holds what it claimed");
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
    assert_eq!(claimed.len(), PUBLISHES, "each publish claimed once");
    assert_eq!(unique, ids);
    assert_eq!(nodes[0].unfinished().await.expect("unfinished"), 0);
}

/// 50 accepts at once, alternating between two nodes, under a bound of 10: at least 10 are
/// accepted and at most 10 plus the accepts that can be in flight at once (the two pools'
/// connections); every refused one saw the journal at the bound or past it and stored
/// nothing; the kept count is the number of rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_accept_bound_holds_across_two_nodes() {
    const ACCEPTS: usize = 50;
    const BOUND: usize = 10;
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let nodes = two_nodes(&schema).await;
    let accepts: Vec<_> = (0..ACCEPTS)
        .map(|n| {
            let journal = Arc::clone(&nodes[n % 2]);
            tokio::spawn(async move {
                journal
                    .accept(&journal_entry(n as i64), &lease("node", 1_000), BOUND)
                    .await
                    .expect("accept")
            })
        })
        .collect();
    let mut accepted = 0;
    for accept in accepts {
        match accept.await.expect("an accept finishes") {
            Acceptance::Accepted => accepted += 1,
            Acceptance::Full { unfinished } => assert!(unfinished >= BOUND, "{unfinished}"),
        }
    }
    assert!(
        (BOUND..=BOUND + 2 * CLAIMERS_PER_NODE).contains(&accepted),
        "{accepted} accepted under a bound of {BOUND}"
    );
    assert_eq!(
        rows_unfinished(&schema).await,
        accepted as i64,
        "refused accepts store nothing"
    );
    assert_eq!(nodes[1].unfinished().await.expect("unfinished"), accepted);
}

/// 400 accepts and the finishes of the accepted ones, all at once on two nodes: the kept
/// count of unfinished publishes ends equal to the unfinished rows, at every step's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_unfinished_count_agrees_with_the_rows_after_concurrent_accepts_and_finishes() {
    const PUBLISHES: usize = 400;
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let nodes = two_nodes(&schema).await;
    let tasks: Vec<_> = (0..PUBLISHES)
        .map(|n| {
            let journal = Arc::clone(&nodes[n % 2]);
            tokio::spawn(async move {
                let entry = journal_entry(n as i64);
                let held = lease("node", 1_000);
                let acceptance = journal.accept(&entry, &held, PUBLISHES).await;
                assert_eq!(acceptance.expect("accept"), Acceptance::Accepted);
                // Every third publish stays unfinished.
                let finish = n % 3 != 0;
                if finish {
                    let at = Timestamp::from_unix_millis(2);
                    let finished = journal.finish(&entry.id, &held.owner, b"r", at).await;
                    assert!(finished.expect("finish"), "the accepting node holds it");
                }
                (entry.id, finish)
            })
        })
        .collect();
    let (mut finished, mut left) = (Vec::new(), Vec::new());
    for task in tasks {
        let (id, finish) = task.await.expect("a task finishes");
        if finish {
            finished.push(id)
        } else {
            left.push(id)
        }
    }
    let unfinished = PUBLISHES.div_ceil(3);
    assert_eq!(left.len(), unfinished);
    assert_eq!(rows_unfinished(&schema).await, unfinished as i64);
    assert_eq!(nodes[0].unfinished().await.expect("unfinished"), unfinished);
    // Finishing again, or by another owner, changes nothing and leaves the count alone.
    let at = Timestamp::from_unix_millis(3);
    let again = nodes[0].finish(&finished[0], "node", b"r", at).await;
    assert!(!again.expect("finish"));
    let by_other = nodes[0].finish(&left[0], "other", b"r", at).await;
    assert!(!by_other.expect("finish"));
    assert_eq!(nodes[1].unfinished().await.expect("unfinished"), unfinished);
}

/// The unfinished rows of `publishes`, counted directly.
async fn rows_unfinished(schema: &TestSchema) -> i64 {
    schema
        .client()
        .await
        .query_one("SELECT count(*) FROM publishes WHERE NOT finished", &[])
        .await
        .expect("counting publishes")
        .get(0)
}
