//! The fan-out: looks users' devices up in batches, sends each platform's payload through its
//! gateway with bounded concurrency, retries, removes dead tokens, and counts everything.
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
    Clock, DeadToken, Delivery, DeliveryEvent, DeliveryOutcome, Device, DeviceId, DeviceStore,
    GatewayRouter, InstanceId, Interest, Payload, Platform, PublishConfig, PublishId,
    PublishObserver, PublishReport, PublishRequest, StoreError, Timestamp, UserId,
};

/// What the fan-out works with, borrowed from the engine for one publish.
pub(crate) struct Fanout<'a> {
    pub(crate) store: &'a dyn DeviceStore,
    pub(crate) gateways: &'a GatewayRouter,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) config: &'a PublishConfig,
    pub(crate) observer: Option<&'a dyn PublishObserver>,
    pub(crate) instance: &'a InstanceId,
}

/// What the in-flight futures share: read-only, or atomic.
struct Shared<'a> {
    fanout: &'a Fanout<'a>,
    permits: Semaphore,
    /// Set when a platform's gateway reports a credential/config failure: stop sending there.
    config_failed: [AtomicBool; 3],
}

/// Deliveries to one platform, sent together, with the user of each.
struct Batch {
    platform: Platform,
    deliveries: Vec<Delivery>,
    /// The user of each delivery's device, if it has one (publishes to interests reach
    /// devices without users too).
    users: Vec<Option<UserId>>,
    attempt: u32,
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
        batch: Batch,
        outcomes: Option<Vec<DeliveryOutcome>>,
        sent_at: Timestamp,
    },
    /// Whether the device was removed (`false`: registered again since the verdict).
    Removed(Box<Removal>, Result<bool, StoreError>),
}

type Work<'f> = Pin<Box<dyn Future<Output = Done> + Send + 'f>>;

