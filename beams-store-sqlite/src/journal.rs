//! `SqlitePublishJournal`: the publish journal in the store's own SQLite file, one
//! `publishes` row per publish and its body in `publish_bodies`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use beams_core::{
    Acceptance, JournalEntry, JournalRecord, JournalState, Lease, PublishId, PublishJournal,
    PublishTargetKind, StoreError, StoreErrorKind, Timestamp, async_trait,
};
use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteDeviceStore;
use crate::error::store_error;
use crate::group_commit::GroupCommit;
use crate::queries::in_transaction;

/// The columns every journal query selects, in the order [`record_from_row`] reads them; a
/// macro so queries can be `concat!`-ed into constants.
macro_rules! publish_columns {
    () => {
        "publishes.id, kind, body, accepted_at, state, lease_owner, lease_until, progress, \
         finished_at, report FROM publishes JOIN publish_bodies USING (id)"
    };
}

pub(crate) const EXISTS: &str = "SELECT 1 FROM publishes WHERE id = ?1";
/// How many publishes are unfinished: one row, kept by the schema's triggers.
pub(crate) const COUNT_UNFINISHED: &str = "SELECT unfinished FROM publish_counts";
pub(crate) const INSERT: &str = "INSERT INTO publishes \
     (id, kind, accepted_at, state, lease_owner, lease_until) \
     VALUES (?1, ?2, ?3, 'unfinished', ?4, ?5)";
pub(crate) const INSERT_BODY: &str = "INSERT INTO publish_bodies (id, body) VALUES (?1, ?2)";
pub(crate) const CHECKPOINT: &str = "UPDATE publishes SET progress = ?3, lease_until = ?4 \
     WHERE id = ?1 AND state = 'unfinished' AND lease_owner = ?2";
pub(crate) const RENEW: &str = "UPDATE publishes SET lease_until = ?3 \
     WHERE id = ?1 AND state = 'unfinished' AND lease_owner = ?2";
pub(crate) const FINISH: &str = "UPDATE publishes SET state = 'finished', \
     lease_owner = NULL, lease_until = NULL, progress = NULL, finished_at = ?3, report = ?4 \
     WHERE id = ?1 AND state = 'unfinished' AND lease_owner = ?2";
/// Leases to `?1` until `?3` the oldest accepted unfinished publish that `?1` holds already
/// or whose lease ended by `?2`. The two kinds of candidate are two index probes, sorted
/// together: a claim never walks the live leases of other nodes.
pub(crate) const CLAIM: &str = concat!(
    "UPDATE publishes SET lease_owner = ?1, lease_until = ?3 WHERE id = (",
    "SELECT id FROM (",
    "SELECT id, accepted_at FROM publishes WHERE state = 'unfinished' AND lease_owner = ?4 ",
    "AND lease_owner <> ?1 ",
    "UNION ALL ",
    "SELECT id, accepted_at FROM publishes WHERE state = 'unfinished' ",
    "AND lease_owner >= ?4 || '/' AND lease_owner < ?4 || '0' ",
    "AND lease_owner <> ?1 AND NOT (lease_owner >= ?1 || '/' AND lease_owner < ?1 || '0') ",
    "UNION ALL ",
    "SELECT id, accepted_at FROM publishes WHERE state = 'unfinished' AND lease_until <= ?2",
    ") ORDER BY accepted_at, id LIMIT 1) RETURNING id"
);
pub(crate) const SELECT: &str = concat!("SELECT ", publish_columns!(), " WHERE publishes.id = ?1");
pub(crate) const FORGET: &str =
    "DELETE FROM publishes WHERE state = 'finished' AND finished_at < ?1";

