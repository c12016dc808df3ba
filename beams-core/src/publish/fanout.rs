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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uuid::Uuid;

use super::breaker::{Breaker, Released};
use super::report::{DeviceReport, DeviceResult, SkipReason};
use crate::{
    Batch, Clock, DeadToken, DeliveryEvent, DeliveryOutcome, Device, DeviceId, DeviceStore,
    Gateways, InstanceId, Interest, Payload, PerPlatform, Platform, PublishConfig, PublishId,
    PublishObserver, PublishReport, PublishRequest, PublishTarget, Recipient, StoreError,
    Timestamp, UserId,
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
}

/// What the in-flight futures share: read-only, or atomic.
struct Shared<'a> {
    fanout: &'a Fanout,
    permits: Semaphore,
    /// Set when a platform's gateway reports a credential/config failure: stop sending there.
    config_failed: PerPlatform<AtomicBool>,
}

/// A gateway batch on its way, with the user of each recipient.
struct Sending {
    batch: Batch,
    /// The user of each recipient's device, if it has one (publishes to interests reach
    /// devices without users too).
    users: Vec<Option<UserId>>,
    attempt: u32,
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
}

enum Done {
    LookedUp(Result<Vec<Device>, StoreError>, usize),
    /// `outcomes` is `None` when the batch was not sent: its platform's credential had failed.
    Sent {
        sending: Sending,
        outcomes: Option<Vec<DeliveryOutcome>>,
        sent_at: Timestamp,
    },
    /// Whether the device was removed (`false`: registered again since the verdict).
    Removed(Box<Removal>, Result<bool, StoreError>),
}

type Work<'f> = Pin<Box<dyn Future<Output = Done> + Send + 'f>>;

impl Fanout {
    /// Delivers `request` as publish `publish_id` and reports what happened.
    pub(crate) async fn run(
        &self,
        publish_id: PublishId,
        request: &PublishRequest,
        mut payloads: PerPlatform<Option<Arc<Payload>>>,
    ) -> PublishReport {
        let shared = Shared {
            fanout: self,
            permits: Semaphore::new(self.config.max_in_flight.get()),
            config_failed: PerPlatform::default(),
        };
        let mut run = Run {
            shared: &shared,
            report: PublishReport::new(publish_id.clone(), request.target()),
            payloads: PerPlatform::default(),
            breakers: PerPlatform::from_fn(|_| Breaker::new(self.config.breaker)),
            work: FuturesUnordered::new(),
            queued_batches: 0,
            // A deadline too far to represent is no deadline.
            deadline: Instant::now().checked_add(self.config.deadline),
        };
        for platform in Platform::ALL {
            run.prepare(platform, payloads[platform].take());
        }

        let max_queued = self.config.max_in_flight.get() * 2;
        let mut lookups = Lookups::new(request.target(), self.config.lookup_batch.get());
        let mut looking_up = false;
        let mut finishing = false;
        loop {
            if !looking_up
                && run.queued_batches < max_queued
                && let Some(lookup) = lookups.next(&shared)
            {
                run.work.push(lookup);
                looking_up = true;
            }
            if run.work.is_empty() {
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
                Done::LookedUp(devices, users) => {
                    looking_up = false;
                    lookups.advance(&devices);
                    run.looked_up(devices, users);
                }
                Done::Sent {
                    sending,
                    outcomes,
                    sent_at,
                } => {
                    run.queued_batches -= 1;
                    run.sent(sending, outcomes, sent_at);
                }
                Done::Removed(removal, result) => run.removed(&removal, result),
            }
        }

        let mut report = run.report;
        for platform in Platform::ALL {
            report.platform_mut(platform).breaker_tripped = run.breakers[platform].tripped();
        }
        if let Some(observer) = &self.observer {
            observer.finished(&report);
        }
        report
    }
}

/// Where the next store lookup starts: the next chunk of users, or the next page of the
/// interests' devices (in device-id order, after the last one seen).
enum Lookups<'r> {
    Users(std::slice::Chunks<'r, UserId>),
    Interests {
        interests: &'r [Interest],
        page: usize,
        after: Option<DeviceId>,
        done: bool,
    },
}

impl<'r> Lookups<'r> {
    fn new(target: &'r PublishTarget, batch: usize) -> Self {
        match target {
            PublishTarget::Users(users) => Lookups::Users(users.chunks(batch)),
            PublishTarget::Interests(interests) => Lookups::Interests {
                interests,
                // Interest pages count devices, not users: a page is a few users' worth.
                page: batch.saturating_mul(10),
                after: None,
                done: false,
            },
        }
    }

