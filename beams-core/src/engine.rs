//! `Beams`: the engine a server calls for the device lifecycle of Authenticated Users.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::publish::fanout::Fanout;
use crate::{
    AssociationOutcome, AssociationPolicy, AssociationRefusal, AssociationRequest, Clock,
    DeadToken, Device, DeviceId, DeviceMetadata, DeviceRegistration, DeviceStore, EndpointRules,
    Gateways, InstanceId, Interest, InterestChange, IssuedToken, JournalConfig,
    MemoryPublishJournal, Platform, Publication, PublishConfig, PublishId, PublishJournal,
    PublishObserver, PublishReport, PublishRequest, PushGateway, PushToken, RegistrationOutcome,
    RegistrationRefusal, Rule, SecretKey, StoreError, SystemClock, TokenError, TokenIssuer,
    TokenVerifier, UserId, ValidationError,
};

/// The browsers' push services, a ready value for [`BeamsBuilder::web_push_hosts`]:
/// `fcm.googleapis.com` (Chrome, Edge, Opera), `updates.push.services.mozilla.com` (Firefox),
/// `web.push.apple.com` (Safari) and `notify.windows.com` (Edge's older endpoints).
pub const WELL_KNOWN_WEB_PUSH_HOSTS: [&str; 4] = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    "notify.windows.com",
];

/// Interests read per store call when answering all of a device's: a device has at most
/// this many under the default limit, so usually one call.
const INTEREST_PAGE: usize = crate::DEFAULT_MAX_INTERESTS_PER_DEVICE;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeamsError {
    /// Input broke a rule; the error names the field and the rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The Beams Token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No device has this id.
    #[error("could not find device {device}")]
    DeviceNotFound {
        /// The id asked for.
        device: DeviceId,
    },
    /// The device is associated with a different user; it must be disassociated (stopped)
    /// first. The other user is not named, so the message is safe to show the caller.
    #[error("a user id is already associated with device {device}")]
    UserMismatch {
        /// The device.
        device: DeviceId,
    },
    /// The user has the most devices allowed on the platform and the policy refuses more.
    #[error("user already has reached the maximum of {limit} devices on {platform}")]
    DeviceLimitReached {
        /// The limit in force.
        limit: usize,
        /// The platform that is full.
        platform: Platform,
    },
    /// A device already has the push token, and a registration may not renew it (see
    /// [`check_renewal`](crate::check_renewal)); nothing changed.
    #[error("{}", match refusal {
        RegistrationRefusal::OtherKeys => "this Web Push endpoint is registered with other keys",
        RegistrationRefusal::SignedInDevice => "this token belongs to a device with a user",
    })]
    RegistrationRefused {
        /// Why.
        refusal: RegistrationRefusal,
    },
    /// The device would have more interests than allowed.
    #[error("interest set too large: at most {max} interests per device")]
    TooManyInterests {
        /// The limit in force.
        max: usize,
    },
    /// The device store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The publish journal holds as many unfinished publishes as allowed; nothing was
    /// accepted. Try again after `retry_after`.
    #[error("too many publishes still delivering ({unfinished}); try again later")]
    Busy {
        /// How many publishes are unfinished.
        unfinished: usize,
        /// A fair wait before trying again.
        retry_after: Duration,
    },
}

/// What [`Beams::associate_device`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The user the device now belongs to (the token's `sub`).
    pub user: UserId,
    /// The user's devices disassociated to stay within the limit, oldest first.
    pub evicted: Vec<DeviceId>,
    /// Whether the device already belonged to the user (then nothing changed).
    pub unchanged: bool,
}

