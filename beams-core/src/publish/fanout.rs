//! The fan-out: looks the target's devices up page by page, sends each platform's payload
//! through its gateway in batches with bounded concurrency, retries, removes dead tokens, and
//! counts everything.
//!
//! One task drives it all: a set of in-flight futures (one store lookup at a time, gateway
//! calls under a semaphore, delayed retries, removals) whose results come back to a single
//! loop that owns the report and the breakers, so no lock guards the bookkeeping. A retry
//! waits in its own future without holding a send permit; lookups pause while enough batches
//! are queued — retries waiting out their backoff included, which is deliberate backpressure
//! while a push service throttles — so memory follows the deliveries in flight, not the
//! number of devices.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uuid::Uuid;

use super::breaker::{Breaker, Released};
use super::progress::{Counts, Cursor, PendingRetry, Progress, absorb, empty_like};
use super::report::{DeviceReport, DeviceResult, SkipReason};
use crate::{
    Batch, Clock, DeadToken, DeliveryEvent, DeliveryOutcome, Device, DeviceId, DeviceStore,
    Gateways, InstanceId, Interest, Lease, Payload, PerPlatform, Platform, PublishConfig,
    PublishId, PublishJournal, PublishObserver, PublishReport, PublishRequest, PublishTarget,
    Recipient, StoreError, Timestamp, UserId,
};

/// What every publish of an engine fans out with.
#[derive(Debug)]
pub(crate) struct Fanout {
    pub(crate) store: Arc<dyn DeviceStore>,
    pub(crate) gateways: Gateways,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: PublishConfig,
    pub(crate) observer: Option<Arc<dyn PublishObserver>>,
    pub(crate) instance: InstanceId,
    pub(crate) journal: Arc<dyn PublishJournal>,
    pub(crate) journal_config: crate::JournalConfig,
}

/// What the in-flight futures share: read-only, or atomic.
struct Shared<'a> {
    fanout: &'a Fanout,
    permits: Semaphore,
    /// Set when a platform's gateway reports a credential/config failure: stop sending there.
    config_failed: PerPlatform<AtomicBool>,
    /// Where progress goes, for a journaled publish.
    checkpoints: Option<Checkpoints<'a>>,
}

/// A gateway batch on its way, with the user of each recipient.
struct Sending {
    batch: Batch,
    /// The user of each recipient's device, if it has one (publishes to interests reach
    /// devices without users too).
    users: Vec<Option<UserId>>,
    attempt: u32,
    /// The page whose lookup found these recipients.
    page: u64,
    /// For a retry, its key among the retries waiting.
    retry: Option<u64>,
}

impl Sending {
    fn platform(&self) -> Platform {
        self.batch.platform()
    }

    /// An empty batch of the same payload, for the recipients to send again.
    fn next_attempt(&self) -> Sending {
        Sending {
            batch: Batch::new(Arc::clone(&self.batch.payload)),
            users: Vec::new(),
            attempt: self.attempt + 1,
            page: self.page,
            retry: None,
        }
    }

    fn push(&mut self, recipient: Recipient, user: Option<UserId>) {
        self.batch.recipients.push(recipient);
        self.users.push(user);
    }

    fn len(&self) -> usize {
        self.batch.recipients.len()
    }
}

/// A dead token waiting for the breaker's word.
struct Removal {
    dead: DeadToken,
    device: DeviceId,
    platform: Platform,
    page: u64,
}

enum Done {
    /// A page's devices, how many users it covered, its number and where the next starts.
    LookedUp {
        devices: Result<Vec<Device>, StoreError>,
        users: usize,
        page: u64,
    },
    /// `outcomes` is `None` when the batch was not sent: its platform's credential had failed.
    Sent {
        sending: Sending,
        outcomes: Option<Vec<DeliveryOutcome>>,
        sent_at: Timestamp,
    },
    /// Whether the device was removed (`false`: registered again since the verdict).
    Removed(Box<Removal>, Result<bool, StoreError>),
    /// Whether the journal took a checkpoint or a lease renewal (`false`: another node holds
    /// the publish now).
    Journaled(Result<bool, StoreError>),
    /// Time to renew the lease.
    RenewDue,
}

type Work<'f> = Pin<Box<dyn Future<Output = Done> + Send + 'f>>;

