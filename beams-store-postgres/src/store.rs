//! `PostgresDeviceStore`: the `DeviceStore` over a pool of PostgreSQL connections.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use beams_core::{
    AssociationOutcome, AssociationRequest, Device, DeviceId, DeviceMetadata, DeviceRegistration,
    DeviceStore, Interest, InterestChange, PushToken, RegistrationOutcome, StoreError, Timestamp,
    UserId, async_trait, check_token_platform,
};
use deadpool_postgres::{Object, Pool};
use tokio_postgres::error::SqlState;

use crate::error::{pool_error, sql_state, timed_out};
use crate::{PostgresOptions, interests, pool, queries, schema};

/// A [`DeviceStore`] on PostgreSQL: every node of a deployment shares its devices, and the
/// per-user device limit is exact across them.
///
/// Each call takes a connection from the pool, runs one statement or one short transaction,
/// and gives the connection back. A call is bounded in time: it fails with
/// `StoreErrorKind::Unavailable` when no connection frees up, the database does not answer,
/// or a statement outlives the statement timeout — and a call that fails changes nothing.
/// Conflicts that PostgreSQL resolves by aborting one side (two registrations of one new
/// token, a deadlock, a serialization failure) are retried a few times first.
///
/// Clones share the pool.
#[derive(Clone, Debug)]
pub struct PostgresDeviceStore {
    pool: Pool,
    call_timeout: Duration,
}

/// How many times a call runs when PostgreSQL aborts it for a conflict with another.
pub(crate) const ATTEMPTS: usize = 4;

/// Which aborted attempts are worth running again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Deadlocks and serialization failures only.
    OnAbort,
    /// Those, and a unique-index violation: a concurrent call inserted the same token.
    OnConflict,
}

impl PostgresDeviceStore {
    /// Connects to the database `url` names (`postgres://user:password@host:port/database`,
    /// or `host=… user=…`) with default options, and migrates its schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database `url` names, and migrates its schema.
    ///
    /// The tables live in the first schema of the connection's `search_path` (set it in the
    /// URL: `?options=-c%20search_path%3Dbeams`). Migrations run under an advisory lock, so
    /// nodes that start at once migrate once. A schema written by a newer version is refused
    /// with `StoreErrorKind::IncompatibleVersion`, one holding another application's tables
    /// with `StoreErrorKind::NotAStore`, and an unreachable database with `Unavailable`.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let call_timeout = options.call_timeout();
        let store = PostgresDeviceStore {
            pool: pool::pool(url, &options)?,
            call_timeout,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A store over a pool you built, after migrating its schema. Give every connection a
    /// `statement_timeout`: the store bounds its own calls, not the statements they run.
    pub async fn from_pool(pool: Pool) -> Result<Self, StoreError> {
        let store = PostgresDeviceStore {
            pool,
            call_timeout: PostgresOptions::default().call_timeout(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool the store draws its connections from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.bounded(async {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            schema::migrate(&mut client).await
        })
        .await
    }

    /// Runs `work` within the call timeout.
    pub(crate) async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.call_timeout, work)
            .await
            .unwrap_or_else(|_| Err(timed_out(self.call_timeout)))
    }

    /// Runs `read` on a pooled connection.
    pub(crate) async fn read<T, F>(&self, read: impl FnOnce(Object) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        self.bounded(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            read(client).await
        })
        .await
    }

