//! A schema of its own for each test on the local PostgreSQL, dropped afterwards.
//!
//! The database is `BEAMS_TEST_DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/test`.
//! When it cannot be reached, [`TestSchema::create`] answers `None` and the run prints one
//! line saying the PostgreSQL tests were skipped and why — unless `CI` or
//! `BEAMS_TEST_DATABASE_URL` is set: then an unreachable database fails the test.
//!
//! ```no_run
//! # async fn example() {
//! use beams_test_support::postgres::TestSchema;
//!
//! let Some(schema) = TestSchema::create().await else {
//!     return; // no PostgreSQL here, and none required
//! };
//! // Connections made with this URL see only the test's own schema.
//! let url = schema.url();
//! # let _ = url;
//! # }
//! ```

use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

/// The database the tests use when `BEAMS_TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// An empty schema on the test database, named for one test; dropped (with everything in
/// it) when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    database: String,
    name: String,
}

impl TestSchema {
    /// Creates a new, empty schema, or answers `None` (printing, once per test binary, why
    /// the PostgreSQL tests are skipped) when no database can be reached and none is
    /// required.
    ///
    /// # Panics
    ///
    /// When the database cannot be reached but `CI` or `BEAMS_TEST_DATABASE_URL` is set.
    pub async fn create() -> Option<TestSchema> {
        let database = database_url();
        let client = match admin(&database).await {
            Ok(client) => client,
            Err(reason) if required() => {
                panic!(
                    "PostgreSQL is required here (CI or BEAMS_TEST_DATABASE_URL is set): {reason}"
                )
            }
            Err(reason) => {
                static SKIPPED: Once = Once::new();
                SKIPPED.call_once(|| {
                    // Straight to stderr: the test harness captures `eprintln!`.
                    let line =
                        format!("PostgreSQL tests skipped: no database at {database} ({reason})\n");
                    let _ = std::io::stderr().write_all(line.as_bytes());
                });
                return None;
            }
        };
        let name = format!("beams_test_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        Some(TestSchema { database, name })
    }

    /// The database URL with the schema as its `search_path`: everything a connection made
    /// with it creates or reads is in this schema.
    pub fn url(&self) -> String {
        let separator = if self.database.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.database, self.name
        )
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain connection to the schema, for what a test does beside the store (inspecting
    /// rows, terminating backends).
    pub async fn client(&self) -> Client {
        admin(&self.url())
            .await
            .unwrap_or_else(|reason| panic!("connecting to the test schema: {reason}"))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (database, name) = (self.database.clone(), self.name.clone());
        // A thread of its own: a drop may run inside an async runtime, which must not block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = admin(&database).await?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(reason)) = dropped {
            eprintln!("could not drop test schema {}: {reason}", self.name);
        }
    }
}

/// The database the tests use.
pub fn database_url() -> String {
    std::env::var("BEAMS_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.into())
}

/// Whether an unreachable database fails the tests rather than skipping them.
pub fn required() -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    set("CI") || set("BEAMS_TEST_DATABASE_URL")
}

/// A connection outside any store, its driver task spawned on the current runtime.
async fn admin(url: &str) -> Result<Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}