/// A [`PublishJournal`] in the store's SQLite file: a backup of the file holds the devices
/// and the publishes in flight together, and a publish accepted survives the process.
///
/// Made by [`SqliteDeviceStore::journal`], it shares the store's connections: changes go
/// through the one writer connection, each in a `BEGIN IMMEDIATE` transaction — so the bound
/// of [`accept`](PublishJournal::accept) is exact and a [`claim`](PublishJournal::claim)
/// takes a publish once, across tasks and across processes sharing the file — and reads go
/// to the readers.
///
/// ```
/// use beams_core::{Acceptance, JournalEntry, Lease, PublishId, PublishJournal};
/// use beams_core::{PublishTargetKind, Timestamp};
/// use beams_store_sqlite::SqliteDeviceStore;
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = SqliteDeviceStore::open(dir.path().join("beams.db")).await?;
/// let journal = store.journal();
///
/// let entry = JournalEntry {
///     id: PublishId::generate(),
///     kind: PublishTargetKind::Users,
///     body: br#"{"users":["alice"],"fcm":{"notification":{"title":"Hi"}}}"#.to_vec(),
///     accepted_at: Timestamp::from_unix_millis(1_000),
/// };
/// let lease = Lease { owner: "node-a".to_owned(), until: Timestamp::from_unix_millis(31_000) };
/// assert_eq!(journal.accept(&entry, &lease, 10_000).await?, Acceptance::Accepted);
/// assert_eq!(journal.unfinished().await?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqlitePublishJournal {
    store: SqliteDeviceStore,
    /// Accepts and finishes, written together when they arrive together.
    writes: Arc<GroupCommit>,
}

impl SqlitePublishJournal {
    pub(crate) fn new(store: SqliteDeviceStore) -> Self {
        SqlitePublishJournal {
            store,
            writes: Arc::default(),
        }
    }
}

impl fmt::Debug for SqlitePublishJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlitePublishJournal")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PublishJournal for SqlitePublishJournal {
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError> {
        let (entry, lease) = (entry.clone(), lease.clone());
        self.writes
            .run(&self.store, move |tx| {
                accept(tx, &entry, &lease, max_unfinished)
            })
            .await
    }

    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError> {
        let (id, lease, progress) = (id.clone(), lease.clone(), progress.to_vec());
        self.store
            .write_beside(move |conn| {
                let until = lease.until.as_unix_millis();
                changed(
                    conn,
                    CHECKPOINT,
                    params![id.as_str(), lease.owner, progress, until],
                )
            })
            .await
    }

    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError> {
        let (id, lease) = (id.clone(), lease.clone());
        self.store
            .write_beside(move |conn| {
                let until = lease.until.as_unix_millis();
                changed(conn, RENEW, params![id.as_str(), lease.owner, until])
            })
            .await
    }

    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let (id, owner, report) = (id.clone(), owner.to_owned(), report.to_vec());
        self.writes
            .run(&self.store, move |tx| {
                let at = at.as_unix_millis();
                tx.prepare_cached(FINISH)
                    .and_then(|mut stmt| stmt.execute(params![id.as_str(), owner, at, report]))
                    .map(|rows| rows > 0)
                    .map_err(store_error)
            })
            .await
    }

    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError> {
        let (lease, node) = (lease.clone(), node.map(str::to_owned));
        self.store
            .write(move |conn| {
                in_transaction(conn, |tx| {
                    let (now, until) = (now.as_unix_millis(), lease.until.as_unix_millis());
                    let claimed = tx
                        .prepare_cached(CLAIM)
                        .and_then(|mut stmt| {
                            stmt.query_row(params![lease.owner, now, until, node], |row| {
                                row.get::<_, String>(0)
                            })
                        })
                        .optional()
                        .map_err(store_error)?;
                    match claimed {
                        Some(id) => one_record(tx, SELECT, [id]),
                        None => Ok(None),
                    }
                })
            })
            .await
    }

    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError> {
        let id = id.clone();
        self.store
            .read(move |conn| one_record(conn, SELECT, [id.as_str()]))
            .await
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.store
            .read(|conn| count(conn, COUNT_UNFINISHED, []))
            .await
    }

    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.store
            .write(move |conn| {
                in_transaction(conn, |tx| {
                    tx.prepare_cached(FORGET)
                        .and_then(|mut stmt| stmt.execute([before.as_unix_millis()]))
                        .map_err(store_error)
                })
            })
            .await
    }
}

