//! A durable [`DeviceStore`](beams_core::DeviceStore) on SQLite: the embedded default.
//!
//! [`SqliteDeviceStore`] keeps devices and their users in one SQLite file (bundled SQLite:
//! nothing to install), in WAL mode, with the per-user device limit enforced in one
//! `BEGIN IMMEDIATE` transaction — so it holds across tasks, across processes sharing the file,
//! and across a crash at any instant. The schema is versioned and migrated forward on open.
//!
//! [`SqliteDeviceStore::journal`] gives the store's [`SqlitePublishJournal`]: accepted
//! publishes, their progress and their reports, kept in the same file as the devices, so a
//! publish answered with its id survives a restart and one backup holds everything. Accepts
//! and finishes that arrive together are committed together (group commit), and a thread of
//! the store copies the write-ahead log into the file, so that no commit stops to do it.
//!
//! ```
//! use beams_core::{Beams, DeviceMetadata, InstanceId, Platform, SecretKey, UserId};
//! use beams_store_sqlite::SqliteDeviceStore;
//!
//! # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteDeviceStore::open(dir.path().join("beams.db")).await?;
//! let beams = Beams::builder(InstanceId::new("my-instance")?, SecretKey::new("my-secret")?, store)
//!     .build();
//!
//! let device = beams
//!     .register_device(Platform::Fcm, "fcm-registration-token", DeviceMetadata::default())
//!     .await?;
//! let alice = UserId::new("alice")?;
//! let token = beams.issue_token(&alice)?;
//! beams.associate_device(&device.id, &token.token).await?;
//! assert_eq!(beams.store().devices_of_user(&alice).await?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Layout
//!
//! One `devices` table (`STRICT`), one row per device: its id, platform, push token (for Web
//! Push the subscription's endpoint, with its two keys as blobs beside it), user, metadata
//! (JSON) and times (Unix milliseconds). Indexes: `(platform, token)` unique, and `(user_id,
//! platform, associated_at, id)` over associated devices, which serves both a user's listing
//! in association order and the limit check. A `device_interests` table holds each device's
//! interests. A `publishes` table (`STRICT`) holds the journal, one row per publish: an
//! unfinished one with its lease and progress, a finished one with its time and report; the
//! request body is in `publish_bodies` beside it, so that a checkpoint, which rewrites the
//! publish's row, does not rewrite its body too.
//! `PRAGMA user_version` holds the schema version and `PRAGMA application_id` marks the file
//! as a beams database.

mod checkpointer;
mod error;
mod group_commit;
mod interests;
mod journal;
mod options;
mod queries;
mod row;
mod schema;
mod store;

pub use journal::SqlitePublishJournal;
pub use options::{SqliteOptions, Synchronous};
pub use store::SqliteDeviceStore;

/// The SQLite driver this store is built on, re-exported so you need not pin it twice.
pub use rusqlite;