/// Where a publish starts: from the beginning, or where a journal's progress left it.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    pub(crate) progress: Option<Progress>,
}

/// Where a journaled publish records its progress and renews its lease.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkpoints<'j> {
    pub(crate) journal: &'j dyn PublishJournal,
    pub(crate) owner: &'j str,
    pub(crate) lease: Duration,
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) report: PublishReport,
    /// Another node took the publish over (its lease lapsed): it will finish it.
    pub(crate) lease_lost: bool,
}

/// At most this many pages are unfinished at once: the one sending and the one looked up
/// ahead. A crash sends these again, no more.
const PAGES_IN_FLIGHT: usize = 2;

impl Fanout {
    /// Delivers `request` as publish `publish_id` and reports what happened.
    pub(crate) async fn run(
        &self,
        publish_id: PublishId,
        request: &PublishRequest,
        mut payloads: PerPlatform<Option<Arc<Payload>>>,
        resume: Resume,
        checkpoints: Option<Checkpoints<'_>>,
    ) -> Ended {
        let shared = Shared {
            fanout: self,
            permits: Semaphore::new(self.config.max_in_flight.get()),
            config_failed: PerPlatform::default(),
            checkpoints,
        };
        let report = PublishReport::new(publish_id.clone(), request.target());
        let mut run = Run {
            shared: &shared,
            committed: report,
            pages: BTreeMap::new(),
            next_page: 0,
            waiting: BTreeMap::new(),
            next_retry: 0,
            payloads: PerPlatform::default(),
            breakers: PerPlatform::from_fn(|_| Breaker::new(self.config.breaker)),
            work: FuturesUnordered::new(),
            busy: 0,
            queued_batches: 0,
            deadline: Instant::now().checked_add(self.config.deadline),
            cursor: Cursor::start(request.target()),
            journaling: false,
            checkpoint_due: false,
            all_looked_up: false,
            lease_lost: false,
        };
        for platform in Platform::ALL {
            run.prepare(platform, payloads[platform].take());
        }

        let mut lookups = Lookups::new(request.target(), self.config.lookup_batch.get());
        if let Some(progress) = resume.progress {
            progress.counts.add_to(&mut run.committed);
            lookups.resume(&progress.cursor, progress.next_page);
            run.next_page = progress.next_page;
            run.cursor = progress.cursor;
            run.resume_retries(progress.retries).await;
        }
        if let Some(journal) = checkpoints {
            run.push_timer(shared.renew_later(journal.lease / 3));
        }

        let max_queued = self.config.max_in_flight.get() * 2;
        let mut looking_up = false;
        let mut finishing = false;
        loop {
            if run.lease_lost {
                break;
            }
            if !looking_up
                && run.queued_batches < max_queued
                && run.pages.len() < PAGES_IN_FLIGHT
                && let Some((page, lookup)) = lookups.next(&shared)
            {
                run.pages.insert(page, Page::new(&run.committed));
                run.next_page = page.saturating_add(1);
                run.push(lookup);
                looking_up = true;
            }
            if run.busy == 0 {
                if finishing {
                    break;
                }
                // Everything is sent: the breakers release what they still hold.
                finishing = true;
                for platform in Platform::ALL {
                    let released = run.breakers[platform].finish();
                    run.release(released);
                }
                continue;
            }
            let Some(done) = run.work.next().await else {
                continue;
            };
            match done {
                Done::LookedUp {
                    devices,
                    users,
                    page,
                } => {
                    run.busy -= 1;
                    looking_up = false;
                    lookups.advance(&devices);
                    run.all_looked_up = lookups.exhausted();
                    let after = lookups.cursor();
                    run.looked_up(devices, users, page, after);
                }
                Done::Sent {
                    sending,
                    outcomes,
                    sent_at,
                } => {
                    run.busy -= 1;
                    run.queued_batches -= 1;
                    run.sent(sending, outcomes, sent_at);
                }
                Done::Removed(removal, result) => {
                    run.busy -= 1;
                    run.removed(&removal, result);
                }
                Done::Journaled(result) => run.journaled(result),
                Done::RenewDue => run.renew_due(),
            }
            run.complete_pages();
        }

        let mut report = run.committed;
        for (_, page) in std::mem::take(&mut run.pages) {
            absorb(&mut report, page.tally);
        }
        for platform in Platform::ALL {
            report.platform_mut(platform).breaker_tripped = run.breakers[platform].tripped();
        }
        if !run.lease_lost
            && let Some(observer) = &self.observer
        {
            observer.finished(&report);
        }
        Ended {
            report,
            lease_lost: run.lease_lost,
        }
    }
}

