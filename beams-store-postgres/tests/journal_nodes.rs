//! Two nodes — two stores with pools of their own — sharing one publish journal: claims never
//! take a publish twice, and the accept bound is exact across them.

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

/// 50 accepts at once, alternating between two nodes, under a bound of 10: exactly 10 are
/// accepted, every other one finds the journal full of those 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_accept_bound_is_exact_across_two_nodes() {
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
            Acceptance::Full { unfinished } => assert_eq!(unfinished, BOUND),
        }
    }
    assert_eq!(accepted, BOUND);
    let stored: i64 = schema
        .client()
        .await
        .query_one("SELECT count(*) FROM publishes", &[])
        .await
        .expect("counting publishes")
        .get(0);
    assert_eq!(stored, BOUND as i64, "refused accepts store nothing");
}
