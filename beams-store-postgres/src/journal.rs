//! `PostgresPublishJournal`: the publish journal in the store's database, leased across nodes.

use std::error::Error as StdError;

use beams_core::{
    Acceptance, JournalEntry, JournalRecord, JournalState, Lease, PublishId, PublishJournal,
    PublishTargetKind, StoreError, StoreErrorKind, Timestamp, async_trait,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};

use crate::PostgresDeviceStore;
use crate::error::sql_state;
use crate::queries::{execute, query};

/// A [`PublishJournal`] in the tables of a [`PostgresDeviceStore`]: every node of a
/// deployment sees every accepted publish, and any node can resume one whose node is gone.
///
/// Made by [`PostgresDeviceStore::journal`], it shares the store's pool, schema and bounds:
/// each call holds one connection for one statement or one short transaction, fails with
/// `StoreErrorKind::Unavailable` rather than hang, and changes nothing when it fails.
///
/// Across nodes: a publish is claimed by one node at a time, because a claim locks the row it
/// takes and skips rows other claims hold. The unfinished publishes are counted in 16 rows
/// (by the id's hash) that accept and finish keep in the same statement, and an accept reads
/// their sum without taking turns with other accepts (which would serialize every accept of
/// every node behind one commit at a time): accepts running at the same moment may each see
/// room for one more, so the bound can be passed by at most the number of accepts in flight
/// at once (the pools' sizes across nodes). It is backpressure, not a quota.
///
/// Clones share the pool.
#[derive(Clone, Debug)]
pub struct PostgresPublishJournal {
    store: PostgresDeviceStore,
}

impl PostgresDeviceStore {
    /// The publish journal in this store's database and schema, sharing its pool.
    pub fn journal(&self) -> PostgresPublishJournal {
        PostgresPublishJournal {
            store: self.clone(),
        }
    }
}

/// The columns every publish query selects, in the order [`record_from_row`] reads them.
macro_rules! publish_columns {
    () => {
        "id, kind, body, accepted_at, finished, lease_owner, lease_until, progress, \
         finished_at, report"
    };
}

/// Journals the entry if fewer than `$7` publishes are unfinished, and counts it, in one
/// statement: one round trip, and only the one counter row of its slot locked to the commit,
/// so concurrent accepts rarely wait for each other and their commits share WAL flushes.
/// Answers the count before and whether the row went in; an id already taken fails the
/// insert with a unique violation. (PostgreSQL runs every data-modifying `WITH` part once.)
pub(crate) const ACCEPT: &str = "WITH standing AS (\
     SELECT coalesce(sum(unfinished), 0)::bigint AS unfinished FROM publish_counts), \
     accepted AS (INSERT INTO publishes \
     (id, kind, body, accepted_at, finished, lease_owner, lease_until) \
     SELECT $1, $2, $3, $4, false, $5, $6 FROM standing WHERE unfinished < $7 RETURNING id), \
     counted AS (UPDATE publish_counts SET unfinished = unfinished + 1 \
     WHERE slot = (SELECT hashtext(id) & 15 FROM accepted)) \
     SELECT unfinished, EXISTS (SELECT 1 FROM accepted) FROM standing";
pub(crate) const CHECKPOINT: &str = "UPDATE publishes SET progress = $3, lease_until = $4 \
     WHERE id = $1 AND NOT finished AND lease_owner = $2";
pub(crate) const RENEW: &str = "UPDATE publishes SET lease_until = $3 \
     WHERE id = $1 AND NOT finished AND lease_owner = $2";
/// Finishes the publish and takes it off its slot's count, in one statement; answers one
/// row changed if the publish was unfinished and leased to `$2`.
pub(crate) const FINISH: &str = "WITH finished AS (UPDATE publishes SET finished = true, \
     finished_at = $3, report = $4, lease_owner = NULL, lease_until = NULL, progress = NULL \
     WHERE id = $1 AND NOT finished AND lease_owner = $2 RETURNING id) \
     UPDATE publish_counts SET unfinished = unfinished - 1 \
     WHERE slot = (SELECT hashtext(id) & 15 FROM finished)";
/// One statement: the subquery locks the oldest claimable row, skipping rows another claim
/// holds, and re-checks it after any wait, so two claims never take the same publish.
pub(crate) const CLAIM: &str = concat!(
    "UPDATE publishes SET lease_owner = $1, lease_until = $2 WHERE id = (",
    "SELECT id FROM publishes WHERE NOT finished AND (lease_until <= $3 ",
    "OR ((lease_owner = $4 OR starts_with(lease_owner, $4 || '/')) ",
    "AND lease_owner <> $1 AND NOT starts_with(lease_owner, $1 || '/'))) ",
    "ORDER BY accepted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
    publish_columns!()
);
pub(crate) const SELECT_BY_ID: &str = concat!(
    "SELECT ",
    publish_columns!(),
    " FROM publishes WHERE id = $1"
);
pub(crate) const COUNT_UNFINISHED: &str =
    "SELECT coalesce(sum(unfinished), 0)::bigint FROM publish_counts";
pub(crate) const FORGET_FINISHED: &str =
    "DELETE FROM publishes WHERE finished AND finished_at < $1";

