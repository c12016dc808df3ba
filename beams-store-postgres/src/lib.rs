//! A [`DeviceStore`](beams_core::DeviceStore) on PostgreSQL: many servers, one database.
//!
//! [`PostgresDeviceStore`] keeps devices, their users and their interests in PostgreSQL, so
//! every beams node of a deployment sees the same devices — two nodes behind a load balancer,
//! or one node restarted elsewhere. The per-user device limit is exact across nodes: every
//! association of a user locks that user's row first, so checks and evictions of one user
//! never interleave, whichever node and connection they come from. The association policy
//! itself stays in beams-core; the store reads, asks it, and applies its plan in one
//! transaction. The schema is versioned and migrated forward on connect, once however many
//! nodes start together.
//!
//! [`PostgresDeviceStore::journal`] gives the store's [`PublishJournal`](beams_core::PublishJournal),
//! [`PostgresPublishJournal`]: accepted publishes kept in the same database (one backup holds
//! both), so any node can resume a publish whose node is gone.
//!
//! ```no_run
//! use beams_core::{Beams, DeviceMetadata, InstanceId, Platform, SecretKey, UserId};
//! use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The tables go in the schema the URL's search_path names first (`public` by default).
//! let url = "postgres://beams@db.internal/beams?options=-c%20search_path%3Dbeams";
//! let store = PostgresDeviceStore::connect_with(url, PostgresOptions::default().pool_size(32))
//!     .await?;
//! let beams = Beams::builder(InstanceId::new("my-instance")?, SecretKey::new("my-secret")?, store)
//!     .build();
//!
//! let device = beams
//!     .register_device(Platform::Fcm, "fcm-registration-token", DeviceMetadata::default())
//!     .await?;
//! let alice = UserId::new("alice")?;
//! let token = beams.issue_token(&alice)?;
//! // Any node sharing the database may do this, and any may publish to alice.
//! beams.associate_device(&device.id, &token.token).await?;
//! assert_eq!(beams.store().devices_of_user(&alice).await?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Connections
//!
//! A pool ([deadpool-postgres]) of `pool_size` connections; each call holds one for one
//! statement or one short transaction. Every connection carries a `statement_timeout` (lock
//! waits included) and an `idle_in_transaction_session_timeout`, and every call a bound of
//! its own, so a stuck database fails calls with `StoreErrorKind::Unavailable` instead of
//! hanging them; a failed call changes nothing. Connections the server closed (a restart,
//! `pg_terminate_backend`) are replaced on their next use; only the calls in flight on them
//! fail. Deadlocks, serialization failures and two registrations of one new token racing are
//! retried.
//!
//! TLS uses rustls with the project's crypto provider (aws-lc-rs): `sslmode=disable` never
//! uses it, `sslmode=require` always, and `prefer` (the default) everywhere except a Unix
//! socket or a loopback address. The server's certificate is always verified — against the
//! public web roots and the CAs given with [`PostgresOptions::ca_certificate`] — for the host
//! the URL names.
//!
//! [deadpool-postgres]: https://docs.rs/deadpool-postgres
//!
//! # Layout
//!
//! | table | one row per | key | distribution key |
//! |---|---|---|---|
//! | `devices` | device: token (Web Push: endpoint, keys beside it), user, metadata (JSON), times (Unix ms) | `id` | `id` |
//! | `device_interests` | subscription | `(device_id, interest)` | `device_id`, co-located with `devices` |
//! | `users` | user ever associated: the row an association locks | `user_id` | `user_id` |
//! | `user_devices` | association: the user's listing of a device, with its platform and time | `(user_id, device_id)` | `user_id`, co-located with `users` |
//! | `publishes` | journaled publish: request body, time accepted, then lease and progress, or time finished and report | `id` | `id` |
//! | `publish_counts` | slot of the unfinished count (16) | `slot` | none (tiny) |
//! | `beams_schema` | migration applied | `version` | none (tiny) |
//!
//! A device's user is written twice, in the device's row and in the user's listing, by the
//! same statement or transaction; reads of a user's devices go through the listing and check
//! the device's row. User ids are `bytea` (UTF-8): a user id may hold any character, U+0000
//! included, which `text` cannot. Ids, tokens and interest names are `COLLATE "C"`, so paging
//! orders them byte by byte, as beams-core does, whatever the database's locale.
//!
//! `publishes` is small — its unfinished rows are bounded by the accept bound, and finished
//! ones are forgotten after a while — and read through two partial indexes: unfinished by
//! `(accepted_at, id)`, the order claims take them in, and finished by `finished_at`, what
//! forgetting deletes. A publish is leased to one node at a time: a claim takes the oldest
//! lapsed lease in one `UPDATE` whose subquery locks the row with `FOR UPDATE SKIP LOCKED`, so
//! nodes claiming at once never take the same publish. How many are unfinished is kept in
//! `publish_counts`, 16 rows by the id's hash, by the very statement that journals or
//! finishes a publish: an accept reads 16 rows rather than counting an index, and locks one
//! of them, so accepts of every node run side by side. The bound on unfinished publishes may
//! therefore be passed by the accepts in flight at the same moment (at most the pools' sizes
//! across nodes); it is backpressure, not a quota. On a cluster, claiming reads every shard's
//! part of the small unfinished index; everything else names a publish by its id.

