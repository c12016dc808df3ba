//! Every statement the store sends, checked against PostgreSQL's planner: each reads its
//! tables through an index, never a whole table.

#[cfg(test)]
mod tests {
    use beams_test_support::postgres::TestSchema;

    use crate::{PostgresDeviceStore, interests, journal, queries};

    const STATEMENTS: &[(&str, &str)] = &[
        ("SELECT_BY_TOKEN", queries::SELECT_BY_TOKEN),
        ("RENEW", queries::RENEW),
        ("DELETE_BY_ID", queries::DELETE_BY_ID),
        ("INSERT", queries::INSERT),
        ("SELECT_BY_ID", queries::SELECT_BY_ID),
        ("DELETE_BY_TOKEN", queries::DELETE_BY_TOKEN),
        ("SELECT_BY_USER", queries::SELECT_BY_USER),
        ("SELECT_BY_USERS", queries::SELECT_BY_USERS),
        ("LOCK_USER", queries::LOCK_USER),
        ("INSERT_USER", queries::INSERT_USER),
        ("DELETE_BY_USER", queries::DELETE_BY_USER),
        ("DELETE_USER", queries::DELETE_USER),
        ("UPDATE_METADATA", queries::UPDATE_METADATA),
        ("LOCK_DEVICE", queries::LOCK_DEVICE),
        ("DELETE_OTHER_HOLDER", queries::DELETE_OTHER_HOLDER),
        ("UPDATE_TOKEN", queries::UPDATE_TOKEN),
        ("SELECT_USER_OF", queries::SELECT_USER_OF),
        ("LOCK_USER_OF", queries::LOCK_USER_OF),
        ("SELECT_ASSOCIATED", queries::SELECT_ASSOCIATED),
        ("DISASSOCIATE", queries::DISASSOCIATE),
        ("UNLIST", queries::UNLIST),
        ("ASSOCIATE", queries::ASSOCIATE),
        ("LIST", queries::LIST),
        ("interests::LOCK_DEVICE", interests::LOCK_DEVICE),
        ("interests::DEVICE_EXISTS", interests::DEVICE_EXISTS),
        ("interests::CLEAR", interests::CLEAR),
        ("interests::INSERT_ALL", interests::INSERT_ALL),
        ("interests::INSERT_BELOW_MAX", interests::INSERT_BELOW_MAX),
        ("interests::HAS", interests::HAS),
        ("interests::DELETE", interests::DELETE),
        ("interests::PAGE", interests::PAGE),
        ("interests::SUBSCRIBERS_PAGE", interests::SUBSCRIBERS_PAGE),
        ("journal::ACCEPT", journal::ACCEPT),
        ("journal::CHECKPOINT", journal::CHECKPOINT),
        ("journal::RENEW", journal::RENEW),
        ("journal::FINISH", journal::FINISH),
        ("journal::CLAIM", journal::CLAIM),
        ("journal::SELECT_BY_ID", journal::SELECT_BY_ID),
        ("journal::COUNT_UNFINISHED", journal::COUNT_UNFINISHED),
        ("journal::FORGET_FINISHED", journal::FORGET_FINISHED),
    ];

    /// The generic plan of every statement — the plan for any parameters, as a prepared
    /// statement runs once its custom plans stop paying — with sequential scans priced out:
    /// any `Seq Scan` left on a store table is one no index can serve.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_statement_reads_through_an_index() {
        let Some(schema) = TestSchema::create().await else {
            return;
        };
        PostgresDeviceStore::connect(&schema.url())
            .await
            .expect("the schema migrates");
        let client = schema.client().await;
        client
            .batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
            .await
            .expect("planner settings");
        for (n, (name, sql)) in STATEMENTS.iter().enumerate() {
            let statement = format!("s{n}");
            client
                .batch_execute(&format!("PREPARE {statement} AS {sql}"))
                .await
                .unwrap_or_else(|e| panic!("{name} prepares: {e}"));
            let parameters = client
                .prepare(sql)
                .await
                .unwrap_or_else(|e| panic!("{name} prepares: {e}"))
                .params()
                .len();
            let nulls = vec!["NULL"; parameters].join(", ");
            let arguments = if parameters == 0 {
                String::new()
            } else {
                format!("({nulls})")
            };
            let plan: String = client
                .query(&format!("EXPLAIN EXECUTE {statement}{arguments}"), &[])
                .await
                .unwrap_or_else(|e| panic!("{name} explains: {e}"))
                .iter()
                .map(|row| row.get::<_, String>(0) + "\n")
                .collect();
            for table in [
                "devices",
                "users",
                "user_devices",
                "device_interests",
                "publishes",
            ] {
                assert!(
                    !plan.contains(&format!("Seq Scan on {table} ")),
                    "{name} reads all of {table}:\n{plan}"
                );
            }
        }
    }
}