    /// A connection from the pool.
    pub(crate) async fn connection(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// Runs `$change` (an expression over the transaction `$tx`) in a transaction that commits
/// only if it succeeds, again when PostgreSQL aborts it for a conflict `$retry` covers, all
/// within the call timeout. An error, a timeout or a dropped call rolls it back whole. A
/// macro, not a method taking a closure: the change borrows the transaction, and a closure
/// over a borrow cannot promise a `Send` future in today's Rust.
macro_rules! in_transaction {
    ($store:expr, $retry:expr, |$tx:ident| $change:expr) => {
        $store
            .bounded(async {
                let mut attempt = 1;
                loop {
                    let mut client = $store.connection().await?;
                    let outcome = async {
                        let $tx = client
                            .transaction()
                            .await
                            .map_err($crate::error::store_error)?;
                        let value = $change.await?;
                        $tx.commit().await.map_err($crate::error::store_error)?;
                        Ok(value)
                    }
                    .await;
                    match outcome {
                        Err(err)
                            if attempt < $crate::store::ATTEMPTS
                                && $crate::store::worth_retrying(&err, $retry) =>
                        {
                            attempt += 1;
                        }
                        outcome => break outcome,
                    }
                }
            })
            .await
    };
}

pub(crate) fn worth_retrying(err: &StoreError, retry: Retry) -> bool {
    match sql_state(err) {
        Some(state) if *state == SqlState::UNIQUE_VIOLATION => retry == Retry::OnConflict,
        Some(state) => {
            *state == SqlState::T_R_DEADLOCK_DETECTED
                || *state == SqlState::T_R_SERIALIZATION_FAILURE
        }
        None => false,
    }
}

#[async_trait]
impl DeviceStore for PostgresDeviceStore {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
    ) -> Result<RegistrationOutcome, StoreError> {
        check_token_platform(&registration.id, &registration.token)?;
        in_transaction!(self, Retry::OnConflict, |tx| queries::register(
            &tx,
            &registration
        ))
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        self.read(async |client| queries::device(&client, id).await)
            .await
    }

    async fn remove_device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        self.read(async |client| queries::remove_device(&client, id).await)
            .await
    }

    async fn remove_device_by_token(
        &self,
        token: &PushToken,
        registered_no_later_than: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        self.read(async |client| {
            queries::remove_device_by_token(&client, token, registered_no_later_than).await
        })
        .await
    }

    async fn devices_of_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        self.read(async |client| queries::devices_of_user(&client, user).await)
            .await
    }

    async fn devices_of_users(&self, users: &[UserId]) -> Result<Vec<Device>, StoreError> {
        self.read(async |client| queries::devices_of_users(&client, users).await)
            .await
    }

    async fn remove_user(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        in_transaction!(self, Retry::OnAbort, |tx| queries::remove_user(&tx, user))
    }

    async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Option<Device>, StoreError> {
        self.read(async |client| queries::update_metadata(&client, id, &metadata).await)
            .await
    }

    async fn update_token(
        &self,
        id: &DeviceId,
        token: PushToken,
        at: Timestamp,
    ) -> Result<Option<Device>, StoreError> {
        check_token_platform(id, &token)?;
        in_transaction!(self, Retry::OnConflict, |tx| queries::update_token(
            &tx, id, &token, at
        ))
    }

    async fn set_interests(
        &self,
        id: &DeviceId,
        interests: &BTreeSet<Interest>,
    ) -> Result<Option<()>, StoreError> {
        in_transaction!(self, Retry::OnAbort, |tx| interests::set(
            &tx, id, interests
        ))
    }

    async fn add_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
        max: usize,
    ) -> Result<Option<InterestChange>, StoreError> {
        in_transaction!(self, Retry::OnAbort, |tx| interests::add(
            &tx, id, interest, max
        ))
    }

    async fn remove_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<Option<bool>, StoreError> {
        self.read(async |client| interests::remove(&client, id, interest).await)
            .await
    }

    async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Option<Vec<Interest>>, StoreError> {
        self.read(async |client| interests::page(&client, id, after, limit).await)
            .await
    }

    async fn subscribers_page(
        &self,
        interests: &[Interest],
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        self.read(async |client| {
            interests::subscribers_page(&client, interests, after, limit).await
        })
        .await
    }

    async fn associate(
        &self,
        request: &AssociationRequest,
    ) -> Result<Option<AssociationOutcome>, StoreError> {
        let decided = self
            .read(async |client| queries::associate_without_lock(&client, request).await)
            .await?;
        if let Some(outcome) = decided {
            return Ok(outcome);
        }
        in_transaction!(self, Retry::OnAbort, |tx| queries::associate(&tx, request))
    }
}