impl Fanout<'_> {
    /// Delivers `request` as publish `publish_id` and reports what happened.
    pub(crate) async fn run(
        &self,
        publish_id: PublishId,
        request: &PublishRequest,
    ) -> PublishReport {
        let shared = Shared {
            fanout: self,
            permits: Semaphore::new(self.config.max_in_flight.get()),
            config_failed: Default::default(),
        };
        let mut run = Run {
            shared: &shared,
            report: PublishReport::new(
                publish_id.clone(),
                request.users().len(),
                request.interests().len(),
            ),
            payloads: Default::default(),
            breakers: std::array::from_fn(|_| Breaker::new(self.config.breaker)),
            work: FuturesUnordered::new(),
            queued_batches: 0,
            // A deadline too far to represent is no deadline.
            deadline: Instant::now().checked_add(self.config.deadline),
        };
        for platform in Platform::ALL {
            run.prepare(platform, &publish_id, request);
        }

        let max_queued = self.config.max_in_flight.get() * 2;
        let mut lookups = Lookups::new(request, self.config.lookup_batch.get());
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
                    let released = run.breakers[platform.index()].finish();
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
                    batch,
                    outcomes,
                    sent_at,
                } => {
                    run.queued_batches -= 1;
                    run.sent(batch, outcomes, sent_at);
                }
                Done::Removed(removal, result) => run.removed(&removal, result),
            }
        }

        let mut report = run.report;
        for platform in Platform::ALL {
            report.platform_mut(platform).breaker_tripped =
                run.breakers[platform.index()].tripped();
        }
        if let Some(observer) = self.observer {
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
    fn new(request: &'r PublishRequest, batch: usize) -> Self {
        if request.interests().is_empty() {
            Lookups::Users(request.users().chunks(batch))
        } else {
            Lookups::Interests {
                interests: request.interests(),
                // Interest pages count devices, not users: a page is a few users' worth.
                page: batch.saturating_mul(10),
                after: None,
                done: false,
            }
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

    /// Sends `batch`, after `not_before` when it is a retry, holding a permit only while the
    /// gateway works.
    fn send(&'a self, batch: Batch, not_before: Option<Instant>) -> Work<'a> {
        Box::pin(async move {
            if let Some(at) = not_before {
                tokio::time::sleep_until(at).await;
            }
            let _permit = self.permits.acquire().await.ok();
            let sent_at = self.fanout.clock.now();
            if self.config_failed[batch.platform.index()].load(Ordering::Acquire) {
                return Done::Sent {
                    batch,
                    outcomes: None,
                    sent_at,
                };
            }
            let outcomes = match self.fanout.gateways.gateway(batch.platform) {
                Some(gateway) => Some(gateway.send(&batch.deliveries).await),
                None => None,
            };
            Done::Sent {
                batch,
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
    payloads: [Option<Arc<Payload>>; 3],
    breakers: [Breaker<Removal>; 3],
    work: FuturesUnordered<Work<'s>>,
    queued_batches: usize,
    /// When retries must stop; `None` when the configured deadline is beyond reach.
    deadline: Option<Instant>,
}

impl<'s, 'a: 's> Run<'s, 'a> {
    fn config(&self) -> &'a PublishConfig {
        self.shared.fanout.config
    }

    /// Builds the platform's payload once for the whole publish, or records why it is skipped.
    fn prepare(&mut self, platform: Platform, publish_id: &PublishId, request: &PublishRequest) {
        let fanout = self.shared.fanout;
        let skip = match (request.section(platform), fanout.gateways.gateway(platform)) {
            (None, _) => Some(SkipReason::NoSection),
            (Some(_), None) => Some(SkipReason::NoGateway),
            (Some(section), Some(_)) => {
                self.payloads[platform.index()] = Some(Arc::new(Payload {
                    publish_id: publish_id.clone(),
                    instance: fanout.instance.clone(),
                    body: serde_json::Value::Object(section.clone()),
                }));
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
        let mut open: [Option<Batch>; 3] = Default::default();
        for device in devices {
            let platform = device.platform();
            self.report.platform_mut(platform).targeted += 1;
            let Some(payload) = &self.payloads[platform.index()] else {
                self.report.platform_mut(platform).skipped += 1;
                self.device_result(&device.id, platform, DeviceResult::Skipped);
                continue;
            };
            // The device is ours: move its id, token and user into the delivery, no copies.
            let Device {
                id, token, user, ..
            } = device;
            let batch = open[platform.index()].get_or_insert_with(|| Batch {
                platform,
                deliveries: Vec::with_capacity(batch_size),
                users: Vec::with_capacity(batch_size),
                attempt: 1,
            });
            batch.deliveries.push(Delivery {
                device: id,
                token,
                payload: Arc::clone(payload),
            });
            batch.users.push(user);
            if batch.deliveries.len() == batch_size
                && let Some(full) = open[platform.index()].take()
            {
                self.queue(full, None);
            }
        }
        for batch in open.into_iter().flatten() {
            self.queue(batch, None);
        }
    }

    fn queue(&mut self, batch: Batch, not_before: Option<Instant>) {
        self.queued_batches += 1;
        self.work.push(self.shared.send(batch, not_before));
    }

    fn sent(&mut self, batch: Batch, outcomes: Option<Vec<DeliveryOutcome>>, sent_at: Timestamp) {
        let platform = batch.platform;
        let Some(mut outcomes) = outcomes else {
            let reason =
                format!("{platform} credential or configuration failed during this publish");
            for delivery in &batch.deliveries {
                self.fail(&delivery.device, platform, &reason);
            }
            return;
        };
        if outcomes.len() != batch.deliveries.len() {
            tracing::error!(
                %platform,
                deliveries = batch.deliveries.len(),
                outcomes = outcomes.len(),
                "gateway broke its contract: one outcome per delivery"
            );
            outcomes.resize(
                batch.deliveries.len(),
                DeliveryOutcome::Rejected {
                    reason: "the gateway gave no answer for this delivery".into(),
                },
            );
        }

        let mut retry = Batch {
            platform,
            deliveries: Vec::new(),
            users: Vec::new(),
            attempt: batch.attempt + 1,
        };
        let mut retry_after = None;
        for ((delivery, user), outcome) in
            batch.deliveries.into_iter().zip(batch.users).zip(outcomes)
        {
            self.observe(&delivery, &user, batch.attempt, &outcome);
            match outcome {
                DeliveryOutcome::Delivered => {
                    self.report.platform_mut(platform).delivered += 1;
                    self.device_result(&delivery.device, platform, DeviceResult::Delivered);
                    let released = self.breakers[platform.index()].verdict(None);
                    self.release(released);
                }
                DeliveryOutcome::TokenDead { dead_since, .. } => {
                    let removal = Removal {
                        dead: DeadToken {
                            token: delivery.token,
                            sent_at,
                            dead_since,
                        },
                        device: delivery.device,
                        platform,
                    };
                    let released = self.breakers[platform.index()].verdict(Some(removal));
                    self.release(released);
                }
                DeliveryOutcome::Rejected { reason } => {
                    self.report.platform_mut(platform).rejected += 1;
                    self.device_result(&delivery.device, platform, DeviceResult::Rejected(reason));
                    let released = self.breakers[platform.index()].verdict(None);
                    self.release(released);
                }
                DeliveryOutcome::RetryLater {
                    retry_after: after, ..
                } => {
                    retry_after = retry_after.max(after);
                    retry.deliveries.push(delivery);
                    retry.users.push(user);
                }
                DeliveryOutcome::ConfigFailure { reason } => {
                    self.shared.config_failed[platform.index()].store(true, Ordering::Release);
                    let report = self.report.platform_mut(platform);
                    report.config_failure.get_or_insert_with(|| reason.clone());
                    self.fail(&delivery.device, platform, &reason);
                }
            }
        }
        if !retry.deliveries.is_empty() {
            self.schedule_retry(retry, retry_after);
        }
    }

    fn schedule_retry(&mut self, retry: Batch, retry_after: Option<std::time::Duration>) {
        let platform = retry.platform;
        let policy = self.config().retry;
        let give_up = |run: &mut Self, retry: Batch, why: &str| {
            for delivery in &retry.deliveries {
                run.fail(&delivery.device, platform, why);
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
        self.report.platform_mut(platform).retried += retry.deliveries.len();
        tracing::debug!(%platform, deliveries = retry.deliveries.len(), ?delay, attempt = retry.attempt, "retrying");
        self.queue(retry, Some(at));
    }

    fn release(&mut self, released: Released<Removal>) {
        for kept in released.keep {
            self.report.platform_mut(kept.platform).dead_kept += 1;
            self.device_result(&kept.device, kept.platform, DeviceResult::DeadKept);
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
            Ok(false) => {
                // Registered again after the send: the verdict is stale.
                self.report.platform_mut(platform).dead_kept += 1;
                self.device_result(&removal.device, platform, DeviceResult::DeadKept);
            }
            Err(err) => {
                tracing::warn!(error = %err, device = %removal.device, "could not remove a dead token's device");
                self.report.platform_mut(platform).dead_kept += 1;
                self.device_result(&removal.device, platform, DeviceResult::DeadKept);
            }
        }
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
        delivery: &Delivery,
        user: &Option<UserId>,
        attempt: u32,
        outcome: &DeliveryOutcome,
    ) {
        if let Some(observer) = self.shared.fanout.observer {
            observer.delivery(&DeliveryEvent {
                publish_id: &self.report.publish_id,
                user: user.as_ref(),
                device: &delivery.device,
                platform: delivery.token.platform(),
                attempt,
                outcome,
            });
        }
    }
}

/// A random number in `[0, 1)` for backoff jitter; needs no quality beyond spreading retries.
fn jitter() -> f64 {
    (Uuid::new_v4().as_u128() >> 75) as f64 / (1_u64 << 53) as f64
}
