//! `Publication`: one validated publish, with its id known before delivery starts.

use std::fmt;
use std::sync::Arc;

use tracing::Instrument;

use super::accepting::encode_report;
use super::fanout::{Checkpoints, Fanout, Resume};
use super::progress::Progress;
use crate::{
    Payload, PerPlatform, Platform, PublishId, PublishReport, PublishRequest, PublishTarget, Rule,
    ValidationError,
};

/// A publish that has been accepted and given its id, ready to be delivered.
///
/// A server answers `{"publishId": …}` at once and delivers in the background:
///
/// ```
/// use beams_core::{Beams, InstanceId, MemoryDeviceStore, PublishRequest, SecretKey};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let beams = Beams::builder(InstanceId::new("i")?, SecretKey::new("k")?, MemoryDeviceStore::new())
///     .build();
/// let request = PublishRequest::from_json(br#"{"users": ["alice"], "fcm": {"notification": {"title": "Hi"}}}"#)?;
/// let publication = beams.publication(request)?;
/// let publish_id = publication.id().clone(); // answer this now
/// let report = publication.deliver().await;   // e.g. inside tokio::spawn
/// assert_eq!(report.publish_id, publish_id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Publication {
    pub(crate) id: PublishId,
    pub(crate) request: PublishRequest,
    /// Each platform's payload, built once; `None` for a platform without a section.
    pub(crate) payloads: PerPlatform<Option<Arc<Payload>>>,
    pub(crate) fanout: Arc<Fanout>,
    /// Whether the engine's journal holds it: delivery checkpoints there and finishes it.
    pub(crate) journaled: bool,
    /// The lease owner it is delivered as.
    pub(crate) owner: String,
    /// Where a resumed publish starts.
    pub(crate) resume: Option<Progress>,
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("id", &self.id)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl Publication {
    /// Builds and checks every platform's payload of `request` as publish `id`.
    pub(crate) fn new(
        id: PublishId,
        request: PublishRequest,
        fanout: Arc<Fanout>,
    ) -> Result<Self, ValidationError> {
        let mut payloads = PerPlatform::default();
        for platform in Platform::ALL {
            let Some(section) = request.section(platform) else {
                continue;
            };
            let payload = Payload::for_publish(platform, &fanout.instance, &id, section)?;
            if let Some(gateway) = fanout.gateways.get(platform) {
                gateway.check(&payload).map_err(|reason| {
                    ValidationError::new(platform.as_str(), Rule::Unsendable { reason })
                })?;
            }
            payloads[platform] = Some(Arc::new(payload));
        }
        Ok(Publication {
            id,
            request,
            payloads,
            fanout,
            journaled: false,
            owner: String::new(),
            resume: None,
        })
    }

    /// The payload sent to `platform`'s devices, with the `pusher` data added; `None` when the
    /// request has no section for it.
    pub fn payload(&self, platform: Platform) -> Option<&Payload> {
        self.payloads[platform].as_deref()
    }

    /// The publish id, `pubid-…`.
    pub fn id(&self) -> &PublishId {
        &self.id
    }

    /// The request being published.
    pub fn request(&self) -> &PublishRequest {
        &self.request
    }

    /// Delivers to every device of the request's users (or subscribed to its interests, each
    /// device once) and reports what happened. Never fails as a whole: what went wrong is
    /// counted in the report.
    pub async fn deliver(self) -> PublishReport {
        let target = self.request.target();
        let span = tracing::info_span!(
            "publish",
            publish_id = %self.id,
            users = matches!(target, PublishTarget::Users(_)).then(|| target.count()),
            interests = matches!(target, PublishTarget::Interests(_)).then(|| target.count()),
        );
        let fanout = Arc::clone(&self.fanout);
        let config = &fanout.journal_config;
        let owner = self.owner;
        let checkpoints = self.journaled.then(|| Checkpoints {
            journal: &*fanout.journal,
            owner: &owner,
            lease: config.lease(),
        });
        let resume = Resume {
            progress: self.resume,
        };
        let ended = fanout
            .run(
                self.id.clone(),
                &self.request,
                self.payloads,
                resume,
                checkpoints,
            )
            .instrument(span.clone())
            .await;
        let report = ended.report;
        if self.journaled && !ended.lease_lost {
            let finished = fanout
                .journal
                .finish(
                    &self.id,
                    &owner,
                    &encode_report(&report),
                    fanout.clock.now(),
                )
                .await;
            match finished {
                Ok(true) => {}
                Ok(false) => span.in_scope(|| {
                    tracing::warn!("another node took this publish over before it finished here")
                }),
                Err(err) => span.in_scope(|| {
                    tracing::warn!(error = %err, "could not record the publish as finished; it will be delivered again")
                }),
            }
        }
        span.in_scope(|| {
            tracing::info!(
                devices = report.devices_targeted,
                users_not_looked_up = report.users_not_looked_up,
                "publish finished"
            );
        });
        report
    }
}
