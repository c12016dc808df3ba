//! Accepting publishes into the journal, and resuming the ones a node left unfinished.

use std::time::Duration;

use super::progress::{Counts, Progress};
use super::publication::Publication;
use crate::{
    Acceptance, Beams, BeamsError, JournalEntry, JournalState, Lease, PublishId, PublishJournal,
    PublishRequest, PublishTargetKind, Timestamp,
};

/// How an engine journals its publishes.
///
/// ```
/// use std::time::Duration;
/// use beams_core::JournalConfig;
///
/// let config = JournalConfig::new("node-1")
///     .with_lease(Duration::from_secs(20))
///     .with_max_unfinished(500);
/// assert_eq!(config.owner(), "node-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    owner: String,
    /// This run's leases are held as `owner/boot`: a restart is a new boot, so it can tell
    /// the publishes it held before (claimable at once) from the ones it holds now.
    boot: String,
    lease: Duration,
    max_unfinished: usize,
    retry_after: Duration,
}

impl Default for JournalConfig {
    /// A node id of its own (random), a 30-second lease, at most 10,000 unfinished
    /// publishes, and 10 seconds' wait suggested when there are that many.
    fn default() -> Self {
        JournalConfig {
            owner: format!("node-{}", uuid::Uuid::new_v4().simple()),
            boot: uuid::Uuid::new_v4().simple().to_string(),
            lease: Duration::from_secs(30),
            max_unfinished: 10_000,
            retry_after: Duration::from_secs(10),
        }
    }
}

impl JournalConfig {
    /// The defaults, for the node `owner`: give each node an id that stays the same across
    /// its restarts, so a node that comes back resumes its own publishes at once rather than
    /// after their leases lapse.
    pub fn new(owner: impl Into<String>) -> Self {
        JournalConfig {
            owner: owner.into(),
            ..Self::default()
        }
    }

    /// How long a node holds a publish without renewing (default 30 s). A node renews at a
    /// third of it; another node takes a publish over once it lapses.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The most unfinished publishes (default 10,000): past it [`Beams::accept`] answers
    /// [`BeamsError::Busy`].
    pub fn with_max_unfinished(mut self, max: usize) -> Self {
        self.max_unfinished = max;
        self
    }

    /// The wait [`BeamsError::Busy`] suggests (default 10 s).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// This node's id in the journal.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The owner this run holds its leases as: `owner/boot`.
    pub(crate) fn lease_owner(&self) -> String {
        format!("{}/{}", self.owner, self.boot)
    }

    /// The lease's length.
    pub fn lease(&self) -> Duration {
        self.lease
    }
}

impl Beams {
    /// Validates a publish body of `kind`, builds its payloads, and journals it before
    /// answering: once this returns, the publish is delivered even if this process dies
    /// (when the journal is a store's; see [`BeamsBuilder::journal`](crate::BeamsBuilder::journal)).
    /// Deliver it with [`Publication::deliver`]. Fails with [`BeamsError::Busy`] when the
    /// journal holds as many unfinished publishes as allowed, with nothing written.
    pub async fn accept(
        &self,
        kind: PublishTargetKind,
        body: &[u8],
    ) -> Result<Publication, BeamsError> {
        let request = PublishRequest::parse(kind, body)?;
        let mut publication = self.publication(request)?;
        let fanout = &self.fanout;
        let entry = JournalEntry {
            id: publication.id().clone(),
            kind,
            body: body.to_vec(),
            accepted_at: self.clock.now(),
        };
        let config = &fanout.journal_config;
        let lease = self.lease();
        match fanout
            .journal
            .accept(&entry, &lease, config.max_unfinished)
            .await?
        {
            Acceptance::Accepted => {}
            Acceptance::Full { unfinished } => {
                return Err(BeamsError::Busy {
                    unfinished,
                    retry_after: config.retry_after,
                });
            }
        }
        publication.journaled = true;
        publication.owner = lease.owner;
        Ok(publication)
    }