    /// The next lookup, or `None` when every user or page has been looked up.
    fn next<'a>(&mut self, shared: &'a Shared<'a>) -> Option<Work<'a>>
    where
        'r: 'a,
    {
        match self {
            Lookups::Users(chunks) => chunks.next().map(|users| shared.look_up_users(users)),
            Lookups::Interests { done: true, .. } => None,
            Lookups::Interests {
                interests,
                page,
                after,
                ..
            } => Some(shared.look_up_interests(interests, after.clone(), *page)),
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
}

impl<'a> Shared<'a> {
    fn look_up_users(&'a self, users: &'a [UserId]) -> Work<'a> {
        Box::pin(async move {
            let devices = self.fanout.store.devices_of_users(users).await;
            Done::LookedUp(devices, users.len())
        })
    }

    fn look_up_interests(
        &'a self,
        interests: &'a [Interest],
        after: Option<DeviceId>,
        page: usize,
    ) -> Work<'a> {
        Box::pin(async move {
            let devices = self
                .fanout
                .store
                .subscribers_page(interests, after.as_ref(), page)
                .await;
            Done::LookedUp(devices, 0)
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

/// The driving loop's state for one publish.
struct Run<'s, 'a> {
    shared: &'s Shared<'a>,
    report: PublishReport,
    payloads: PerPlatform<Option<Arc<Payload>>>,
    breakers: PerPlatform<Breaker<Removal>>,
    work: FuturesUnordered<Work<'s>>,
    queued_batches: usize,
    /// When retries must stop; `None` when the configured deadline is beyond reach.
    deadline: Option<Instant>,
}

impl<'s, 'a: 's> Run<'s, 'a> {
    fn config(&self) -> &'a PublishConfig {
        &self.shared.fanout.config
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
        self.report.platform_mut(platform).skip_reason = skip;
    }

    fn looked_up(&mut self, devices: Result<Vec<Device>, StoreError>, users: usize) {
        let devices = match devices {
            Ok(devices) => devices,
            Err(err) => {
                tracing::warn!(error = %err, users, "device lookup failed; these users get nothing");
                self.report.users_not_looked_up += users;
                self.report.lookups_failed += 1;
                return;
            }
        };
        self.report.devices_targeted += devices.len();
        let batch_size = self.config().delivery_batch.get();
        let mut open: PerPlatform<Option<Sending>> = PerPlatform::default();
        for device in devices {
            let platform = device.platform();
            self.report.platform_mut(platform).targeted += 1;
            let Some(payload) = &self.payloads[platform] else {
                self.report.platform_mut(platform).skipped += 1;
                self.device_result(&device.id, platform, DeviceResult::Skipped);
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
        self.queued_batches += 1;
        self.work.push(self.shared.send(sending, not_before));
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
        let Some(outcomes) = outcomes else {
            let reason =
                format!("{platform} credential or configuration failed during this publish");
            for recipient in &sending.batch.recipients {
                self.fail(&recipient.device, platform, &reason);
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
        } = sending;
        for ((recipient, user), outcome) in batch.recipients.into_iter().zip(users).zip(outcomes) {
            self.observe(&recipient, platform, &user, attempt, &outcome);
            match outcome {
                DeliveryOutcome::Delivered => self.delivered(&recipient.device, platform),
                DeliveryOutcome::Rejected { reason } => {
                    self.rejected(&recipient.device, platform, reason);
                }
                DeliveryOutcome::TokenDead { dead_since, .. } => {
                    self.token_dead(recipient, platform, sent_at, dead_since);
                }
                DeliveryOutcome::ConfigFailure { reason } => {
                    self.config_failed(&recipient.device, platform, &reason);
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

    fn delivered(&mut self, device: &DeviceId, platform: Platform) {
        self.report.platform_mut(platform).delivered += 1;
        self.device_result(device, platform, DeviceResult::Delivered);
        self.judge(platform, None);
    }

    fn rejected(&mut self, device: &DeviceId, platform: Platform, reason: String) {
        self.report.platform_mut(platform).rejected += 1;
        self.device_result(device, platform, DeviceResult::Rejected(reason));
        self.judge(platform, None);
    }

    /// Hands the removal to the breaker, which decides whether and when it happens.
    fn token_dead(
        &mut self,
        recipient: Recipient,
        platform: Platform,
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
        };
        self.judge(platform, Some(removal));
    }

    /// Stops sending on the platform for the rest of the publish.
    fn config_failed(&mut self, device: &DeviceId, platform: Platform, reason: &str) {
        self.shared.config_failed[platform].store(true, Ordering::Release);
        let report = self.report.platform_mut(platform);
        report
            .config_failure
            .get_or_insert_with(|| reason.to_owned());
        self.fail(device, platform, reason);
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
                run.fail(&recipient.device, platform, why);
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
        self.report.platform_mut(platform).retried += retry.len();
        tracing::debug!(%platform, deliveries = retry.len(), ?delay, attempt = retry.attempt, "retrying");
        self.queue(retry, Some(at));
    }

    fn release(&mut self, released: Released<Removal>) {
        for kept in released.keep {
            self.dead_kept(&kept.device, kept.platform);
        }
        for removal in released.remove {
            self.work.push(self.shared.remove(removal));
        }
    }

    fn removed(&mut self, removal: &Removal, result: Result<bool, StoreError>) {
        let platform = removal.platform;
        match result {
            Ok(true) => {
                self.report.platform_mut(platform).invalidated += 1;
                self.device_result(&removal.device, platform, DeviceResult::Invalidated);
            }
            // Registered again after the send: the verdict is stale.
            Ok(false) => self.dead_kept(&removal.device, platform),
            Err(err) => {
                tracing::warn!(error = %err, device = %removal.device, "could not remove a dead token's device");
                self.dead_kept(&removal.device, platform);
            }
        }
    }

    fn dead_kept(&mut self, device: &DeviceId, platform: Platform) {
        self.report.platform_mut(platform).dead_kept += 1;
        self.device_result(device, platform, DeviceResult::DeadKept);
    }

    fn fail(&mut self, device: &DeviceId, platform: Platform, why: &str) {
        self.report.platform_mut(platform).failed += 1;
        self.device_result(device, platform, DeviceResult::Failed(why.to_owned()));
    }

    fn device_result(&mut self, device: &DeviceId, platform: Platform, result: DeviceResult) {
        if self.config().device_reports {
            self.report.devices.push(DeviceReport {
                device: device.clone(),
                platform,
                result,
            });
        }
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
                publish_id: &self.report.publish_id,
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