impl Cursor {
    fn start(target: &PublishTarget) -> Self {
        match target {
            PublishTarget::Users(_) => Cursor::Users { next: 0 },
            PublishTarget::Interests(_) => Cursor::Interests { after: None },
        }
    }
}

/// Where the next store lookup starts: the next chunk of users, or the next page of the
/// interests' devices (in device-id order, after the last one seen).
enum Lookups<'r> {
    Users {
        users: &'r [UserId],
        next: usize,
        batch: usize,
        page: u64,
    },
    Interests {
        interests: &'r [Interest],
        page_size: usize,
        after: Option<DeviceId>,
        done: bool,
        page: u64,
    },
}

impl<'r> Lookups<'r> {
    fn new(target: &'r PublishTarget, batch: usize) -> Self {
        match target {
            PublishTarget::Users(users) => Lookups::Users {
                users,
                next: 0,
                batch,
                page: 0,
            },
            PublishTarget::Interests(interests) => Lookups::Interests {
                interests,
                // Interest pages count devices, not users: a page is a few users' worth.
                page_size: batch.saturating_mul(10),
                after: None,
                done: false,
                page: 0,
            },
        }
    }

    /// Starts where a checkpoint's cursor says.
    fn resume(&mut self, cursor: &Cursor, next_page: u64) {
        match (self, cursor) {
            (Lookups::Users { next, page, .. }, Cursor::Users { next: from }) => {
                *next = *from;
                *page = next_page;
            }
            (Lookups::Interests { after, page, .. }, resumed @ Cursor::Interests { .. }) => {
                *after = resumed.after();
                *page = next_page;
            }
            // A cursor of the other kind is not this publish's: start over.
            _ => {}
        }
    }

    /// The next lookup and its page number, or `None` when every user or page has been
    /// looked up.
    fn next<'a>(&mut self, shared: &'a Shared<'a>) -> Option<(u64, Work<'a>)>
    where
        'r: 'a,
    {
        match self {
            Lookups::Users {
                users,
                next,
                batch,
                page,
            } => {
                let chunk = users
                    .get(*next..)?
                    .get(..(*batch).min(users.len() - *next))?;
                if chunk.is_empty() {
                    return None;
                }
                *next += chunk.len();
                let this = *page;
                *page = this.saturating_add(1);
                Some((this, shared.look_up_users(chunk, this)))
            }
            Lookups::Interests { done: true, .. } => None,
            Lookups::Interests {
                interests,
                page_size,
                after,
                page,
                ..
            } => {
                let this = *page;
                *page = this.saturating_add(1);
                Some((
                    this,
                    shared.look_up_interests(interests, after.clone(), *page_size, this),
                ))
            }
        }
    }

    /// Whether every user or page has been looked up (or asked for).
    fn exhausted(&self) -> bool {
        match self {
            Lookups::Users { users, next, .. } => *next >= users.len(),
            Lookups::Interests { done, .. } => *done,
        }
    }

    /// Notes what a lookup returned, so the next page starts after it.
    fn advance(&mut self, devices: &Result<Vec<Device>, StoreError>) {
        if let Lookups::Interests { after, done, .. } = self {
            // Only an empty page ends the paging: a store may hand back a short page when
            // devices were deleted while it read, with more subscribers after it. A failed
            // lookup cannot tell where to go on from.
            match devices.as_ref().ok().and_then(|d| d.last()) {
                Some(last) => *after = Some(last.id.clone()),
                None => *done = true,
            }
        }
    }

    /// Where a resumed publish would start now.
    fn cursor(&self) -> Cursor {
        match self {
            Lookups::Users { next, .. } => Cursor::Users { next: *next },
            Lookups::Interests { after, .. } => Cursor::Interests {
                after: after.as_ref().map(|id| id.as_str().to_owned()),
            },
        }
    }
}

