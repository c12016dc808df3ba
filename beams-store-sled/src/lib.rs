//! A [`DeviceStore`](beams_core::DeviceStore) on [sled](https://docs.rs/sled/0.34): the
//! pure-Rust embedded option.
//!
//! Swapping it for the SQLite store is a one-line change with the same behaviour: both run
//! beams-core's conformance suite.
//!
//! ```
//! use beams_core::{AssociationOutcome, AssociationPolicy, AssociationRequest};
//! use beams_core::{DeviceId, DeviceMetadata, DeviceRegistration, DeviceStore};
//! use beams_core::{FcmToken, Platform, PushToken, Timestamp, UserId};
//! use beams_core::{DEFAULT_MAX_INTERESTS_PER_DEVICE, Interest, InterestChange};
//! use beams_store_sled::SledDeviceStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = SledDeviceStore::open(dir.path().join("devices"))?;
//!
//! let device = store
//!     .register_device(DeviceRegistration {
//!         id: DeviceId::generate(Platform::Fcm),
//!         token: PushToken::Fcm(FcmToken::new("fcm:APA91b-example")?),
//!         metadata: DeviceMetadata::default(),
//!         at: Timestamp::from_unix_millis(1_700_000_000_000),
//!     })
//!     .await?
//!     .into_device()
//!     .ok_or("a new token is registered, never refused")?;
//!
//! let alice = UserId::new("alice")?;
//! let outcome = store
//!     .associate(&AssociationRequest {
//!         device: device.id.clone(),
//!         user: alice.clone(),
//!         policy: AssociationPolicy::default(),
//!         at: Timestamp::from_unix_millis(1_700_000_001_000),
//!     })
//!     .await?;
//! assert_eq!(outcome, Some(AssociationOutcome::Associated { evicted: vec![] }));
//!
//! // Subscribing to an interest: a publish to it pages through its devices.
//! let news = Interest::new("news")?;
//! let change = store.add_interest(&device.id, &news, DEFAULT_MAX_INTERESTS_PER_DEVICE).await?;
//! assert_eq!(change, Some(InterestChange::Added));
//! assert_eq!(store.subscribers_page(&[news], None, 100).await?[0].id, device.id);
//!
//! // Closing and reopening keeps everything.
//! drop(store);
//! let store = SledDeviceStore::open(dir.path().join("devices"))?;
//! assert_eq!(store.devices_of_user(&alice).await?[0].id, device.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`Durability`] chooses between flushing every write (the default: nothing acknowledged
//! is lost) and flushing on an interval (faster for a lone writer; a crash may lose the last
//! interval). Either way every change is one sled transaction, so a crash never leaves an
//! index disagreeing with the devices, and concurrent writes are committed together.
//!
//! Throughput comes from concurrency: sled 0.34 writes out its log for every transaction, so
//! one caller writing in a loop gets about as many writes per second as sled gets
//! transactions (thousands, on an ordinary disk), while many callers at once share each
//! transaction, tens of writes to one (`cargo bench -p beams-store-sled --bench sled_store`
//! measures both against raw sled).
//!
//! Device Interests live beside the devices: a device's interests as one value, checked
//! against the maximum and rewritten in the transaction that changes them, and an index of
//! each interest's devices that a publish pages through in device-id order. Deleting a
//! device deletes its subscriptions in the same transaction; renewing it keeps them.
//!
//! The publish journal ([`SledPublishJournal`], from [`SledDeviceStore::journal`]) keeps
//! accepted publishes, their progress and their reports in the same database, each change one
//! transaction through the same writer, so one backup of the directory holds both.
//!
//! sled is pinned to the stable 0.34 line (re-exported as [`sled`]); its 1.0 alphas have
//! another on-disk format and API.

mod codec;
mod database;
mod durability;
mod error;
mod interests;
mod journal;
mod keys;
mod layout;
mod leader;
mod read;
mod store;
mod tx;
mod txn;
mod writer;

pub use durability::Durability;
pub use journal::SledPublishJournal;
pub use store::SledDeviceStore;

/// The sled this crate is built on, so users need not pin it twice (for [`SledDeviceStore::from_db`]).
pub use sled;