/// The bound, the insert and the duplicate check (by the primary key), in the writer's
/// immediate transaction: no other writer can slip a publish in between the count and the
/// insert. A refusal writes nothing, so it can share the transaction with other accepts.
fn accept(
    tx: &Connection,
    entry: &JournalEntry,
    lease: &Lease,
    max_unfinished: usize,
) -> Result<Acceptance, StoreError> {
    let id = entry.id.as_str();
    let unfinished = count(tx, COUNT_UNFINISHED, [])?;
    if unfinished >= max_unfinished {
        // The rare answer: only here is the id looked up first, so that a repeated id is
        // refused as one whether or not the journal is full.
        let known = tx
            .prepare_cached(EXISTS)
            .and_then(|mut stmt| stmt.exists([id]))
            .map_err(store_error)?;
        if known {
            return Err(already_journaled(id));
        }
        return Ok(Acceptance::Full { unfinished });
    }
    // The primary key refuses an id already journaled, and the failed statement writes
    // nothing: no lookup first.
    let inserted = tx.prepare_cached(INSERT).and_then(|mut stmt| {
        stmt.execute(params![
            id,
            entry.kind.field(),
            entry.accepted_at.as_unix_millis(),
            lease.owner,
            lease.until.as_unix_millis(),
        ])
    });
    match inserted {
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            return Err(already_journaled(id));
        }
        other => other.map_err(store_error)?,
    };
    tx.prepare_cached(INSERT_BODY)
        .and_then(|mut stmt| stmt.execute(params![id, entry.body]))
        .map_err(store_error)?;
    Ok(Acceptance::Accepted)
}

/// Runs a change of at most one row in an immediate transaction; answers whether it
/// changed one.
fn changed(
    conn: &mut Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<bool, StoreError> {
    in_transaction(conn, |tx| {
        tx.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map(|rows| rows > 0)
            .map_err(store_error)
    })
}

fn count(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |row| row.get(0)))
        .map_err(store_error)?;
    // A count is never negative; a failed conversion could only mean a broken engine.
    usize::try_from(n).map_err(|e| StoreError::with_source(StoreErrorKind::Backend, e))
}

fn one_record(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<JournalRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_error)?;
    let mut rows = stmt.query(params).map_err(store_error)?;
    let record = match rows.next().map_err(store_error)? {
        Some(row) => Some(record_from_row(row)?),
        None => None,
    };
    // Step to the end: a RETURNING statement finishes its change only when fully stepped.
    while rows.next().map_err(store_error)?.is_some() {}
    Ok(record)
}

/// Reads a publish from a row selected with [`publish_columns`]. The table's checks keep
/// the columns consistent with the state; a hand-edited or damaged row is a typed `Corrupt`
/// error naming its id and column.
fn record_from_row(row: &Row<'_>) -> Result<JournalRecord, StoreError> {
    let raw_id: String = column(row, "?", 0, "id")?;
    let id = PublishId::parse(&raw_id).map_err(|e| corrupt(&raw_id, "id", e))?;
    let kind: String = column(row, &raw_id, 1, "kind")?;
    let kind = [PublishTargetKind::Users, PublishTargetKind::Interests]
        .into_iter()
        .find(|known| known.field() == kind)
        .ok_or_else(|| corrupt(&raw_id, "kind", format!("unknown kind {kind:?}")))?;
    let entry = JournalEntry {
        id,
        kind,
        body: column(row, &raw_id, 2, "body")?,
        accepted_at: Timestamp::from_unix_millis(column(row, &raw_id, 3, "accepted_at")?),
    };
    let state: String = column(row, &raw_id, 4, "state")?;
    let state = match state.as_str() {
        "unfinished" => JournalState::Unfinished {
            lease: Lease {
                owner: column(row, &raw_id, 5, "lease_owner")?,
                until: Timestamp::from_unix_millis(column(row, &raw_id, 6, "lease_until")?),
            },
            progress: column(row, &raw_id, 7, "progress")?,
        },
        "finished" => JournalState::Finished {
            at: Timestamp::from_unix_millis(column(row, &raw_id, 8, "finished_at")?),
            report: column(row, &raw_id, 9, "report")?,
        },
        other => {
            return Err(corrupt(
                &raw_id,
                "state",
                format!("unknown state {other:?}"),
            ));
        }
    };
    Ok(JournalRecord { entry, state })
}

fn column<T: FromSql>(row: &Row<'_>, id: &str, index: usize, name: &str) -> Result<T, StoreError> {
    row.get(index).map_err(|e| corrupt(id, name, e))
}

/// A `Corrupt` error for one column of one `publishes` row.
fn corrupt(
    row: &str,
    column: &str,
    cause: impl Into<Box<dyn StdError + Send + Sync>>,
) -> StoreError {
    StoreError::with_source(
        StoreErrorKind::Corrupt {
            key: format!("publishes row {row:?}, column {column}"),
        },
        cause,
    )
}

fn already_journaled(id: &str) -> StoreError {
    StoreError::precondition(format!("publish {id} is already journaled"))
}