impl<'a> Shared<'a> {
    fn look_up_users(&'a self, users: &'a [UserId], page: u64) -> Work<'a> {
        Box::pin(async move {
            let devices = self.fanout.store.devices_of_users(users).await;
            Done::LookedUp {
                devices,
                users: users.len(),
                page,
            }
        })
    }

    fn look_up_interests(
        &'a self,
        interests: &'a [Interest],
        after: Option<DeviceId>,
        page_size: usize,
        page: u64,
    ) -> Work<'a> {
        Box::pin(async move {
            let devices = self
                .fanout
                .store
                .subscribers_page(interests, after.as_ref(), page_size)
                .await;
            Done::LookedUp {
                devices,
                users: 0,
                page,
            }
        })
    }

    /// The lease a journal write asks for: from now, for the lease's length.
    fn lease(&self, checkpoints: &Checkpoints<'_>) -> Lease {
        let now = self.fanout.clock.now().as_unix_millis();
        let length = i64::try_from(checkpoints.lease.as_millis()).unwrap_or(i64::MAX);
        Lease {
            owner: checkpoints.owner.to_owned(),
            until: Timestamp::from_unix_millis(now.saturating_add(length)),
        }
    }

    /// Records `progress` in the journal, renewing the lease.
    fn checkpoint(&'a self, publish_id: PublishId, progress: Vec<u8>) -> Work<'a> {
        Box::pin(async move {
            let Some(checkpoints) = &self.checkpoints else {
                return Done::Journaled(Ok(true));
            };
            let lease = self.lease(checkpoints);
            let result = checkpoints
                .journal
                .checkpoint(&publish_id, &lease, &progress)
                .await;
            Done::Journaled(result)
        })
    }

    /// Renews the lease after `wait`, so a publish whose pages take long (or whose retries wait
    /// long) keeps it between checkpoints.
    fn renew_later(&'a self, wait: Duration) -> Work<'a> {
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            Done::RenewDue
        })
    }

    /// Extends the lease in the journal.
    fn renew(&'a self, publish_id: PublishId) -> Work<'a> {
        Box::pin(async move {
            let Some(checkpoints) = &self.checkpoints else {
                return Done::Journaled(Ok(true));
            };
            let lease = self.lease(checkpoints);
            Done::Journaled(checkpoints.journal.renew(&publish_id, &lease).await)
        })
    }

    /// Sends `sending`, after `not_before` when it is a retry, holding a permit only while
    /// the gateway works.
    fn send(&'a self, sending: Sending, not_before: Option<Instant>) -> Work<'a> {
        Box::pin(async move {
            if let Some(at) = not_before {
                tokio::time::sleep_until(at).await;
            }
            let _permit = self.permits.acquire().await.ok();
            let sent_at = self.fanout.clock.now();
            let platform = sending.platform();
            let outcomes = match self.fanout.gateways.get(platform) {
                Some(gateway) if !self.config_failed[platform].load(Ordering::Acquire) => {
                    Some(gateway.send(&sending.batch).await)
                }
                _ => None,
            };
            Done::Sent {
                sending,
                outcomes,
                sent_at,
            }
        })
    }

    fn remove(&'a self, removal: Removal) -> Work<'a> {
        Box::pin(async move {
            let cutoff = removal.dead.cutoff();
            let result = self
                .fanout
                .store
                .remove_device_by_token(&removal.dead.token, cutoff)
                .await
                .map(|removed| removed.is_some());
            Done::Removed(Box::new(removal), result)
        })
    }
}

/// A page not finished yet: what it has counted so far, and what it still waits for.
struct Page {
    /// Counts and device results of this page alone, added to the publish's when it is done.
    tally: PublishReport,
    /// Whether its lookup has come back.
    looked_up: bool,
    /// Its first sends still unanswered (retries do not hold a page back: they are part of
    /// the checkpoint).
    sending: usize,
    /// Where the next page starts; known once its lookup came back.
    after: Option<Cursor>,
}

impl Page {
    fn new(like: &PublishReport) -> Self {
        Page {
            tally: empty_like(like),
            looked_up: false,
            sending: 0,
            after: None,
        }
    }

    fn done(&self) -> bool {
        self.looked_up && self.sending == 0
    }
}

/// A retry waiting for its time, as a checkpoint records it.
struct Waiting {
    page: u64,
    pending: PendingRetry,
}

/// The driving loop's state for one publish.
struct Run<'s, 'a> {
    shared: &'s Shared<'a>,
    /// The counts of every finished page (and what finished pages' retries and removals
    /// added since): what a checkpoint records.
    committed: PublishReport,
    /// Unfinished pages, by number.
    pages: BTreeMap<u64, Page>,
    /// The number the next page looked up takes.
    next_page: u64,
    /// Retries scheduled and not yet answered, by key.
    waiting: BTreeMap<u64, Waiting>,
    next_retry: u64,
    payloads: PerPlatform<Option<Arc<Payload>>>,
    breakers: PerPlatform<Breaker<Removal>>,
    work: FuturesUnordered<Work<'s>>,
    /// Work in `work` other than journal writes and timers: the publish is done when it is 0.
    busy: usize,
    queued_batches: usize,
    /// When retries must stop; `None` when the configured deadline is beyond reach.
    deadline: Option<Instant>,
    /// Where a resumed publish starts: past every finished page.
    cursor: Cursor,
    /// A journal write is in flight (one at a time, in order).
    journaling: bool,
    /// A page finished since the last checkpoint was sent.
    checkpoint_due: bool,
    /// Every page has been looked up: when the last one finishes, the publish's finish
    /// records it, and a checkpoint would be a write for nothing.
    all_looked_up: bool,
    /// Another node holds the publish now: stop.
    lease_lost: bool,
}

impl<'s, 'a: 's> Run<'s, 'a> {
    fn config(&self) -> &'a PublishConfig {
        &self.shared.fanout.config
    }

    fn push(&mut self, work: Work<'s>) {
        self.busy += 1;
        self.work.push(work);
    }

    fn push_timer(&mut self, work: Work<'s>) {
        self.work.push(work);
    }

    /// The report a result of `page` counts in: the page's own while it is unfinished, the
    /// publish's once it is.
    fn tally(&mut self, page: u64) -> &mut PublishReport {
        match self.pages.get_mut(&page) {
            Some(open) => &mut open.tally,
            None => &mut self.committed,
        }
    }

    /// Takes the platform's payload for the whole publish, or records why it is skipped.
    fn prepare(&mut self, platform: Platform, payload: Option<Arc<Payload>>) {
        let skip = match (payload, self.shared.fanout.gateways.get(platform)) {
            (None, _) => Some(SkipReason::NoSection),
            (Some(_), None) => Some(SkipReason::NoGateway),
            (Some(payload), Some(_)) => {
                self.payloads[platform] = Some(payload);
                None
            }
        };
        self.committed.platform_mut(platform).skip_reason = skip;
    }

    /// Queues the retries a checkpoint recorded, each at its time: their devices are read
    /// again (a device deleted since is dropped; one whose token changed gets the new one).
    async fn resume_retries(&mut self, retries: Vec<PendingRetry>) {
        let now = self.shared.fanout.clock.now().as_unix_millis();
        for pending in retries {
            let Some(payload) = self.payloads[pending.platform].clone() else {
                continue;
            };
            let mut sending = Sending {
                batch: Batch::new(payload),
                users: Vec::new(),
                attempt: pending.attempt,
                page: u64::MAX,
                retry: None,
            };
            for (id, user) in &pending.devices {
                let Ok(id) = DeviceId::parse(id) else {
                    continue;
                };
                match self.shared.fanout.store.device(&id).await {
                    Ok(Some(device)) => sending.push(
                        Recipient {
                            device: device.id,
                            token: device.token,
                        },
                        user.clone(),
                    ),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, device = %id, "a retry's device could not be read; it gets nothing");
                        self.fail(
                            &id,
                            pending.platform,
                            u64::MAX,
                            "its device could not be read on resume",
                        );
                    }
                }
            }
            if sending.len() == 0 {
                continue;
            }
            let wait = u64::try_from(pending.not_before.saturating_sub(now)).unwrap_or(0);
            let at = Instant::now().checked_add(Duration::from_millis(wait));
            self.queue_retry(sending, at.unwrap_or_else(Instant::now));
        }
    }

    fn looked_up(
        &mut self,
        devices: Result<Vec<Device>, StoreError>,
        users: usize,
        page: u64,
        after: Cursor,
    ) {
        if let Some(open) = self.pages.get_mut(&page) {
            open.looked_up = true;
            open.after = Some(after);
        }
        let devices = match devices {
            Ok(devices) => devices,
            Err(err) => {
                tracing::warn!(error = %err, users, "device lookup failed; these users get nothing");
                let tally = self.tally(page);
                tally.users_not_looked_up += users;
                tally.lookups_failed += 1;
                return;
            }
        };
        self.tally(page).devices_targeted += devices.len();
        let batch_size = self.config().delivery_batch.get();
        let mut open: PerPlatform<Option<Sending>> = PerPlatform::default();
        for device in devices {
            let platform = device.platform();
            self.tally(page).platform_mut(platform).targeted += 1;
            let Some(payload) = &self.payloads[platform] else {
                self.tally(page).platform_mut(platform).skipped += 1;
                self.device_result(&device.id, platform, page, DeviceResult::Skipped);
                continue;
            };
            // The device is ours: move its id, token and user into the batch, no copies.
            let Device {
                id, token, user, ..
            } = device;
            let sending = open[platform].get_or_insert_with(|| Sending {
                batch: Batch {
                    payload: Arc::clone(payload),
                    recipients: Vec::with_capacity(batch_size),
                },
                users: Vec::with_capacity(batch_size),
                attempt: 1,
                page,
                retry: None,
            });
            sending.push(Recipient { device: id, token }, user);
            if sending.len() == batch_size
                && let Some(full) = open[platform].take()
            {
                self.queue(full, None);
            }
        }
        for platform in Platform::ALL {
            if let Some(sending) = open[platform].take() {
                self.queue(sending, None);
            }
        }
    }

    fn queue(&mut self, sending: Sending, not_before: Option<Instant>) {
        if sending.attempt == 1
            && let Some(open) = self.pages.get_mut(&sending.page)
        {
            open.sending += 1;
        }
        self.queued_batches += 1;
        let work = self.shared.send(sending, not_before);
        self.push(work);
    }

    /// Queues a retry and records it as waiting, so a checkpoint carries it.
    fn queue_retry(&mut self, mut sending: Sending, at: Instant) {
        let key = self.next_retry;
        self.next_retry += 1;
        let wait = at.saturating_duration_since(Instant::now());
        let due = self
            .shared
            .fanout
            .clock
            .now()
            .as_unix_millis()
            .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        let pending = PendingRetry {
            platform: sending.platform(),
            devices: sending
                .batch
                .recipients
                .iter()
                .zip(&sending.users)
                .map(|(recipient, user)| (recipient.device.as_str().to_owned(), user.clone()))
                .collect(),
            attempt: sending.attempt,
            not_before: due,
        };
        self.waiting.insert(
            key,
            Waiting {
                page: sending.page,
                pending,
            },
        );
        sending.retry = Some(key);
        self.queue(sending, Some(at));
    }

    /// Takes a gateway's answers to a batch: each outcome is counted and acted on, and the
    /// recipients to try again go out as one batch after the longest wait asked for.
    fn sent(
        &mut self,
        sending: Sending,
        outcomes: Option<Vec<DeliveryOutcome>>,
        sent_at: Timestamp,
    ) {
        let platform = sending.platform();
        let page = sending.page;
        if sending.attempt == 1
            && let Some(open) = self.pages.get_mut(&page)
        {
            open.sending -= 1;
        }
        if let Some(key) = sending.retry {
            self.waiting.remove(&key);
        }
        let Some(outcomes) = outcomes else {
            let reason =
                format!("{platform} credential or configuration failed during this publish");
            for recipient in &sending.batch.recipients {
                self.fail(&recipient.device, platform, page, &reason);
            }
            return;
        };
        let outcomes = one_per_recipient(outcomes, sending.len(), platform);
        let mut retry = sending.next_attempt();
        let mut retry_after = None;
        let Sending {
            batch,
            users,
            attempt,
            ..
        } = sending;
        for ((recipient, user), outcome) in batch.recipients.into_iter().zip(users).zip(outcomes) {
            self.observe(&recipient, platform, &user, attempt, &outcome);
            match outcome {
                DeliveryOutcome::Delivered => self.delivered(&recipient.device, platform, page),
                DeliveryOutcome::Rejected { reason } => {
                    self.rejected(&recipient.device, platform, page, reason);
                }
                DeliveryOutcome::TokenDead { dead_since, .. } => {
                    self.token_dead(recipient, platform, page, sent_at, dead_since);
                }
                DeliveryOutcome::ConfigFailure { reason } => {
                    self.config_failed(&recipient.device, platform, page, &reason);
                }
                DeliveryOutcome::RetryLater {
                    retry_after: after, ..
                } => {
                    retry_after = retry_after.max(after);
                    retry.push(recipient, user);
                }
            }
        }
        if !retry.batch.recipients.is_empty() {
            self.schedule_retry(retry, retry_after);
        }
    }

    fn delivered(&mut self, device: &DeviceId, platform: Platform, page: u64) {
        self.tally(page).platform_mut(platform).delivered += 1;
        self.device_result(device, platform, page, DeviceResult::Delivered);
        self.judge(platform, None);
    }

    fn rejected(&mut self, device: &DeviceId, platform: Platform, page: u64, reason: String) {
        self.tally(page).platform_mut(platform).rejected += 1;
        self.device_result(device, platform, page, DeviceResult::Rejected(reason));
        self.judge(platform, None);
    }

    /// Hands the removal to the breaker, which decides whether and when it happens.
    fn token_dead(
        &mut self,
        recipient: Recipient,
        platform: Platform,
        page: u64,
        sent_at: Timestamp,
        dead_since: Option<Timestamp>,
    ) {
        let removal = Removal {
            dead: DeadToken {
                token: recipient.token,
                sent_at,
                dead_since,
            },
            device: recipient.device,
            platform,
            page,
        };
        self.judge(platform, Some(removal));
    }

    /// Stops sending on the platform for the rest of the publish.
    fn config_failed(&mut self, device: &DeviceId, platform: Platform, page: u64, reason: &str) {
        self.shared.config_failed[platform].store(true, Ordering::Release);
        self.committed
            .platform_mut(platform)
            .config_failure
            .get_or_insert_with(|| reason.to_owned());
        self.fail(device, platform, page, reason);
    }

    /// One verdict on a token for the platform's breaker (`dead` when the token is dead), and
    /// whatever removals it releases.
    fn judge(&mut self, platform: Platform, dead: Option<Removal>) {
        let released = self.breakers[platform].verdict(dead);
        self.release(released);
    }

    fn schedule_retry(&mut self, retry: Sending, retry_after: Option<std::time::Duration>) {
        let platform = retry.platform();
        let policy = self.config().retry;
        let give_up = |run: &mut Self, retry: Sending, why: &str| {
            for recipient in &retry.batch.recipients {
                run.fail(&recipient.device, platform, retry.page, why);
            }
        };
        if retry.attempt > policy.max_attempts {
            return give_up(self, retry, "retries exhausted");
        }
        let delay = policy.delay(retry.attempt - 1, retry_after, jitter());
        // A push service may ask for any wait at all: one past the deadline, or past what an
        // `Instant` can hold, ends the retries.
        let at = match Instant::now().checked_add(delay) {
            Some(at) if self.deadline.is_none_or(|deadline| at <= deadline) => at,
            _ => {
                return give_up(
                    self,
                    retry,
                    "the publish deadline passed before a retry was due",
                );
            }
        };
        self.tally(retry.page).platform_mut(platform).retried += retry.len();
        tracing::debug!(%platform, deliveries = retry.len(), ?delay, attempt = retry.attempt, "retrying");
        self.queue_retry(retry, at);
    }

    fn release(&mut self, released: Released<Removal>) {
        for kept in released.keep {
            self.dead_kept(&kept.device, kept.platform, kept.page);
        }
        for removal in released.remove {
            let work = self.shared.remove(removal);
            self.push(work);
        }
    }

    fn removed(&mut self, removal: &Removal, result: Result<bool, StoreError>) {
        let (platform, page) = (removal.platform, removal.page);
        match result {
            Ok(true) => {
                self.tally(page).platform_mut(platform).invalidated += 1;
                self.device_result(&removal.device, platform, page, DeviceResult::Invalidated);
            }
            // Registered again after the send: the verdict is stale.
            Ok(false) => self.dead_kept(&removal.device, platform, page),
            Err(err) => {
                tracing::warn!(error = %err, device = %removal.device, "could not remove a dead token's device");
                self.dead_kept(&removal.device, platform, page);
            }
        }
    }

    fn dead_kept(&mut self, device: &DeviceId, platform: Platform, page: u64) {
        self.tally(page).platform_mut(platform).dead_kept += 1;
        self.device_result(device, platform, page, DeviceResult::DeadKept);
    }

    fn fail(&mut self, device: &DeviceId, platform: Platform, page: u64, why: &str) {
        self.tally(page).platform_mut(platform).failed += 1;
        self.device_result(device, platform, page, DeviceResult::Failed(why.to_owned()));
    }

    fn device_result(
        &mut self,
        device: &DeviceId,
        platform: Platform,
        page: u64,
        result: DeviceResult,
    ) {
        if self.config().device_reports {
            self.tally(page).devices.push(DeviceReport {
                device: device.clone(),
                platform,
                result,
            });
        }
    }

    /// Folds every finished page, in order, into the publish's counts and moves the cursor
    /// past it; a checkpoint follows when one is due and none is being written.
    fn complete_pages(&mut self) {
        while let Some(entry) = self.pages.first_entry() {
            if !entry.get().done() {
                break;
            }
            let page = entry.remove();
            absorb(&mut self.committed, page.tally);
            if let Some(after) = page.after {
                self.cursor = after;
            }
            self.checkpoint_due = true;
        }
        let finishing = self.all_looked_up && self.pages.is_empty() && self.waiting.is_empty();
        if self.checkpoint_due
            && !finishing
            && !self.journaling
            && self.shared.checkpoints.is_some()
        {
            let progress = self.progress().encode();
            self.checkpoint_due = false;
            self.journaling = true;
            let work = self
                .shared
                .checkpoint(self.committed.publish_id.clone(), progress);
            self.push_timer(work);
        }
    }

    /// The progress a checkpoint records now: the cursor past the finished pages, their
    /// counts, and the retries of finished pages still waiting.
    fn progress(&self) -> Progress {
        let next_page = self.pages.keys().next().copied().unwrap_or(self.next_page);
        let retries = self
            .waiting
            .values()
            .filter(|waiting| !self.pages.contains_key(&waiting.page))
            .map(|waiting| waiting.pending.clone())
            .collect();
        Progress::new(
            self.cursor.clone(),
            next_page,
            Counts::of(&self.committed),
            retries,
        )
    }

    fn journaled(&mut self, result: Result<bool, StoreError>) {
        self.journaling = false;
        match result {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(publish_id = %self.committed.publish_id, "another node took this publish over; stopping");
                self.lease_lost = true;
            }
            Err(err) => {
                tracing::warn!(error = %err, publish_id = %self.committed.publish_id, "could not record the publish's progress");
            }
        }
    }

    /// Renews the lease (unless a write is in flight, which renews it too) and arms the
    /// next renewal.
    fn renew_due(&mut self) {
        let Some(checkpoints) = self.shared.checkpoints else {
            return;
        };
        if !self.journaling {
            self.journaling = true;
            let work = self.shared.renew(self.committed.publish_id.clone());
            self.push_timer(work);
        }
        let work = self.shared.renew_later(checkpoints.lease / 3);
        self.push_timer(work);
    }

    fn observe(
        &self,
        recipient: &Recipient,
        platform: Platform,
        user: &Option<UserId>,
        attempt: u32,
        outcome: &DeliveryOutcome,
    ) {
        if let Some(observer) = &self.shared.fanout.observer {
            observer.delivery(&DeliveryEvent {
                publish_id: &self.committed.publish_id,
                user: user.as_ref(),
                device: &recipient.device,
                platform,
                attempt,
                outcome,
            });
        }
    }
}

/// The gateway's outcomes, one per recipient as its contract says; a gateway that breaks it
/// is logged, and a recipient it gave no answer for is `Rejected`.
fn one_per_recipient(
    mut outcomes: Vec<DeliveryOutcome>,
    recipients: usize,
    platform: Platform,
) -> Vec<DeliveryOutcome> {
    if outcomes.len() != recipients {
        tracing::error!(
            %platform,
            recipients,
            outcomes = outcomes.len(),
            "gateway broke its contract: one outcome per recipient"
        );
        outcomes.resize(
            recipients,
            DeliveryOutcome::Rejected {
                reason: "the gateway gave no answer for this delivery".into(),
            },
        );
    }
    outcomes
}

/// A random number in `[0, 1)` for backoff jitter; needs no quality beyond spreading retries.
fn jitter() -> f64 {
    (Uuid::new_v4().as_u128() >> 75) as f64 / (1_u64 << 53) as f64
}