    /// Takes back every unfinished publish of this node — those it accepted or resumed before
    /// a restart (its owner id is [`JournalConfig::owner`]) — and any whose node's lease
    /// lapsed that come before them, each ready to [`deliver`](Publication::deliver) from its
    /// last checkpoint. Call it once at start, before this node accepts publishes of its own;
    /// after, use [`take_over_next`](Self::take_over_next).
    ///
    /// Delivery resumes after the last page recorded: the pages in flight when the node
    /// stopped (at most two) are sent again, so a device may receive a notification twice
    /// (at-least-once), never none. Retries that were waiting on a push service's
    /// `Retry-After` wait out the rest of it.
    pub async fn resume_all(&self) -> Result<Vec<Publication>, BeamsError> {
        let config = &self.fanout.journal_config;
        let mut resumed = Vec::new();
        // Each is leased to this run once claimed, so the next claim finds the next one.
        while let Some(publication) = self
            .claim_as(config.lease_owner(), Some(config.owner()))
            .await?
        {
            resumed.push(publication);
        }
        Ok(resumed)
    }

    /// Takes over one unfinished publish whose node's lease lapsed (that node died or
    /// stalled), as [`resume_all`](Self::resume_all) does, but never one this node is
    /// delivering. Call it now and then, about every third of a lease.
    pub async fn take_over_next(&self) -> Result<Option<Publication>, BeamsError> {
        self.claim_as(self.fanout.journal_config.lease_owner(), None)
            .await
    }

    async fn claim_as(
        &self,
        owner: String,
        node: Option<&str>,
    ) -> Result<Option<Publication>, BeamsError> {
        let journal = &self.fanout.journal;
        let lease = lease_from(self.clock.now(), &self.fanout.journal_config, &owner);
        loop {
            let Some(record) = journal.claim(&lease, self.clock.now(), node).await? else {
                return Ok(None);
            };
            let JournalState::Unfinished { progress, .. } = record.state else {
                continue;
            };
            let entry = record.entry;
            let publication = PublishRequest::parse(entry.kind, &entry.body)
                .map_err(BeamsError::from)
                .and_then(|request| {
                    Ok(Publication::new(
                        entry.id.clone(),
                        request,
                        self.fanout.clone(),
                    )?)
                });
            match publication {
                Ok(mut publication) => {
                    publication.journaled = true;
                    publication.owner = owner;
                    publication.resume = progress.as_deref().and_then(Progress::decode);
                    return Ok(Some(publication));
                }
                Err(err) => {
                    // A body this version cannot deliver (a gateway gone, a rule changed):
                    // finish it with the reason, so it is not claimed forever.
                    tracing::warn!(publish_id = %entry.id, error = %err, "a journaled publish can no longer be delivered");
                    let report = serde_json::json!({ "error": err.to_string() }).to_string();
                    journal
                        .finish(&entry.id, &owner, report.as_bytes(), self.clock.now())
                        .await?;
                }
            }
        }
    }

    /// The time on the engine's clock.
    pub fn clock_now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The journal's settings: this node's id, the lease.
    pub fn journal_config(&self) -> &JournalConfig {
        &self.fanout.journal_config
    }

    /// The journal accepted publishes are kept in.
    pub fn journal(&self) -> &dyn PublishJournal {
        &*self.fanout.journal
    }

    /// This node's id in the journal.
    pub fn journal_owner(&self) -> &str {
        self.fanout.journal_config.owner()
    }

    /// The final counts of a finished publish as the journal keeps them (JSON:
    /// `devicesTargeted`, `usersNotLookedUp`, `lookupsFailed`, and per platform `targeted`,
    /// `delivered`, `invalidated`, `deadKept`, `rejected`, `failed`, `skipped`, `retried`).
    pub async fn finished_report(
        &self,
        id: &PublishId,
    ) -> Result<Option<serde_json::Value>, BeamsError> {
        let record = self.fanout.journal.record(id).await?;
        Ok(match record.map(|record| record.state) {
            Some(JournalState::Finished { report, .. }) => serde_json::from_slice(&report).ok(),
            _ => None,
        })
    }

    fn lease(&self) -> Lease {
        let config = &self.fanout.journal_config;
        lease_from(self.clock.now(), config, &config.lease_owner())
    }
}

/// A lease for `owner` from `now`, as long as `config` says.
pub(crate) fn lease_from(now: Timestamp, config: &JournalConfig, owner: &str) -> Lease {
    let length = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    Lease {
        owner: owner.to_owned(),
        until: Timestamp::from_unix_millis(now.as_unix_millis().saturating_add(length)),
    }
}

/// The report a finished publish leaves in the journal.
pub(crate) fn encode_report(report: &crate::PublishReport) -> Vec<u8> {
    serde_json::to_vec(&Counts::of(report)).unwrap_or_default()
}