#[async_trait]
impl PublishJournal for PostgresPublishJournal {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError> {
        let max = i64::try_from(max_unfinished).unwrap_or(i64::MAX);
        let id = entry.id.as_str();
        let (kind, accepted_at) = (entry.kind.field(), entry.accepted_at.as_unix_millis());
        let until = lease.until.as_unix_millis();
        let params: [&(dyn ToSql + Sync); 7] = [
            &id,
            &kind,
            &entry.body,
            &accepted_at,
            &lease.owner,
            &until,
            &max,
        ];
        let rows = self
            .store
            .read(async |client| match query(&client, ACCEPT, &params).await {
                Err(err) if sql_state(&err) == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(already_journaled(&entry.id))
                }
                answered => answered,
            })
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt(id, "id", "accepting a publish answered no row"))?;
        let unfinished: i64 = row.try_get(0).map_err(|e| corrupt(id, "finished", e))?;
        let accepted: bool = row.try_get(1).map_err(|e| corrupt(id, "id", e))?;
        Ok(if accepted {
            Acceptance::Accepted
        } else {
            Acceptance::Full {
                unfinished: usize::try_from(unfinished).unwrap_or(usize::MAX),
            }
        })
    }

    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        let until = lease.until.as_unix_millis();
        let params: [&(dyn ToSql + Sync); 4] = [&id.as_str(), &lease.owner, &progress, &until];
        self.changed(CHECKPOINT, &params).await
    }

    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        let until = lease.until.as_unix_millis();
        self.changed(RENEW, &[&id.as_str(), &lease.owner, &until])
            .await
    }

    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let at = at.as_unix_millis();
        self.changed(FINISH, &[&id.as_str(), &owner, &at, &report])
            .await
    }

    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        let (until, now) = (lease.until.as_unix_millis(), now.as_unix_millis());
        self.store
            .read(async |client| {
                let rows = query(&client, CLAIM, &[&lease.owner, &until, &now, &node]).await?;
                rows.first().map(record_from_row).transpose()
            })
            .await
    }

    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        self.store
            .read(async |client| {
                let rows = query(&client, SELECT_BY_ID, &[&id.as_str()]).await?;
                rows.first().map(record_from_row).transpose()
            })
            .await
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.store
            .read(async |client| unfinished(&client).await)
            .await
    }

    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        let before = before.as_unix_millis();
        let forgotten = self
            .store
            .read(async |client| execute(&client, FORGET_FINISHED, &[&before]).await)
            .await?;
        Ok(usize::try_from(forgotten).unwrap_or(usize::MAX))
    }
}

impl PostgresPublishJournal {
    /// Runs one change of one publish, answering whether it found the publish.
    async fn changed(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<bool, StoreError> {
        let rows = self
            .store
            .read(async |client| execute(&client, sql, params).await)
            .await?;
        Ok(rows > 0)
    }
}

async fn unfinished(client: &impl GenericClient) -> Result<usize, StoreError> {
    let rows = query(client, COUNT_UNFINISHED, &[]).await?;
    let count: i64 = rows
        .first()
        .ok_or_else(|| corrupt("?", "finished", "counting publishes answered no row"))?
        .try_get(0)
        .map_err(|e| corrupt("?", "finished", e))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

fn already_journaled(id: &PublishId) -> StoreError {
    StoreError::precondition(format!("publish {id} is already journaled"))
}

/// Reads a publish from a row selected with [`publish_columns`], each column checked as on
/// the way in: a damaged row is a typed `Corrupt` error naming it.
fn record_from_row(row: &Row) -> Result<JournalRecord, StoreError> {
    let id: String = column(row, "?", 0, "id")?;
    let kind: String = column(row, &id, 1, "kind")?;
    let kind = match kind.as_str() {
        "users" => PublishTargetKind::Users,
        "interests" => PublishTargetKind::Interests,
        other => return Err(corrupt(&id, "kind", format!("unknown kind {other:?}"))),
    };
    let entry = JournalEntry {
        id: PublishId::parse(&id).map_err(|e| corrupt(&id, "id", e))?,
        kind,
        body: column(row, &id, 2, "body")?,
        accepted_at: Timestamp::from_unix_millis(column(row, &id, 3, "accepted_at")?),
    };
    let state = if column(row, &id, 4, "finished")? {
        JournalState::Finished {
            at: Timestamp::from_unix_millis(column(row, &id, 8, "finished_at")?),
            report: column(row, &id, 9, "report")?,
        }
    } else {
        JournalState::Unfinished {
            lease: Lease {
                owner: column(row, &id, 5, "lease_owner")?,
                until: Timestamp::from_unix_millis(column(row, &id, 6, "lease_until")?),
            },
            progress: column(row, &id, 7, "progress")?,
        }
    };
    Ok(JournalRecord { entry, state })
}

fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    id: &str,
    index: usize,
    name: &str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| corrupt(id, name, e))
}

/// A `Corrupt` error for one column of one `publishes` row.
fn corrupt(
    id: &str,
    column: &str,
    cause: impl Into<Box<dyn StdError + Send + Sync>>,
) -> StoreError {
    StoreError::with_source(
        StoreErrorKind::Corrupt {
            key: format!("publishes row {id:?}, column {column}"),
        },
        cause,
    )
}
