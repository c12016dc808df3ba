//! The beams-core conformance suite, every rule, on PostgreSQL: each test in a schema of its
//! own on the local database (skipped, with one line saying so, where there is none).

use beams_core::testing::Guarded;
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_test_support::postgres::TestSchema;

async fn in_a_schema() -> Option<Guarded<PostgresDeviceStore, TestSchema>> {
    let schema = TestSchema::create().await?;
    let store =
        PostgresDeviceStore::connect_with(&schema.url(), PostgresOptions::default().pool_size(8))
            .await
            .expect("a new schema migrates");
    Some(Guarded::new(store, schema))
}

mod schema {
    beams_core::device_store_conformance!(where_available: super::in_a_schema);
}

mod through_arc_dyn {
    use std::sync::Arc;

    use beams_core::DeviceStore;

    beams_core::device_store_conformance!(where_available: async || {
        Some(Arc::new(super::in_a_schema().await?) as Arc<dyn DeviceStore>)
    });
}

/// What was written is read back by a store connected afresh, as another node would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_survives_reconnect() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    beams_core::testing::data_survives_reopen(async |_| {
        PostgresDeviceStore::connect(&schema.url())
            .await
            .expect("the schema connects")
    })
    .await;
}
