//! What the PostgreSQL store's integration tests share.

#![allow(dead_code, unreachable_pub)]

use beams_core::Platform;
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_test_support::postgres::TestSchema;
use tokio_postgres::Client;

/// A store on the schema with a pool of its own: one "node".
pub async fn node(schema: &TestSchema, options: PostgresOptions) -> PostgresDeviceStore {
    PostgresDeviceStore::connect_with(&schema.url(), options)
        .await
        .expect("the store connects")
}

/// How many devices `user` has on each platform, counted from `devices` directly.
pub async fn counts_by_platform(client: &Client, user: &str) -> Vec<(Platform, i64)> {
    client
        .query(
            "SELECT platform, count(*) FROM devices WHERE user_id = $1 GROUP BY platform",
            &[&user.as_bytes()],
        )
        .await
        .expect("counting")
        .iter()
        .map(|row| {
            let platform: String = row.get(0);
            (platform.parse().expect("a platform"), row.get(1))
        })
        .collect()
}

/// Asserts the two records of who owns a device agree: every device with a user is listed
/// once under that user with the same time and platform, every listing names such a device,
/// and every listed user has a `users` row.
pub async fn assert_associations_agree(client: &Client) {
    let disagreements: i64 = client
        .query_one(
            "SELECT count(*) FROM devices d FULL JOIN user_devices u
               ON u.device_id = d.id AND u.user_id = d.user_id
             WHERE (d.user_id IS NOT NULL OR u.user_id IS NOT NULL)
               AND (d.id IS NULL OR u.device_id IS NULL
                    OR d.associated_at IS DISTINCT FROM u.associated_at
                    OR d.platform <> u.platform)",
            &[],
        )
        .await
        .expect("comparing devices with user_devices")
        .get(0);
    assert_eq!(disagreements, 0, "devices and user_devices disagree");
    let orphans: i64 = client
        .query_one(
            "SELECT count(*) FROM user_devices u
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE user_id = u.user_id)",
            &[],
        )
        .await
        .expect("looking for listings without a user")
        .get(0);
    assert_eq!(orphans, 0, "listings without a users row");
}
