//! The publish journal: where accepted publishes are kept until they are delivered, so a
//! publish answered with its id survives the process that accepted it.

mod memory;

use std::fmt;

use async_trait::async_trait;

pub use memory::MemoryPublishJournal;

use crate::{PublishId, PublishTargetKind, StoreError, Timestamp};

/// An accepted publish as the journal keeps it: enough to deliver it again from scratch on
/// any node — the request body exactly as accepted, re-parsed on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The id the publish was answered with.
    pub id: PublishId,
    /// Whether it targets users or interests (which parser reads `body`).
    pub kind: PublishTargetKind,
    /// The request body as accepted.
    pub body: Vec<u8>,
    /// When it was accepted.
    pub accepted_at: Timestamp,
}

/// Who delivers a publish, and until when that holds unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The delivering node's id: stable across its restarts, so a node that comes back takes
    /// its own publishes back at once.
    pub owner: String,
    /// When the lease lapses; after it any node may claim the publish.
    pub until: Timestamp,
}

impl Lease {
    /// Whether a publish held by this lease may be claimed at `now` by `claimer`
    /// ([`PublishJournal::claim`]): the lease has ended, or it belongs to `node` — its owner is
    /// `node` or `node/…` — but not already to the claimer (its owner is not `claimer` or
    /// `claimer/…`).
    pub fn is_claimable(&self, now: Timestamp, node: Option<&str>, claimer: &str) -> bool {
        self.until <= now
            || node
                .is_some_and(|node| owned_by(&self.owner, node) && !owned_by(&self.owner, claimer))
    }
}

/// Whether `owner` is `node`, or an owner under it, `node/…`.
fn owned_by(owner: &str, node: &str) -> bool {
    owner
        .strip_prefix(node)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What [`PublishJournal::accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The publish is journaled and leased to the accepting node.
    Accepted,
    /// Nothing was written: the journal already holds `unfinished` unfinished publishes, at
    /// least the bound given.
    Full {
        /// How many unfinished publishes there are.
        unfinished: usize,
    },
}

/// Where a journaled publish stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalState {
    /// Accepted, not finished: a node delivers it, or will.
    Unfinished {
        /// The node delivering it and until when.
        lease: Lease,
        /// The last progress recorded ([`PublishJournal::checkpoint`]), opaque to the
        /// journal; `None` before the first.
        progress: Option<Vec<u8>>,
    },
    /// Delivered; `report` is what the delivering node recorded at the end.
    Finished {
        /// When it finished.
        at: Timestamp,
        /// The final report, opaque to the journal.
        report: Vec<u8>,
    },
}

/// One journaled publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// The publish as accepted.
    pub entry: JournalEntry,
    /// Where it stands.
    pub state: JournalState,
}

/// Keeps accepted publishes, their progress and their final reports, and leases each
/// unfinished publish to one node at a time.
///
/// A journal for a store lives in the same database, so one backup holds both. The progress
/// and report bytes are the engine's; the journal keeps them as they are.
///
/// # Contract
///
/// Every rule is one function of `beams_core::testing` (feature `testing`), and
/// `beams_core::publish_journal_conformance!` turns them into one named test each.
///
/// - `an_accepted_publish_reads_back_unfinished_and_leased`: [`accept`](Self::accept) stores
///   the entry unfinished, leased as given, with no progress; [`record`](Self::record) reads
///   it back equal.
/// - `an_unknown_publish_reads_as_none`: `record` gives `None`; `checkpoint`, `renew` and
///   `finish` answer `false` and create nothing.
/// - `accepting_an_id_twice_is_refused`: fails with `Precondition`, the first kept.
/// - `accepting_past_the_bound_is_refused`: with `max_unfinished` unfinished publishes,
///   answers `Full` with their number and stores nothing; finished publishes do not count.
///   The bound is backpressure: a journal shared by several nodes may let accepts running at
///   the same moment each take the last place (its docs say by how many), rather than make
///   every accept wait for the one before it to commit.
/// - `a_checkpoint_keeps_progress_and_renews_the_lease`: by the lease's owner, replaces the
///   progress and the lease's end.
/// - `only_the_owner_checkpoints_renews_or_finishes`: another owner gets `false`, nothing
///   changes.
/// - `a_finished_publish_keeps_its_report`: `finish` by the owner records the report and
///   time; it no longer counts as unfinished, cannot be claimed, checkpointed or renewed.
/// - `claims_take_lapsed_leases_oldest_first`: [`claim`](Self::claim) takes an unfinished
///   publish whose lease ended at or before `now` — oldest accepted first — and leases it to
///   the claimer; a live lease of another owner is not taken; none left gives `None`.
/// - `a_node_takes_its_own_publishes_back`: with `node` given, an unfinished publish leased
///   to `node` or to `node/…` is claimable whatever its lease's end (a node restarting
///   resumes at once) unless the claimer holds it already; one leased to another owner that
///   merely starts with the same letters is not; without `node`, only lapsed leases are
///   taken.
/// - `concurrent_claims_take_each_publish_once`: many claimers at once (as many nodes) take
///   every lapsed publish exactly once between them.
/// - `unfinished_counts_what_is_not_finished`.
/// - `forgetting_removes_reports_finished_before_a_time`: [`forget_finished`](Self::forget_finished)
///   deletes finished publishes finished before the time, and nothing unfinished.
#[async_trait]
pub trait PublishJournal: Send + Sync + fmt::Debug {
    /// Journals `entry`, leased to `lease`, unless `max_unfinished` publishes are already
    /// unfinished. An id already journaled is a broken precondition.
    async fn accept(
        &self,
        entry: &JournalEntry,
        lease: &Lease,
        max_unfinished: usize,
    ) -> Result<Acceptance, StoreError>;

    /// Records `progress` for the publish and extends its lease to `lease.until`, if it is
    /// unfinished and leased to `lease.owner`; answers whether it was.
    async fn checkpoint(
        &self,
        id: &PublishId,
        lease: &Lease,
        progress: &[u8],
    ) -> Result<bool, StoreError>;

    /// Extends the lease to `lease.until`, if the publish is unfinished and leased to
    /// `lease.owner`; answers whether it was.
    async fn renew(&self, id: &PublishId, lease: &Lease) -> Result<bool, StoreError>;

    /// Marks the publish finished at `at` with `report`, if it is unfinished and leased to
    /// `owner`; answers whether it was.
    async fn finish(
        &self,
        id: &PublishId,
        owner: &str,
        report: &[u8],
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Takes one unfinished publish for `lease.owner` — the oldest accepted whose lease ended
    /// at or before `now`, or, when `node` is given, that is leased to `node` or to an owner
    /// `node/…` but not to `lease.owner` or `lease.owner/…` (a node taking back what it held
    /// before a restart; see [`Lease::is_claimable`]) — and leases it to `lease`. `None`:
    /// there is none.
    async fn claim(
        &self,
        lease: &Lease,
        now: Timestamp,
        node: Option<&str>,
    ) -> Result<Option<JournalRecord>, StoreError>;

    /// The publish with this id.
    async fn record(&self, id: &PublishId) -> Result<Option<JournalRecord>, StoreError>;

    /// How many publishes are unfinished.
    async fn unfinished(&self) -> Result<usize, StoreError>;

    /// Deletes the publishes that finished before `before`; answers how many.
    async fn forget_finished(&self, before: Timestamp) -> Result<usize, StoreError>;
}