//! # Sharding
//!
//! Every table that grows with devices or users is keyed by `device_id` or `user_id`, so a
//! distributed PostgreSQL such as Citus can spread it over shards by that key, and every
//! statement the store sends names rows by their table's key:
//!
//! - **associate**: a read of the device by id (one shard; enough for the common call, a
//!   device re-associated with its own user). Otherwise one transaction: the user's row made
//!   and locked and the user's listing read (the user's shard), the device locked and updated
//!   (the device's shard), evicted devices updated by id (usually one, on its shard), the
//!   listing changed (the user's shard). Two or three shards, each statement on one: the
//!   cluster commits them together (two-phase commit) without a statement spanning shards.
//! - **lookup**: a user's listing by user id (one shard) joined to the devices by id — one
//!   round trip, for one user or 1000. On one server this is a nested loop of primary-key
//!   probes. The two tables are distributed on different keys, so on a cluster the join is
//!   not co-located: there it becomes two statements, the listing by user id (one shard per
//!   user), then `devices WHERE id = ANY (…)` (the shards holding those devices) — two round
//!   trips, each statement on its tables' keys, and no transaction, since it only reads. (On
//!   one server the join is over twice as fast for 1000 users as that array form, which is
//!   why it is what the store sends.)
//! - **delete user**: the user's row locked (one shard), the devices deleted by id (their
//!   shards), the user's row and listing deleted (one shard).
//!
//! One index does not fit this: `devices (platform, token)`, unique, which finds the device
//! holding a token. A cluster enforces uniqueness only on keys that include the distribution
//! key, so on one the token index becomes a table of its own, `device_tokens (platform,
//! token) → device_id`, distributed by token: registration and dead-token removal then touch
//! the token's shard and the device's.
//!
//! **A publish to an interest, on paper.** Take 100 M devices, 10 M users and 1 M interests,
//! five interests per device on average: 500 M rows in `device_interests` (about 35 GB, and as
//! much again for the `(interest, device_id)` index), 100 M in `devices` (about 35 GB with its
//! indexes). Interests are skewed: most have hundreds of subscribers, a popular one 10 M
//! (10 % of devices). A publish pages through an interest's subscribers in device-id order,
//! a page of P devices (ten gateway batches, P ≈ 1,000–5,000).
//!
//! - On one server, each page is one index scan of `(interest, device_id)` from the last id
//!   seen, plus P primary-key lookups in `devices`: a 10 M publish with P = 1,000 is 10,000
//!   pages, 10 M index entries and 10 M device rows read, each once.
//! - Sharded by device id over S shards (say 32), an interest's subscribers are spread over
//!   every shard (about 10 M / 32 ≈ 313,000 each), and each shard's subscriptions sit beside
//!   their devices, so the device lookups stay on the shard. But a page in global device-id
//!   order asks all S shards for their next P and keeps P: S × P entries read per page, 32×
//!   the work (320 M entries for the 10 M publish). Paging each shard on its own — S cursors,
//!   each shard reading only its own subscribers in order — brings it back to 10 M entries,
//!   read by 32 shards in parallel (about 313 pages of 1,000 each), and 10 M device rows
//!   (about 3.5 GB, 110 MB per shard). That is the change a sharded deployment needs:
//!   `subscribers_page` per shard, not globally; the schema already allows it.
//! - A small interest (500 subscribers) costs one page; sharded, one index probe per shard
//!   (32 probes finding about 16 each), which is why an interest index partitioned by
//!   interest would not help: publishes would then read one shard's index but fetch every
//!   device from the others.

mod error;
mod interests;
mod journal;
mod options;
mod plans;
mod pool;
mod queries;
mod row;
mod schema;
mod store;

pub use journal::PostgresPublishJournal;
pub use options::PostgresOptions;
pub use store::PostgresDeviceStore;

/// The pool this store is built on, re-exported so you can build one for
/// [`PostgresDeviceStore::from_pool`] without pinning it twice.
pub use deadpool_postgres;