/// The engine: register devices, associate them with users on presentation of a Beams Token,
/// stop devices, delete users, and clean up dead tokens, over any [`DeviceStore`].
///
/// ```
/// use beams_core::{Beams, DeviceMetadata, InstanceId, MemoryDeviceStore, Platform, SecretKey, UserId};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let beams = Beams::builder(
///     InstanceId::new("00000000-0000-0000-0000-000000000000")?,
///     SecretKey::new("SECRETKEY")?,
///     MemoryDeviceStore::new(),
/// )
/// .build();
///
/// let device = beams
///     .register_device(Platform::Fcm, "fcm-registration-token", DeviceMetadata::default())
///     .await?;
/// let alice = UserId::new("alice")?;
/// let token = beams.issue_token(&alice)?;
/// let association = beams.associate_device(&device.id, &token.token).await?;
/// assert_eq!(association.user, alice);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Beams {
    instance: InstanceId,
    secret: SecretKey,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    store: Arc<dyn DeviceStore>,
    policy: AssociationPolicy,
    endpoint_rules: EndpointRules,
    web_push_hosts: Option<Arc<[String]>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// What publishes fan out with; shared by every [`Publication`].
    pub(crate) fanout: Arc<Fanout>,
    max_interests: usize,
}

/// Configures a [`Beams`] engine.
#[derive(Debug)]
pub struct BeamsBuilder {
    instance: InstanceId,
    secret: SecretKey,
    store: Arc<dyn DeviceStore>,
    policy: AssociationPolicy,
    endpoint_rules: EndpointRules,
    web_push_hosts: Option<Arc<[String]>>,
    clock: Arc<dyn Clock>,
    token_lifetime: Duration,
    token_leeway: Duration,
    gateways: Gateways,
    publish_config: PublishConfig,
    observer: Option<Arc<dyn PublishObserver>>,
    max_interests: usize,
    journal: Arc<dyn PublishJournal>,
    journal_config: JournalConfig,
}

impl BeamsBuilder {
    /// Where accepted publishes are kept until delivered ([`Beams::accept`]): a store's
    /// journal makes an accepted publish survive a crash, and lets any node sharing it finish
    /// it. The default keeps them in memory: delivered while the process lives.
    pub fn journal(mut self, journal: Arc<dyn PublishJournal>, config: JournalConfig) -> Self {
        self.journal = journal;
        self.journal_config = config;
        self
    }

    /// The most interests one device may have (default 5000, as Beams).
    pub fn max_interests_per_device(mut self, max: usize) -> Self {
        self.max_interests = max;
        self
    }

