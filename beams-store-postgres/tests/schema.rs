//! The schema's versions: migrated once however many nodes start at once, and refused when
//! it is newer than this build or not ours.

use beams_core::StoreErrorKind;
use beams_store_postgres::PostgresDeviceStore;
use beams_test_support::postgres::TestSchema;

/// Eight nodes connecting at once to an empty schema: the advisory lock lets one migrate,
/// and each version is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let url = schema.url();
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresDeviceStore::connect(&url).await })
        })
        .collect();
    for start in starts {
        start
            .await
            .expect("the task finishes")
            .expect("every node connects");
    }
    let client = schema.client().await;
    let rows: Vec<(i32, i64)> = client
        .query(
            "SELECT version, count(*) FROM beams_schema GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .expect("the version table")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(!rows.is_empty(), "the schema was migrated");
    assert!(
        rows.iter().all(|&(_, count)| count == 1),
        "each version recorded once: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    PostgresDeviceStore::connect(&schema.url())
        .await
        .expect("migrates");
    schema
        .client()
        .await
        .execute("INSERT INTO beams_schema (version) VALUES (999)", &[])
        .await
        .expect("a version from the future");
    let err = PostgresDeviceStore::connect(&schema.url())
        .await
        .expect_err("a newer schema");
    match err.kind() {
        StoreErrorKind::IncompatibleVersion { found, .. } => assert_eq!(found, "999"),
        other => panic!("expected IncompatibleVersion, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_applications_tables_are_left_alone() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let client = schema.client().await;
    client
        .batch_execute("CREATE TABLE devices (id text PRIMARY KEY, owner text)")
        .await
        .expect("another application's table");
    let err = PostgresDeviceStore::connect(&schema.url())
        .await
        .expect_err("not a beams schema");
    assert!(
        matches!(err.kind(), StoreErrorKind::NotAStore { .. }),
        "{err:?}"
    );
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'devices'",
            &[],
        )
        .await
        .expect("columns")
        .get(0);
    assert_eq!(columns, 2, "the table is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_path_naming_no_schema_is_refused() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let missing = schema.url().replace(schema.name(), "beams_no_such_schema");
    let err = PostgresDeviceStore::connect(&missing)
        .await
        .expect_err("no schema to migrate");
    assert!(
        matches!(err.kind(), StoreErrorKind::NotAStore { .. }),
        "{err:?}"
    );
}

/// A schema at version 2 (the journal without its kept count) holding unfinished and finished
/// publishes: version 3 counts the unfinished ones, and the count moves with finishes after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_3_counts_the_publishes_already_unfinished() {
    use beams_core::PublishJournal;
    use beams_core::testing::{journal_entry, lease};
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    PostgresDeviceStore::connect(&schema.url())
        .await
        .expect("migrates");
    let entries: Vec<_> = (0..5).map(journal_entry).collect();
    let client = schema.client().await;
    client
        .batch_execute("DROP TABLE publish_counts; DELETE FROM beams_schema WHERE version = 3;")
        .await
        .expect("back to version 2");
    for (n, entry) in entries.iter().enumerate() {
        let finished = n == 4;
        client
            .execute(
                "INSERT INTO publishes (id, kind, body, accepted_at, finished, lease_owner, \
                 lease_until, finished_at, report) VALUES ($1, 'users', $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &entry.id.as_str(),
                    &entry.body,
                    &(n as i64),
                    &finished,
                    &(!finished).then_some("node-a"),
                    &(!finished).then_some(100_i64),
                    &finished.then_some(50_i64),
                    &finished.then_some(b"r".to_vec()),
                ],
            )
            .await
            .expect("a version 2 publish");
    }

    let journal = PostgresDeviceStore::connect(&schema.url())
        .await
        .expect("version 2 migrates")
        .journal();
    assert_eq!(journal.unfinished().await.expect("unfinished"), 4);
    let at = beams_core::Timestamp::from_unix_millis(60);
    let owner = lease("node-a", 100).owner;
    assert!(
        journal
            .finish(&entries[0].id, &owner, b"r", at)
            .await
            .expect("finish")
    );
    assert_eq!(journal.unfinished().await.expect("unfinished"), 3);
}
