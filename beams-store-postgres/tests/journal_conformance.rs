//! The beams-core publish journal suite, every rule, on PostgreSQL: each test in a schema of
//! its own on the local database (skipped, with one line saying so, where there is none).

use beams_core::testing::Guarded;
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions, PostgresPublishJournal};
use beams_test_support::postgres::TestSchema;

/// A journal with the schema it lives in, which is dropped after it.
async fn in_a_schema() -> Option<Guarded<PostgresPublishJournal, TestSchema>> {
    let schema = TestSchema::create().await?;
    let store =
        PostgresDeviceStore::connect_with(&schema.url(), PostgresOptions::default().pool_size(8))
            .await
            .expect("a new schema migrates");
    Some(Guarded::new(store.journal(), schema))
}

beams_core::publish_journal_conformance!(where_available: in_a_schema);
