//! The rules of beams, in one place.
//!
//! beams lets a Rust server send push notifications to its own signed-in users on iPhones
//! (APNs), Android (FCM) and browsers (Web Push). This crate holds what every part agrees on:
//!
//! - validated values: [`UserId`], [`Interest`], [`InstanceId`], [`SecretKey`], [`DeviceId`],
//!   [`Platform`], [`PushToken`] (with [`WebSubscription`]) and [`Device`];
//! - Beams Tokens, the signed proof of a user that a device presents: [`TokenIssuer`] and
//!   [`TokenVerifier`];
//! - the association policy, at most N devices per user per platform, evict or refuse:
//!   [`AssociationPolicy`];
//! - the two traits the other crates implement: [`DeviceStore`] (SQLite, sled, …) and
//!   [`PushGateway`] (APNs, FCM, Web Push), which takes one [`Batch`]: one payload to many
//!   devices of its platform;
//! - publishing: a [`PublishRequest`] to a [`PublishTarget`] (users or interests), the
//!   [`Gateways`] it goes through, the [`PublishReport`] it gives, [`PerPlatform`] counts;
//! - the engine a server calls: [`Beams`];
//! - what the client SDKs report back: [`ReportEvent`] (a delivery or an open), and the
//!   bounded per-publish counts of them, [`EventLedger`];
//! - fakes for your own tests: [`MemoryDeviceStore`], [`FakePushGateway`] and [`ManualClock`];
//! - with the `testing` feature, the conformance suite every store runs (`testing`).
//!
//! ```
//! use beams_core::{Beams, DeviceMetadata, InstanceId, MemoryDeviceStore, Platform, SecretKey, UserId};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let beams = Beams::builder(
//!     InstanceId::new("00000000-0000-0000-0000-000000000000")?,
//!     SecretKey::new("SECRETKEY")?,
//!     MemoryDeviceStore::new(),
//! )
//! .build();
//!
//! // The app registers its push token and gets a device id back.
//! let apns_token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
//! let device = beams.register_device(Platform::Apns, apns_token, DeviceMetadata::default()).await?;
//!
//! // Your auth endpoint gives the signed-in user a Beams Token; the device presents it.
//! let alice = UserId::new("alice")?;
//! let token = beams.issue_token(&alice)?;
//! beams.associate_device(&device.id, &token.token).await?;
//! assert_eq!(beams.store().devices_of_user(&alice).await?.len(), 1);
//!
//! // Account deletion removes every device of the user.
//! let removed = beams.delete_user(&alice).await?;
//! assert_eq!(removed.len(), 1);
//! assert_eq!(removed[0].id, device.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod base64url;
mod dead_token;
mod device;
mod device_columns;
mod device_id;
mod engine;
mod fake_gateway;
mod gateway;
mod instance_id;
mod interest;
mod interest_change;
mod journal;
mod memory;
mod newtype;
mod per_platform;
mod platform;
mod policy;
mod public_address;
mod publish;
mod publish_id;
mod push_token;
mod renewal;
mod reporting;
mod secret_key;
mod store;
mod store_error;
mod time;
mod time_ordered;
pub mod token;
mod user_id;
mod validation;
mod web_subscription;
pub mod webhooks;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use dead_token::DeadToken;
pub use device::{Device, DeviceMetadata, DeviceRegistration};
pub use device_columns::DeviceColumns;
pub use device_id::DeviceId;
pub use engine::{Association, Beams, BeamsBuilder, BeamsError, WELL_KNOWN_WEB_PUSH_HOSTS};
pub use fake_gateway::FakePushGateway;
pub use gateway::{Batch, DeliveryOutcome, Payload, PushGateway, Recipient};
pub use instance_id::InstanceId;
pub use interest::Interest;
pub use interest_change::{DEFAULT_MAX_INTERESTS_PER_DEVICE, InterestChange};
pub use journal::{
    Acceptance, JournalEntry, JournalRecord, JournalState, Lease, MemoryPublishJournal,
    PublishJournal,
};
pub use memory::MemoryDeviceStore;
pub use per_platform::PerPlatform;
pub use platform::Platform;
pub use policy::{
    AssociatedDevice, AssociationPlan, AssociationPolicy, AssociationRefusal, WhenFull,
    association_order,
};
pub use public_address::{is_loopback_address, is_public_address};
pub use publish::{
    BreakerPolicy, DeliveryEvent, DeviceReport, DeviceResult, Gateways, JournalConfig,
    PlatformReport, Publication, PublishConfig, PublishObserver, PublishReport, PublishRequest,
    PublishTarget, PublishTargetKind, RetryPolicy, SkipReason,
};
pub use publish_id::PublishId;
pub use push_token::{ApnsToken, FcmToken, PushToken};
pub use renewal::{RegistrationRefusal, check_renewal};
pub use reporting::{
    Classified, EventCounts, EventKind, EventLedger, LedgerLimits, Recorded, ReportEvent,
};
pub use secret_key::SecretKey;
pub use store::{
    AssociationOutcome, AssociationRequest, DeviceStore, RegistrationOutcome, check_token_platform,
};
pub use store_error::{StoreError, StoreErrorKind};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use token::{IssuedToken, TokenError, TokenIssuer, TokenVerifier, VerifiedToken};
pub use user_id::UserId;
pub use validation::{Rule, ValidationError};
pub use web_subscription::{EndpointRules, WebSubscription};

/// `async_trait`, re-exported so store and gateway implementations need not pin it themselves.
pub use async_trait::async_trait;