    /// The per-user device limit and what happens at it (default: 100, evict the oldest).
    pub fn policy(mut self, policy: AssociationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which Web Push endpoints registrations may use (default: https on public hosts).
    pub fn endpoint_rules(mut self, rules: EndpointRules) -> Self {
        self.endpoint_rules = rules;
        self
    }

    /// Accepts Web Push endpoints only on these push-service hosts and their subdomains
    /// (default: any public host). [`WELL_KNOWN_WEB_PUSH_HOSTS`] lists the browsers' services.
    ///
    /// ```
    /// use beams_core::{Beams, InstanceId, MemoryDeviceStore, SecretKey, WELL_KNOWN_WEB_PUSH_HOSTS};
    ///
    /// let beams = Beams::builder(InstanceId::new("i")?, SecretKey::new("k")?, MemoryDeviceStore::new())
    ///     .web_push_hosts(WELL_KNOWN_WEB_PUSH_HOSTS)
    ///     .build();
    /// # let _ = beams;
    /// # Ok::<(), beams_core::ValidationError>(())
    /// ```
    pub fn web_push_hosts<H: Into<String>>(mut self, hosts: impl IntoIterator<Item = H>) -> Self {
        let hosts: Vec<String> = hosts
            .into_iter()
            .map(|host| host.into().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        self.web_push_hosts = Some(hosts.into());
        self
    }

    /// Where "now" comes from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long issued Beams Tokens live (default: 24 hours).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How far clocks may disagree when checking `exp` and `iat` (default: 30 seconds).
    pub fn token_leeway(mut self, leeway: Duration) -> Self {
        self.token_leeway = leeway;
        self
    }

    /// Sends `platform`'s notifications through `gateway`. A platform with no gateway is
    /// skipped when publishing (and counted), not an error.
    pub fn gateway(mut self, platform: Platform, gateway: Arc<dyn PushGateway>) -> Self {
        self.gateways = self.gateways.with(platform, gateway);
        self
    }

    /// Sets every platform's gateway at once.
    pub fn gateways(mut self, gateways: Gateways) -> Self {
        self.gateways = gateways;
        self
    }

    /// How publishes fan out, retry and give up (default: [`PublishConfig::default`]).
    pub fn publish_config(mut self, config: PublishConfig) -> Self {
        self.publish_config = config;
        self
    }

    /// Receives every delivery's outcome as publishes run, for webhooks and metrics.
    pub fn publish_observer(mut self, observer: Arc<dyn PublishObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the engine.
    pub fn build(self) -> Beams {
        let issuer = TokenIssuer::new(&self.instance, &self.secret)
            .with_lifetime(self.token_lifetime)
            .with_clock(self.clock.clone());
        let verifier = TokenVerifier::new(&self.instance, &self.secret)
            .with_leeway(self.token_leeway)
            .with_clock(self.clock.clone());
        let fanout = Fanout {
            store: Arc::clone(&self.store),
            gateways: self.gateways,
            clock: Arc::clone(&self.clock),
            config: self.publish_config,
            observer: self.observer,
            instance: self.instance.clone(),
            journal: self.journal,
            journal_config: self.journal_config,
        };
        Beams {
            instance: self.instance,
            secret: self.secret,
            issuer,
            verifier,
            store: self.store,
            policy: self.policy,
            endpoint_rules: self.endpoint_rules,
            web_push_hosts: self.web_push_hosts,
            clock: self.clock,
            fanout: Arc::new(fanout),
            max_interests: self.max_interests,
        }
    }
}

impl Beams {
    /// Starts configuring an engine for one instance over `store`.
    pub fn builder(
        instance: InstanceId,
        secret: SecretKey,
        store: impl DeviceStore + 'static,
    ) -> BeamsBuilder {
        BeamsBuilder {
            instance,
            secret,
            store: Arc::new(store),
            policy: AssociationPolicy::default(),
            endpoint_rules: EndpointRules::default(),
            web_push_hosts: None,
            clock: Arc::new(SystemClock),
            token_lifetime: crate::token::DEFAULT_TOKEN_LIFETIME,
            token_leeway: crate::token::DEFAULT_LEEWAY,
            gateways: Gateways::new(),
            publish_config: PublishConfig::default(),
            observer: None,
            max_interests: crate::DEFAULT_MAX_INTERESTS_PER_DEVICE,
            journal: Arc::new(MemoryPublishJournal::new()),
            journal_config: JournalConfig::default(),
        }
    }

    /// The instance this engine serves.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance
    }

    /// The instance secret key, to authenticate publish and customer API calls with
    /// [`SecretKey::matches`].
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The store devices are kept in.
    pub fn store(&self) -> &Arc<dyn DeviceStore> {
        &self.store
    }

    /// The association policy in force.
    pub fn policy(&self) -> AssociationPolicy {
        self.policy
    }

    /// The verifier the engine checks Beams Tokens with.
    pub fn token_verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// Issues a Beams Token for `user`, for a customer's auth endpoint to hand to the client.
    pub fn issue_token(&self, user: &UserId) -> Result<IssuedToken, BeamsError> {
        Ok(self.issuer.issue(user)?)
    }

    /// Registers a device from the token its client SDK sent for `platform`. A token already
    /// known on the platform renews its device when [`check_renewal`](crate::check_renewal)
    /// allows: the same id, user and interests, the new metadata; otherwise
    /// [`BeamsError::RegistrationRefused`]. A Web Push endpoint must be on a public host (see
    /// [`EndpointRules`]) and, when [`BeamsBuilder::web_push_hosts`] is set, on one of those.
    pub async fn register_device(
        &self,
        platform: Platform,
        raw_token: &str,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        let token = PushToken::parse(platform, raw_token, self.endpoint_rules)?;
        self.check_web_push_host(&token)?;
        self.register_token(token, metadata).await
    }

    /// Registers a device from an already validated push token.
    pub async fn register_token(
        &self,
        token: PushToken,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        let registration = DeviceRegistration {
            id: DeviceId::generate(token.platform()),
            token,
            metadata,
            at: self.clock.now(),
        };
        match self.store.register_device(registration).await? {
            RegistrationOutcome::Registered(device) | RegistrationOutcome::Renewed(device) => {
                Ok(device)
            }
            RegistrationOutcome::Refused(refusal) => {
                Err(BeamsError::RegistrationRefused { refusal })
            }
        }
    }

    /// The device with this id.
    pub async fn device(&self, id: &DeviceId) -> Result<Device, BeamsError> {
        self.store
            .device(id)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Replaces a device's metadata (the client SDK's `PUT …/metadata`).
    pub async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        self.store
            .update_metadata(id, metadata)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Gives an FCM device the new token its client SDK reports (the Android SDK's token
    /// refresh), keeping its id and user. Only FCM devices are refreshed, as the SDKs do: the
    /// others register again, and a refresh would let whoever holds a device's id move its
    /// notifications to a token of theirs.
    pub async fn refresh_token(
        &self,
        id: &DeviceId,
        raw_token: &str,
    ) -> Result<Device, BeamsError> {
        if id.platform() != Platform::Fcm {
            return Err(BeamsError::Invalid(ValidationError::new(
                "platform",
                Rule::Format {
                    expected: "fcm: only FCM tokens are refreshed",
                },
            )));
        }
        let token = PushToken::parse(id.platform(), raw_token, self.endpoint_rules)?;
        self.store
            .update_token(id, token, self.clock.now())
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Refuses a Web Push endpoint outside the configured push-service hosts.
    fn check_web_push_host(&self, token: &PushToken) -> Result<(), ValidationError> {
        let (Some(hosts), PushToken::Web(subscription)) = (&self.web_push_hosts, token) else {
            return Ok(());
        };
        let host = subscription
            .endpoint_host()
            .trim_end_matches('.')
            .as_bytes();
        // The host itself, or a name under it: `fcm.googleapis.com` allows
        // `x.fcm.googleapis.com`, never `evilfcm.googleapis.com`.
        let allowed = hosts
            .iter()
            .map(|allowed| allowed.as_bytes())
            .any(|allowed| {
                host.eq_ignore_ascii_case(allowed)
                    || host.len() > allowed.len()
                        && host[host.len() - allowed.len() - 1] == b'.'
                        && host[host.len() - allowed.len()..].eq_ignore_ascii_case(allowed)
            });
        if allowed {
            Ok(())
        } else {
            Err(ValidationError::new("endpoint", Rule::HostNotAllowed))
        }
    }

    /// Associates a device with the user named by a Beams Token's `sub`, after verifying it.
    ///
    /// At the limit, the policy evicts the user's oldest device on the platform or refuses;
    /// a device of another user is refused until it is stopped.
    pub async fn associate_device(
        &self,
        device: &DeviceId,
        beams_token: &str,
    ) -> Result<Association, BeamsError> {
        let verified = self.verifier.verify(beams_token)?;
        let request = AssociationRequest {
            device: device.clone(),
            user: verified.user,
            policy: self.policy,
            at: self.clock.now(),
        };
        let outcome = self.store.associate(&request).await?;
        match outcome.ok_or_else(|| BeamsError::DeviceNotFound {
            device: request.device.clone(),
        })? {
            AssociationOutcome::Associated { evicted } => Ok(Association {
                user: request.user,
                evicted,
                unchanged: false,
            }),
            AssociationOutcome::AlreadyAssociated => Ok(Association {
                user: request.user,
                evicted: Vec::new(),
                unchanged: true,
            }),
            AssociationOutcome::Refused(refusal) => Err(match refusal {
                AssociationRefusal::UserMismatch => BeamsError::UserMismatch {
                    device: request.device,
                },
                AssociationRefusal::DeviceLimitReached { limit } => {
                    BeamsError::DeviceLimitReached {
                        limit,
                        platform: device.platform(),
                    }
                }
            }),
        }
    }

    /// Deletes a device, as the client SDK's `stop()` (logout) asks. Returns what was deleted.
    pub async fn stop_device(&self, id: &DeviceId) -> Result<Device, BeamsError> {
        self.store
            .remove_device(id)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Deletes every device of `user` on every platform, for account deletion. An unknown user
    /// has nothing to delete and is not an error.
    pub async fn delete_user(&self, user: &UserId) -> Result<Vec<Device>, BeamsError> {
        Ok(self.store.remove_user(user).await?)
    }

    /// Applies a push service's dead-token verdict: deletes the device that has the token,
    /// unless the token was registered again after the verdict's [cutoff](DeadToken::cutoff).
    /// Returns the deleted device, if one was.
    pub async fn remove_dead_token(&self, dead: &DeadToken) -> Result<Option<Device>, BeamsError> {
        Ok(self
            .store
            .remove_device_by_token(&dead.token, dead.cutoff())
            .await?)
    }

    /// Replaces a device's interests (the client SDK's `PUT …/interests`); repeats collapse.
    pub async fn set_device_interests(
        &self,
        id: &DeviceId,
        interests: Vec<Interest>,
    ) -> Result<Vec<Interest>, BeamsError> {
        let set: BTreeSet<Interest> = interests.into_iter().collect();
        if set.len() > self.max_interests {
            return Err(BeamsError::TooManyInterests {
                max: self.max_interests,
            });
        }
        self.store
            .set_interests(id, &set)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })?;
        Ok(set.into_iter().collect())
    }

    /// Subscribes a device to an interest; `false` if it was subscribed already.
    pub async fn add_device_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<bool, BeamsError> {
        let change = self
            .store
            .add_interest(id, interest, self.max_interests)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })?;
        match change {
            InterestChange::Added => Ok(true),
            InterestChange::AlreadySubscribed => Ok(false),
            InterestChange::TooMany { max } => Err(BeamsError::TooManyInterests { max }),
        }
    }

    /// Unsubscribes a device from an interest; `false` if it was not subscribed.
    pub async fn remove_device_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<bool, BeamsError> {
        self.store
            .remove_interest(id, interest)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// The interests a registration answers as `initialInterestSet`, by the rule of
    /// [`check_renewal`](crate::check_renewal): an APNs device's interests in name order, since
    /// the iOS SDK replaces its own with them at every launch (a new device has none); nothing
    /// for FCM and Web Push, whose SDKs have no use for them, so that a caller holding only
    /// such a token learns nothing of the device.
    pub async fn initial_interest_set(&self, device: &Device) -> Result<Vec<Interest>, BeamsError> {
        if device.id.platform() != Platform::Apns {
            return Ok(Vec::new());
        }
        let mut interests = Vec::new();
        loop {
            let page = self
                .interests_of_device(&device.id, interests.last(), INTEREST_PAGE)
                .await?;
            let full = page.len() == INTEREST_PAGE;
            interests.extend(page);
            if !full {
                return Ok(interests);
            }
        }
    }

    /// A page of a device's interests in name order, after `after`, at most `limit`.
    pub async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Vec<Interest>, BeamsError> {
        self.store
            .interests_of_device(id, after, limit)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Accepts a publish (to users or interests): gives it its id, checks it has a platform
    /// section, and builds each platform's payload once — the section with the `pusher` data
    /// the client SDKs read added — checked by that platform's gateway
    /// ([`PushGateway::check`](crate::PushGateway::check)), so a payload the push service
    /// would refuse (an FCM `data` value that is not a string, an APNs payload over 4096 bytes,
    /// …) is refused here, naming the field. Nothing is sent until [`Publication::deliver`].
    pub fn publication(&self, request: PublishRequest) -> Result<Publication, BeamsError> {
        request.check_has_section()?;
        Ok(Publication::new(
            PublishId::generate(),
            request,
            Arc::clone(&self.fanout),
        )?)
    }

    /// Publishes and waits for the delivery to finish: to every device of the request's users,
    /// or to every device subscribed to any of its interests (each device once); each
    /// platform's payload built once, retries with backoff, dead tokens removed.
    pub async fn publish(&self, request: PublishRequest) -> Result<PublishReport, BeamsError> {
        Ok(self.publication(request)?.deliver().await)
    }

    /// The gateways publishes go through.
    pub fn gateways(&self) -> &Gateways {
        &self.fanout.gateways
    }
}
